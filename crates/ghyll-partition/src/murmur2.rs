//! Kafka's key hash: the Java client's `Utils.murmur2`, `Utils.toPositive`
//! and the keyed-record partition formula, bit for bit.

/// Seed of Kafka's murmur2 (`0x9747b28c`).
const SEED: u32 = 0x9747_b28c;
/// Multiplier of murmur2.
const M: u32 = 0x5bd1_e995;
/// Shift of murmur2.
const R: u32 = 24;

/// Kafka's murmur2 hash of `data`, exactly as the Java client's
/// `org.apache.kafka.common.utils.Utils.murmur2` computes it.
///
/// Seed `0x9747b28c`, 32-bit wrapping arithmetic, 4-byte little-endian
/// chunks and a 1–3 byte tail, returned as Java's signed `int`. Together
/// with [`to_positive`] this is how Kafka places keyed records, so the same
/// key lands on the same partition number in ghyll and in Kafka.
///
/// Java's `seed ^ length` uses the length as an `int`; a key longer than
/// `u32::MAX` bytes (which no Kafka record can carry) hashes with its length
/// truncated to 32 bits.
///
/// # Examples
/// ```
/// use ghyll_partition::murmur2;
/// // A vector from Kafka's own tests.
/// assert_eq!(murmur2(b"foobar"), -790_332_482);
/// ```
#[must_use]
pub fn murmur2(data: &[u8]) -> i32 {
    // Truncation is Java's behaviour for `int length`; see the doc comment.
    let mut h = SEED ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    // Java's `switch (length % 4)` falls through from case 3 to case 1.
    let tail = chunks.remainder();
    if tail.len() == 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Kafka's `Utils.toPositive`: clears the sign bit (`n & 0x7fffffff`).
///
/// Not `abs`: `i32::MIN` maps to 0 and every negative number to a
/// non-negative one without overflow.
///
/// # Examples
/// ```
/// use ghyll_partition::to_positive;
/// assert_eq!(to_positive(-1), i32::MAX);
/// assert_eq!(to_positive(i32::MIN), 0);
/// assert_eq!(to_positive(42), 42);
/// ```
#[must_use]
pub const fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The partition Kafka's Java client gives a record with this key:
/// `toPositive(murmur2(key)) % partition_count`.
///
/// This is the formula of Kafka's default partitioner (and of its built-in
/// partitioner since 3.3) for keyed records; it ignores which partitions
/// currently have a leader, as Kafka does, so a key's partition never moves
/// while the partition count stays the same.
///
/// # Panics
/// If `partition_count` is 0: a topic has at least one partition.
///
/// # Examples
/// ```
/// use ghyll_partition::{murmur2, partition_for_key, to_positive};
/// let partition = partition_for_key(b"user-1", 6);
/// assert!(partition < 6);
/// assert_eq!(partition, to_positive(murmur2(b"user-1")) as u32 % 6);
/// ```
#[must_use]
pub fn partition_for_key(key: &[u8], partition_count: u32) -> u32 {
    assert!(partition_count >= 1, "a topic has at least one partition");
    // to_positive's result is in 0..=i32::MAX, so the cast is lossless.
    (to_positive(murmur2(key)) as u32) % partition_count
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every vector in KAFKA-FACTS.md (from Kafka's `UtilsTest`).
    const KAFKA_VECTORS: [(&[u8], i32); 7] = [
        (b"21", -973_932_308),
        (b"foobar", -790_332_482),
        (b"a-little-bit-long-string", -985_981_536),
        (b"a-little-bit-longer-string", -1_486_304_829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
        (b"abc", 479_470_107),
        (b"", 275_646_681),
    ];

    #[test]
    fn murmur2_matches_kafka_vectors() {
        for (key, expected) in KAFKA_VECTORS {
            assert_eq!(murmur2(key), expected, "murmur2({:?})", String::from_utf8_lossy(key));
        }
    }

    /// The vectors cover tails of 0, 2 and 3 bytes; this pins the 1-byte
    /// tail against the literal Java translation below.
    #[test]
    fn murmur2_covers_every_tail_length() {
        for len in 0..=9 {
            let key: Vec<u8> = (0..len).map(|i| 0xf0 ^ i as u8).collect();
            assert_eq!(murmur2(&key), java_murmur2(&key), "length {len}");
        }
    }

    #[test]
    fn partition_for_key_is_to_positive_murmur2_mod_count() {
        for (key, hash) in KAFKA_VECTORS {
            for count in [1, 2, 3, 6, 12, 100, 1000] {
                let expected = (i64::from(hash) & 0x7fff_ffff) as u32 % count;
                assert_eq!(partition_for_key(key, count), expected);
            }
        }
    }

    #[test]
    fn to_positive_clears_only_the_sign_bit() {
        assert_eq!(to_positive(0), 0);
        assert_eq!(to_positive(1), 1);
        assert_eq!(to_positive(i32::MAX), i32::MAX);
        assert_eq!(to_positive(-1), i32::MAX);
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(-790_332_482), 1_357_151_166);
    }

    #[test]
    #[should_panic(expected = "at least one partition")]
    fn partition_for_key_refuses_zero_partitions() {
        let _ = partition_for_key(b"k", 0);
    }

    /// A line-by-line translation of Kafka's Java `Utils.murmur2`, in `i32`
    /// with `>>>` spelled as an unsigned shift, as an independent reference.
    fn java_murmur2(data: &[u8]) -> i32 {
        let length = data.len() as i32;
        let seed = 0x9747_b28c_u32 as i32;
        let m = 0x5bd1_e995_i32;
        let r = 24;
        let ushr = |x: i32, n: u32| ((x as u32) >> n) as i32;
        let mut h = seed ^ length;
        let length4 = length / 4;
        for i in 0..length4 {
            let i4 = (i * 4) as usize;
            let mut k = (i32::from(data[i4]) & 0xff)
                + ((i32::from(data[i4 + 1]) & 0xff) << 8)
                + ((i32::from(data[i4 + 2]) & 0xff) << 16)
                + ((i32::from(data[i4 + 3]) & 0xff) << 24);
            k = k.wrapping_mul(m);
            k ^= ushr(k, r);
            k = k.wrapping_mul(m);
            h = h.wrapping_mul(m);
            h ^= k;
        }
        let base = (length & !3) as usize;
        let rest = length % 4;
        if rest == 3 {
            h ^= (i32::from(data[base + 2]) & 0xff) << 16;
        }
        if rest >= 2 {
            h ^= (i32::from(data[base + 1]) & 0xff) << 8;
        }
        if rest >= 1 {
            h ^= i32::from(data[base]) & 0xff;
            h = h.wrapping_mul(m);
        }
        h ^= ushr(h, 13);
        h = h.wrapping_mul(m);
        h ^= ushr(h, 15);
        h
    }

    proptest! {
        #[test]
        fn partition_for_key_is_below_count(key in proptest::collection::vec(any::<u8>(), 0..64), count in 1u32..=u32::MAX) {
            prop_assert!(partition_for_key(&key, count) < count);
        }

        #[test]
        fn murmur2_matches_java_translation(key in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(murmur2(&key), java_murmur2(&key));
        }
    }
}
