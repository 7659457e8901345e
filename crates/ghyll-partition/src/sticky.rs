//! [`Sticky`]: keyless records fill one partition's batch before moving on.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::{Mutex, PoisonError};

use crate::context::PartitionContext;
use crate::murmur2::partition_for_key;
use crate::partitioner::Partitioner;
use crate::topic_map::TopicMap;

/// Keyless records stick to one partition per topic until about a batch of
/// bytes has gone there, then move to another: Kafka's sticky partitioning
/// (KIP-480, the default for keyless records since Kafka 2.4, and KIP-794's
/// built-in partitioner since 3.3). Keyed records are hashed exactly as
/// [`KeyHash`](crate::KeyHash) does and do not count towards the batch.
///
/// # How a partition is chosen
/// Each topic remembers its current partition and the bytes placed on it
/// ([`PartitionContext::record_size_bytes`], at least 1 per record, so even
/// empty records move the partition on). A record goes to the current
/// partition while fewer than `batch_bytes` bytes have gone there; the
/// record that reaches `batch_bytes` is the last one, as in KIP-794, which
/// switches after `batch.size` bytes. The current partition is also
/// dropped at once if it is no longer in a non-empty `available_partitions`
/// or is beyond the partition count.
///
/// The next partition is drawn uniformly from the available partitions (all
/// partitions when `available_partitions` is empty) other than the one just
/// left, so the same partition never gets two batches in a row when another
/// is available. KIP-794 also weighs the draw by each partition's queued
/// bytes (adaptive partitioning); ghyll's draw is uniform. The draws come
/// from a small xorshift generator per topic, seeded from the instance's
/// seed and the topic name: [`Sticky::with_seed`] makes the sequence
/// reproducible, [`Sticky::new`] takes a random seed so that separate
/// instances spread differently.
///
/// All of a topic's state sits behind one short critical section, so the
/// byte accounting is exact under any number of threads.
///
/// # Examples
/// ```
/// use ghyll_partition::{PartitionContext, Partitioner, Sticky};
/// let sticky = Sticky::new(100);
/// let ctx = PartitionContext::new("events", None, Some([7u8; 10].as_slice()), &[], 4);
/// let partitions: Vec<u32> = (0..11).map(|_| sticky.partition(&ctx)).collect();
/// // Ten 10-byte records fill the 100-byte batch; the eleventh moves on.
/// assert!(partitions[..10].iter().all(|&p| p == partitions[0]));
/// assert_ne!(partitions[10], partitions[0]);
/// ```
#[derive(Debug)]
pub struct Sticky {
    batch_bytes: usize,
    seed: u64,
    topics: TopicMap<Mutex<TopicState>>,
}

impl Sticky {
    /// Kafka's `batch.size` default: 16384 bytes.
    pub const BATCH_BYTES_DEFAULT: usize = 16_384;

    /// A sticky partitioner that moves on after `batch_bytes` bytes per
    /// partition (0 moves on after every record), with a random seed.
    #[must_use]
    pub fn new(batch_bytes: usize) -> Self {
        // RandomState's keys are random per process and differ per instance:
        // a seed without a dependency or a global RNG.
        Sticky::with_seed(batch_bytes, RandomState::new().hash_one("ghyll-partition sticky"))
    }

    /// A sticky partitioner whose partition choices are a function of `seed`
    /// and the sequence of records, for reproducible tests and simulations.
    #[must_use]
    pub fn with_seed(batch_bytes: usize, seed: u64) -> Self {
        Sticky { batch_bytes, seed, topics: TopicMap::new() }
    }

    /// The bytes placed on a partition before moving on.
    #[must_use]
    pub fn batch_bytes(&self) -> usize {
        self.batch_bytes
    }
}

impl Default for Sticky {
    /// A sticky partitioner with Kafka's default `batch.size`,
    /// [`Sticky::BATCH_BYTES_DEFAULT`].
    fn default() -> Self {
        Sticky::new(Sticky::BATCH_BYTES_DEFAULT)
    }
}

