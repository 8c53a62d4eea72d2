//! An OTLP/HTTP body as the receiver decodes it: gzip, deflate or zstd
//! decompression with a limit,
//! then the protobuf check or the JSON decoder. Never a panic, and never more
//! than the limit inflated. The first byte picks signal, format and encoding.
#![no_main]

use bytes::Bytes;
use ccpipe_pipeline::Signal;
use ccpipe_receivers::otlp::decode::{decode, DecodeError, Encoding, Format};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    // The low two bits pick the signal (3 folds onto logs), so the +4, +8
    // and +16 flags leave it alone; +8 and +16 pick the encoding (the seeds
    // from before deflate and zstd keep theirs).
    let signal = Signal::ALL[(pick & 3) as usize % 3];
    let format = if pick & 4 == 0 {
        Format::Protobuf
    } else {
        Format::Json
    };
    let encoding = match (pick >> 3) & 3 {
        0 => Encoding::Gzip,
        1 => Encoding::Identity,
        2 => Encoding::Deflate,
        _ => Encoding::Zstd,
    };
    match decode(
        signal,
        format,
        encoding,
        Bytes::copy_from_slice(bytes),
        LIMIT,
    ) {
        Ok(payload) => assert_eq!(payload.signal(), signal),
        Err(DecodeError::TooLarge { limit }) => assert_eq!(limit, LIMIT),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
