//! Shared by the fuzz checks: recompute batch CRCs so mutated inputs get
//! past the CRC check to the decoders behind it.

/// Overwrites the CRC of every batch that `bytes` holds end to end (as far
/// as the `batchLength` fields chain), so that mutated inputs reach the
/// record decoder instead of stopping at the CRC check.
pub fn reseal_batches(bytes: &mut [u8]) {
    let mut at = 0usize;
    while bytes.len() - at >= 61 {
        let length = i32::from_be_bytes(bytes[at + 8..at + 12].try_into().expect("4 bytes"));
        let Ok(length) = usize::try_from(length) else { return };
        let end = at + 12 + length;
        if length < 49 || end > bytes.len() {
            return;
        }
        let crc = crc32c::crc32c(&bytes[at + 21..end]);
        bytes[at + 17..at + 21].copy_from_slice(&crc.to_be_bytes());
        at = end;
    }
}