impl Partitioner for Sticky {
    fn partition(&self, ctx: &PartitionContext<'_>) -> u32 {
        if let Some(key) = ctx.key {
            // max(1): see RoundRobin; a 0 count yields 0, out of range.
            return partition_for_key(key, ctx.partition_count.max(1));
        }
        let record_bytes = ctx.record_size_bytes().max(1);
        self.topics.with(
            ctx.topic,
            || Mutex::new(TopicState::new(self.seed, ctx.topic)),
            |state| {
                // Every update below leaves the state consistent, so a
                // poisoned lock still holds good state.
                let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
                state.place(record_bytes, self.batch_bytes, ctx)
            },
        )
    }

    fn name(&self) -> &str {
        "sticky"
    }
}

/// One topic's sticky state.
#[derive(Debug)]
struct TopicState {
    /// The partition keyless records go to; `None` before the first.
    current: Option<u32>,
    /// Bytes placed on `current` since it was chosen.
    placed_bytes: usize,
    rng: XorShift64Star,
}

impl TopicState {
    fn new(seed: u64, topic: &str) -> Self {
        TopicState { current: None, placed_bytes: 0, rng: XorShift64Star::new(seed ^ fnv1a(topic.as_bytes())) }
    }

    /// The partition for a keyless record of `record_bytes` bytes.
    fn place(&mut self, record_bytes: usize, batch_bytes: usize, ctx: &PartitionContext<'_>) -> u32 {
        let candidates = Candidates::of(ctx);
        let partition = match self.current {
            Some(current) if self.placed_bytes < batch_bytes && candidates.index_of(current).is_some() => current,
            previous => {
                let next = self.choose(&candidates, previous);
                self.current = Some(next);
                self.placed_bytes = 0;
                next
            }
        };
        self.placed_bytes = self.placed_bytes.saturating_add(record_bytes);
        partition
    }

    /// A partition drawn uniformly from the candidates other than
    /// `previous` (from all of them when `previous` is not one, or is the
    /// only one).
    fn choose(&mut self, candidates: &Candidates<'_>, previous: Option<u32>) -> u32 {
        let len = candidates.len();
        match previous.and_then(|partition| candidates.index_of(partition)) {
            Some(skip) if len > 1 => {
                // Draw among len - 1 slots and step over the previous one.
                let index = self.rng.below(len - 1);
                candidates.get(if index >= skip { index + 1 } else { index })
            }
            _ => candidates.get(self.rng.below(len)),
        }
    }
}

/// The partitions a keyless record may go to: the available ones, or all
/// of them when that list is empty.
struct Candidates<'a> {
    count: u32,
    available: &'a [u32],
}

impl<'a> Candidates<'a> {
    fn of(ctx: &PartitionContext<'a>) -> Self {
        // max(1): see RoundRobin; a 0 count yields partition 0, out of range.
        Candidates { count: ctx.partition_count.max(1), available: ctx.available_partitions }
    }

    fn len(&self) -> u64 {
        if self.available.is_empty() {
            u64::from(self.count)
        } else {
            self.available.len() as u64
        }
    }

    /// The candidate at `index`, which is below `len()`.
    fn get(&self, index: u64) -> u32 {
        if self.available.is_empty() {
            // index < count, a u32.
            index as u32
        } else {
            self.available[index as usize]
        }
    }

    /// Where `partition` is among the candidates, if it is one.
    fn index_of(&self, partition: u32) -> Option<u64> {
        if self.available.is_empty() {
            (partition < self.count).then_some(u64::from(partition))
        } else {
            // The list is sorted (PartitionContext's contract).
            self.available.binary_search(&partition).ok().map(|index| index as u64)
        }
    }
}

/// Marsaglia's xorshift64* generator: cheap, and good enough to spread
/// partition choices.
#[derive(Debug)]
struct XorShift64Star(u64);

