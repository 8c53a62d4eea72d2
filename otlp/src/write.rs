//! Number and hex writers shared by the OTLP/JSON encoder and the exporters'
//! text and JSON outputs, straight into a byte buffer.

/// The decimal digits of `n`.
pub fn write_int(n: impl itoa::Integer, out: &mut Vec<u8>) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Lower-case hex of `bytes` (an id), unquoted; nothing for no bytes.
pub fn write_hex(bytes: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0xf)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_integers_and_hex() {
        let mut out = Vec::new();
        write_int(-12i64, &mut out);
        out.push(b' ');
        write_int(u64::MAX, &mut out);
        out.push(b' ');
        write_hex(&[0x0a, 0xff], &mut out);
        write_hex(&[], &mut out);
        assert_eq!(out, b"-12 18446744073709551615 0aff");
    }
}
