//! Zig-zag varints as Kafka (and protobuf) write them inside record bodies.
//!
//! Decoding is bounded: an `i32` varint may take at most 5 bytes and an
//! `i64` varlong at most 10, so hostile input cannot make a decoder loop or
//! overflow.

/// Most bytes a zig-zag `i32` varint may occupy.
pub(crate) const VARINT_BYTES_MAX: usize = 5;
/// Most bytes a zig-zag `i64` varlong may occupy.
pub(crate) const VARLONG_BYTES_MAX: usize = 10;

/// Why a varint could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VarintError {
    /// The input ended inside the varint.
    Truncated,
    /// The varint ran past its maximum length or out of its type's range.
    Overlong,
}

#[inline]
pub(crate) fn zigzag_encode_i64(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

#[inline]
pub(crate) fn zigzag_decode_i64(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// Bytes the zig-zag encoding of `value` occupies.
#[inline]
pub(crate) fn varlong_len(value: i64) -> usize {
    let mut raw = zigzag_encode_i64(value);
    let mut len = 1;
    while raw >= 0x80 {
        raw >>= 7;
        len += 1;
    }
    len
}

/// Bytes the zig-zag encoding of an `i32` occupies.
#[inline]
pub(crate) fn varint_len(value: i32) -> usize {
    varlong_len(i64::from(value))
}

/// Appends the zig-zag varlong encoding of `value` to `out`.
#[inline]
pub(crate) fn put_varlong(out: &mut Vec<u8>, value: i64) {
    let mut raw = zigzag_encode_i64(value);
    while raw >= 0x80 {
        out.push((raw as u8) | 0x80);
        raw >>= 7;
    }
    out.push(raw as u8);
}

/// Writes the zig-zag varlong encoding of `value` into `out` at `at`;
/// returns the position after it. `out` must have room for
/// [`VARLONG_BYTES_MAX`] bytes from `at`.
#[inline]
pub(crate) fn write_varlong(out: &mut [u8], mut at: usize, value: i64) -> usize {
    let mut raw = zigzag_encode_i64(value);
    while raw >= 0x80 {
        out[at] = (raw as u8) | 0x80;
        raw >>= 7;
        at += 1;
    }
    out[at] = raw as u8;
    at + 1
}

/// Appends the zig-zag varint encoding of `value` to `out`.
#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, value: i32) {
    put_varlong(out, i64::from(value));
}

/// Decodes a zig-zag varlong at the front of `input`, returning the value
/// and the bytes consumed.
#[inline]
pub(crate) fn get_varlong(input: &[u8]) -> Result<(i64, usize), VarintError> {
    // Most lengths and deltas in a batch fit one byte.
    if let Some(&byte) = input.first() {
        if byte < 0x80 {
            return Ok((zigzag_decode_i64(u64::from(byte)), 1));
        }
    }
    let mut raw: u64 = 0;
    for (i, &byte) in input.iter().enumerate().take(VARLONG_BYTES_MAX) {
        let bits = u64::from(byte & 0x7f);
        if i == VARLONG_BYTES_MAX - 1 && bits > 1 {
            return Err(VarintError::Overlong);
        }
        raw |= bits << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((zigzag_decode_i64(raw), i + 1));
        }
    }
    if input.len() >= VARLONG_BYTES_MAX {
        Err(VarintError::Overlong)
    } else {
        Err(VarintError::Truncated)
    }
}

/// Decodes a zig-zag varint (an `i32`) at the front of `input`.
#[inline]
pub(crate) fn get_varint(input: &[u8]) -> Result<(i32, usize), VarintError> {
    if let Some(&byte) = input.first() {
        if byte < 0x80 {
            return Ok((zigzag_decode_i64(u64::from(byte)) as i32, 1));
        }
    }
    let mut raw: u64 = 0;
    for (i, &byte) in input.iter().enumerate().take(VARINT_BYTES_MAX) {
        let bits = u64::from(byte & 0x7f);
        if i == VARINT_BYTES_MAX - 1 && bits > 0x0f {
            return Err(VarintError::Overlong);
        }
        raw |= bits << (7 * i);
        if byte & 0x80 == 0 {
            let value = zigzag_decode_i64(raw);
            return i32::try_from(value).map(|v| (v, i + 1)).map_err(|_| VarintError::Overlong);
        }
    }
    if input.len() >= VARINT_BYTES_MAX {
        Err(VarintError::Overlong)
    } else {
        Err(VarintError::Truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_matches_protobuf_table() {
        // The protobuf specification's zig-zag table.
        for (value, raw) in [(0i64, 0u64), (-1, 1), (1, 2), (-2, 3), (2147483647, 4294967294)] {
            assert_eq!(zigzag_encode_i64(value), raw);
            assert_eq!(zigzag_decode_i64(raw), value);
        }
        assert_eq!(zigzag_encode_i64(i64::MIN), u64::MAX);
    }

    #[test]
    fn varlong_round_trips_extremes() {
        for value in [0, 1, -1, 63, -64, 64, 300, -300, i64::from(i32::MAX), i64::MIN, i64::MAX] {
            let mut out = Vec::new();
            put_varlong(&mut out, value);
            assert_eq!(out.len(), varlong_len(value));
            assert_eq!(get_varlong(&out), Ok((value, out.len())));
        }
    }

    #[test]
    fn varint_round_trips_and_rejects_out_of_range() {
        for value in [0, -1, 1, i32::MIN, i32::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(out.len(), varint_len(value));
            assert_eq!(get_varint(&out), Ok((value, out.len())));
        }
        let mut too_big = Vec::new();
        put_varlong(&mut too_big, i64::from(i32::MAX) + 1);
        assert_eq!(get_varint(&too_big), Err(VarintError::Overlong));
    }

    #[test]
    fn truncated_and_overlong_inputs_are_errors() {
        assert_eq!(get_varlong(&[]), Err(VarintError::Truncated));
        assert_eq!(get_varlong(&[0x80, 0x80]), Err(VarintError::Truncated));
        assert_eq!(get_varlong(&[0xff; 11]), Err(VarintError::Overlong));
        assert_eq!(get_varint(&[0xff; 6]), Err(VarintError::Overlong));
    }
}
