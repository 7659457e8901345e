//! A small concurrent map from topic name to per-topic state.

use std::collections::HashMap;
use std::sync::{OnceLock, PoisonError, RwLock};

/// Topics held in the lock-free table; more go to the locked map.
const FAST_SLOTS: usize = 64;

/// Per-topic state for the built-in partitioners, created on a topic's
/// first record and kept for the partitioner's lifetime (as Kafka's
/// partitioners keep theirs): one entry per distinct topic, which the
/// broker bounds.
///
/// A partitioner runs for every record, so the first [`FAST_SLOTS`] topics
/// live in a fixed open-addressing table of write-once slots: a lookup is
/// a hash, a load and a name comparison, with no lock and no atomic
/// read-modify-write (which costs more than the rest of the lookup when
/// the caller has just written a record's bytes). Slots are filled once
/// and never cleared, so a probe that reaches an empty slot has proved the
/// topic absent from the table. Topics beyond the table go to a map behind
/// a read-write lock.
#[derive(Debug)]
pub(crate) struct TopicMap<T> {
    fast: [OnceLock<(Box<str>, T)>; FAST_SLOTS],
    overflow: RwLock<HashMap<String, T>>,
}

impl<T> TopicMap<T> {
    pub(crate) fn new() -> Self {
        TopicMap { fast: std::array::from_fn(|_| OnceLock::new()), overflow: RwLock::new(HashMap::new()) }
    }

    /// Runs `f` on `topic`'s state, creating it with `init` first if the
    /// topic is new.
    pub(crate) fn with<R>(&self, topic: &str, init: impl FnOnce() -> T, f: impl FnOnce(&T) -> R) -> R {
        let mut init = Some(init);
        let start = fnv1a(topic.as_bytes()) as usize % FAST_SLOTS;
        for probe in 0..FAST_SLOTS {
            let slot = &self.fast[(start + probe) % FAST_SLOTS];
            let (name, state) = match slot.get() {
                Some(entry) => entry,
                // Claim the empty slot; another thread may claim it first,
                // for this topic or another.
                None => slot.get_or_init(|| {
                    let init = init.take().expect("init runs at most once: only one slot is ever claimed");
                    (topic.into(), init())
                }),
            };
            if **name == *topic {
                return f(state);
            }
        }
        // A panic elsewhere cannot leave the map half-updated (an insert is
        // the only write), so a poisoned lock is still a good map.
        {
            let map = self.overflow.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(state) = map.get(topic) {
                return f(state);
            }
        }
        let mut map = self.overflow.write().unwrap_or_else(PoisonError::into_inner);
        // Another thread may have inserted it between the two locks.
        let init = init.take().expect("the table was full, so init did not run");
        let state = map.entry(topic.to_owned()).or_insert_with(init);
        f(state)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        let fast = self.fast.iter().filter(|slot| slot.get().is_some()).count();
        fast + self.overflow.read().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// FNV-1a: a few cycles for a topic name, and spreads them well enough for
/// a 64-slot table.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn creates_state_once_per_topic() {
        let map = TopicMap::new();
        let created = AtomicU32::new(0);
        for topic in ["a", "b", "a", "a", "b"] {
            map.with(
                topic,
                || {
                    created.fetch_add(1, Ordering::Relaxed);
                    AtomicU32::new(0)
                },
                |count| count.fetch_add(1, Ordering::Relaxed),
            );
        }
        assert_eq!(created.load(Ordering::Relaxed), 2);
        assert_eq!(map.len(), 2);
        assert_eq!(map.with("a", || unreachable!(), |count| count.load(Ordering::Relaxed)), 3);
        assert_eq!(map.with("b", || unreachable!(), |count| count.load(Ordering::Relaxed)), 2);
    }

    #[test]
    fn topics_past_the_table_go_to_the_overflow_map() {
        let map = TopicMap::new();
        let topics: Vec<String> = (0..3 * FAST_SLOTS).map(|i| format!("topic-{i}")).collect();
        for (i, topic) in topics.iter().enumerate() {
            map.with(topic, || i, |_| ());
        }
        assert_eq!(map.len(), topics.len());
        for (i, topic) in topics.iter().enumerate() {
            assert_eq!(map.with(topic, || unreachable!(), |state| *state), i, "{topic}");
        }
    }

    #[test]
    fn threads_racing_for_new_topics_agree_on_one_state_each() {
        let map = TopicMap::new();
        let created = AtomicU32::new(0);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for i in 0..2 * FAST_SLOTS {
                        let topic = format!("t{i}");
                        map.with(
                            &topic,
                            || {
                                created.fetch_add(1, Ordering::Relaxed);
                                AtomicU32::new(0)
                            },
                            |count| count.fetch_add(1, Ordering::Relaxed),
                        );
                    }
                });
            }
        });
        assert_eq!(created.load(Ordering::Relaxed) as usize, 2 * FAST_SLOTS, "one state per topic");
        for i in 0..2 * FAST_SLOTS {
            assert_eq!(map.with(&format!("t{i}"), || unreachable!(), |count| count.load(Ordering::Relaxed)), 4);
        }
    }
}
