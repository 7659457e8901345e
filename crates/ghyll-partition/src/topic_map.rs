//! A small concurrent map from topic name to per-topic partitioner state.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

/// Per-topic state for the built-in partitioners, created on a topic's
/// first record and kept for the partitioner's lifetime (as Kafka's
/// partitioners keep theirs): one entry per distinct topic, which the
/// broker bounds.
///
/// Lookups of a known topic take the read lock only, so threads sending to
/// topics already seen never wait for each other here; the state itself
/// (an atomic, a mutex) handles their concurrency.
#[derive(Debug)]
pub(crate) struct TopicMap<T> {
    map: RwLock<HashMap<String, T>>,
}

impl<T> TopicMap<T> {
    pub(crate) fn new() -> Self {
        TopicMap { map: RwLock::new(HashMap::new()) }
    }

    /// Runs `f` on `topic`'s state, creating it with `init` first if the
    /// topic is new.
    pub(crate) fn with<R>(&self, topic: &str, init: impl FnOnce() -> T, f: impl FnOnce(&T) -> R) -> R {
        // A panic elsewhere cannot leave the map half-updated (an insert is
        // the only write), so a poisoned lock is still a good map.
        {
            let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(state) = map.get(topic) {
                return f(state);
            }
        }
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        // Another thread may have inserted it between the two locks.
        let state = map.entry(topic.to_owned()).or_insert_with(init);
        f(state)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.read().unwrap_or_else(PoisonError::into_inner).len()
    }
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
}