impl XorShift64Star {
    fn new(seed: u64) -> Self {
        // SplitMix64 scrambles similar seeds apart; xorshift needs a
        // non-zero state.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        XorShift64Star(if z == 0 { 0x2545_f491_4f6c_dd1d } else { z })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..bound`; the modulo bias is below `bound / 2⁶⁴`.
    fn below(&mut self, bound: u64) -> u64 {
        debug_assert!(bound > 0);
        self.next() % bound
    }
}

/// FNV-1a, to give each topic its own stream from one seed.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const VALUE_10: &[u8] = &[0xab; 10];

    fn keyless(topic: &str, partition_count: u32) -> PartitionContext<'_> {
        PartitionContext::new(topic, None, Some(VALUE_10), &[], partition_count)
    }

    /// Splits a sequence of partitions into runs of equal partitions.
    fn runs(partitions: &[u32]) -> Vec<(u32, usize)> {
        let mut runs: Vec<(u32, usize)> = Vec::new();
        for &partition in partitions {
            match runs.last_mut() {
                Some((last, len)) if *last == partition => *len += 1,
                _ => runs.push((partition, 1)),
            }
        }
        runs
    }

    #[test]
    fn stays_until_batch_bytes_then_switches() {
        let sticky = Sticky::with_seed(100, 1);
        let ctx = keyless("t", 5);
        let partitions: Vec<u32> = (0..1000).map(|_| sticky.partition(&ctx)).collect();
        let runs = runs(&partitions);
        // 100 bytes of 10-byte records: exactly 10 per partition visit.
        assert_eq!(runs.len(), 100);
        assert!(runs.iter().all(|&(_, len)| len == 10), "{runs:?}");
    }

    #[test]
    fn the_record_that_reaches_batch_bytes_is_the_last() {
        // 30-byte records against 100 bytes: 0, 30, 60 and 90 placed are
        // below 100, so four records (120 bytes) go before the switch.
        let sticky = Sticky::with_seed(100, 2);
        let value = [0u8; 30];
        let ctx = PartitionContext::new("t", None, Some(value.as_slice()), &[], 3);
        let partitions: Vec<u32> = (0..40).map(|_| sticky.partition(&ctx)).collect();
        assert!(runs(&partitions).iter().all(|&(_, len)| len == 4), "{partitions:?}");
    }

    #[test]
    fn empty_records_count_one_byte() {
        let sticky = Sticky::with_seed(3, 3);
        let ctx = PartitionContext::new("t", None, None, &[], 2);
        let partitions: Vec<u32> = (0..12).map(|_| sticky.partition(&ctx)).collect();
        assert!(runs(&partitions).iter().all(|&(_, len)| len == 3), "{partitions:?}");
    }

    #[test]
    fn zero_batch_bytes_moves_on_every_record() {
        let sticky = Sticky::with_seed(0, 4);
        let ctx = keyless("t", 2);
        let partitions: Vec<u32> = (0..6).map(|_| sticky.partition(&ctx)).collect();
        // With two partitions "never the same twice" means alternating.
        assert!(partitions.windows(2).all(|pair| pair[0] != pair[1]), "{partitions:?}");
    }

    /// Over 600 batches on 6 partitions, every partition gets a fair share
    /// of batches (uniform draws: about 100 each), and no partition gets two
    /// batches in a row. Checked for several seeds, each deterministic.
    #[test]
    fn spreads_over_all_partitions_never_repeating() {
        for seed in 0..8 {
            let sticky = Sticky::with_seed(100, seed);
            let ctx = keyless("t", 6);
            let partitions: Vec<u32> = (0..6000).map(|_| sticky.partition(&ctx)).collect();
            let runs = runs(&partitions);
            assert_eq!(runs.len(), 600, "seed {seed}");
            let mut batches = [0u32; 6];
            for &(partition, _) in &runs {
                batches[partition as usize] += 1;
            }
            assert!(batches.iter().all(|&n| (50..=150).contains(&n)), "seed {seed}: {batches:?}");
        }
    }

    #[test]
    fn picks_only_available_partitions() {
        let sticky = Sticky::with_seed(100, 5);
        let ctx = keyless("t", 8).with_available_partitions(&[2, 5, 7]);
        let partitions: Vec<u32> = (0..3000).map(|_| sticky.partition(&ctx)).collect();
        let mut seen = [false; 8];
        for &partition in &partitions {
            seen[partition as usize] = true;
        }
        assert_eq!(seen, [false, false, true, false, false, true, false, true]);
        assert!(runs(&partitions).iter().all(|&(_, len)| len == 10));
    }

    #[test]
    fn leaves_a_partition_that_loses_its_leader_at_once() {
        let sticky = Sticky::with_seed(1000, 6);
        let first = sticky.partition(&keyless("t", 4));
        let others: Vec<u32> = (0..4).filter(|&p| p != first).collect();
        let ctx = keyless("t", 4).with_available_partitions(&others);
        let next = sticky.partition(&ctx);
        assert_ne!(next, first);
        // And sticks to the new one.
        assert!((0..5).all(|_| sticky.partition(&ctx) == next));
    }

    #[test]
    fn single_partition_or_single_available_is_always_chosen() {
        let sticky = Sticky::with_seed(10, 7);
        assert!((0..50).all(|_| sticky.partition(&keyless("one", 1)) == 0));
        let ctx = keyless("t", 4).with_available_partitions(&[3]);
        assert!((0..50).all(|_| sticky.partition(&ctx) == 3));
    }

    #[test]
    fn keyed_records_are_hashed_and_do_not_count() {
        let sticky = Sticky::with_seed(100, 8);
        let keyless_ctx = keyless("t", 9);
        let first = sticky.partition(&keyless_ctx);
        for i in 0..500u32 {
            let key = i.to_be_bytes();
            let keyed = PartitionContext::new("t", Some(key.as_slice()), Some(VALUE_10), &[], 9);
            assert_eq!(sticky.partition(&keyed), partition_for_key(&key, 9));
        }
        // 500 keyed records of 14 bytes each did not fill the keyless batch.
        assert!((0..9).all(|_| sticky.partition(&keyless_ctx) == first));
        assert_ne!(sticky.partition(&keyless_ctx), first);
    }

    #[test]
    fn same_seed_same_choices_and_topics_are_independent() {
        let a = Sticky::with_seed(50, 42);
        let b = Sticky::with_seed(50, 42);
        let sequence = |sticky: &Sticky, topic: &str| -> Vec<u32> {
            (0..500).map(|_| sticky.partition(&keyless(topic, 7))).collect()
        };
        let a_x = sequence(&a, "x");
        let _ = sequence(&b, "y"); // traffic on another topic does not disturb "x"
        assert_eq!(a_x, sequence(&b, "x"));
    }

    /// 4 threads × 1000 records of 10 bytes with 100-byte batches: every
    /// visit to a partition is exactly 10 records when the byte accounting
    /// is exact, so every partition's total is a multiple of 10 and the
    /// totals add up to 4000.
    #[test]
    fn byte_accounting_is_exact_under_four_threads() {
        let sticky = Arc::new(Sticky::with_seed(100, 9));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let sticky = Arc::clone(&sticky);
                std::thread::spawn(move || {
                    let mut counts = [0usize; 5];
                    for _ in 0..1000 {
                        counts[sticky.partition(&keyless("busy", 5)) as usize] += 1;
                    }
                    counts
                })
            })
            .collect();
        let mut totals = [0usize; 5];
        for handle in handles {
            for (total, count) in totals.iter_mut().zip(handle.join().expect("sender thread panicked")) {
                *total += count;
            }
        }
        assert_eq!(totals.iter().sum::<usize>(), 4000);
        assert!(totals.iter().all(|total| total % 10 == 0), "{totals:?}");
    }

    #[test]
    fn default_uses_kafkas_batch_size() {
        assert_eq!(Sticky::default().batch_bytes(), 16_384);
        assert_eq!(Sticky::BATCH_BYTES_DEFAULT, 16_384);
    }
}
