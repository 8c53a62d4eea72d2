//! The HTTP body decoder on hostile bytes: random and mutated gzip never
//! panics and never yields more than the limit (a gzip bomb stops at it).
//! Deterministic and bounded, for CI; the open-ended version is
//! `fuzz/fuzz_targets/http_body.rs`.

use std::io::Write;

use bytes::Bytes;
use ccpipe_pipeline::testing::Xorshift as Rng;
use ccpipe_pipeline::Signal;
use flate2::write::GzEncoder;
use flate2::Compression;

use super::super::decode::{decode, DecodeError, Encoding, Format};

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn capture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../tests/fixtures/claude-code/captures/http-protobuf/otlp/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn a_gzip_bomb_stops_at_the_limit() {
    let bomb = gzip(&vec![0u8; 16 << 20]);
    assert!(bomb.len() < 64 << 10);
    let limit = 1 << 20;
    let got = decode(
        Signal::Logs,
        Format::Protobuf,
        Encoding::Gzip,
        Bytes::from(bomb),
        limit,
    );
    assert!(matches!(got, Err(DecodeError::TooLarge { limit: 1048576 })));
}

#[test]
fn mutated_gzip_bodies_never_panic() {
    let seeds = [
        (Signal::Logs, gzip(&capture("0002-http-logs.bin"))),
        (Signal::Traces, gzip(&capture("0003-http-traces.bin"))),
        (Signal::Metrics, gzip(&capture("0001-http-metrics.bin"))),
    ];
    let mut rng = Rng(0x9A1F_5EED_0000_0001);
    let (mut ok, mut bad) = (0, 0);
    for round in 0..2000 {
        let (signal, seed) = &seeds[round % seeds.len()];
        let mut body = seed.clone();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(body.len());
            match rng.below(3) {
                0 => body[at] = rng.next_u64() as u8,
                1 => body.truncate(at.max(1)),
                _ => {
                    let end = (at + 1 + rng.below(32)).min(body.len());
                    let copy = body[at..end].to_vec();
                    body.splice(at..at, copy);
                }
            }
        }
        let limit = 1 + rng.below(64 << 10);
        let result = std::panic::catch_unwind(|| {
            decode(
                *signal,
                Format::Protobuf,
                Encoding::Gzip,
                Bytes::from(body.clone()),
                limit,
            )
        });
        match result.unwrap_or_else(|_| panic!("panicked on round {round}")) {
            Ok(_) => ok += 1,
            Err(e) => {
                assert!(!e.to_string().is_empty());
                bad += 1;
            }
        }
    }
    assert!(bad > 0, "ok {ok}, bad {bad}");
    // Random bytes: never a panic.
    for _ in 0..2000 {
        let len = rng.below(256);
        let mut body: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if rng.below(2) == 0 && body.len() > 2 {
            body[0] = 0x1f;
            body[1] = 0x8b;
        }
        let _ = decode(
            Signal::Logs,
            Format::Json,
            Encoding::Gzip,
            Bytes::from(body),
            1 << 16,
        );
    }
}

/// The same for deflate (zlib) and zstd: mutated captures and random bytes
/// (half of them with the format's magic) never panic, and bombs stop at
/// the limit.
#[test]
fn mutated_deflate_and_zstd_bodies_never_panic() {
    let deflate = |data: &[u8]| {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    };
    let zstd = |data: &[u8]| zstd::encode_all(data, 3).unwrap();
    type Compress<'a> = &'a dyn Fn(&[u8]) -> Vec<u8>;
    let formats: [(Encoding, Compress, &[u8]); 2] = [
        (Encoding::Deflate, &deflate, &[0x78, 0x9c]),
        (Encoding::Zstd, &zstd, &[0x28, 0xb5, 0x2f, 0xfd]),
    ];
    let mut rng = Rng(0x9A1F_5EED_0000_0002);
    for (encoding, compress, magic) in formats {
        let bomb = compress(&vec![0u8; 16 << 20]);
        let got = decode(
            Signal::Logs,
            Format::Protobuf,
            encoding,
            Bytes::from(bomb),
            1 << 20,
        );
        assert!(
            matches!(got, Err(DecodeError::TooLarge { limit: 1048576 })),
            "{encoding:?}: {got:?}"
        );
        let seed = compress(&capture("0002-http-logs.bin"));
        let mut bad = 0;
        for round in 0..1000 {
            let mut body = seed.clone();
            let at = rng.below(body.len());
            match rng.below(2) {
                0 => body[at] = rng.next_u64() as u8,
                _ => body.truncate(at.max(1)),
            }
            let limit = 1 + rng.below(64 << 10);
            let result = std::panic::catch_unwind(|| {
                decode(
                    Signal::Logs,
                    Format::Protobuf,
                    encoding,
                    Bytes::from(body),
                    limit,
                )
            });
            let result =
                result.unwrap_or_else(|_| panic!("{encoding:?} panicked on round {round}"));
            bad += usize::from(result.is_err());
        }
        assert!(bad > 0, "{encoding:?}: no mutation was refused");
        for _ in 0..1000 {
            let len = rng.below(256);
            let mut body: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            if rng.below(2) == 0 && body.len() > magic.len() {
                body[..magic.len()].copy_from_slice(magic);
            }
            let _ = decode(
                Signal::Logs,
                Format::Json,
                encoding,
                Bytes::from(body),
                1 << 16,
            );
        }
    }
}

/// A body that arrived in one chunk is a slice of the connection's read
/// buffer; the request must not keep that buffer alive (the queues weigh
/// only the body). The batch's bytes lie outside the buffer.
#[test]
fn a_one_chunk_body_is_copied_out_of_the_read_buffer() {
    use super::super::decode::decode_within;
    let body = capture("0002-http-logs.bin");
    let mut read_buffer = vec![0u8; 400 << 10];
    read_buffer[..body.len()].copy_from_slice(&body);
    let read_buffer = Bytes::from(read_buffer);
    let range = read_buffer.as_ptr_range();
    let chunk = read_buffer.slice(..body.len());
    let batch = decode_within(
        Signal::Logs,
        Format::Protobuf,
        Encoding::Identity,
        chunk,
        usize::MAX,
        &super::super::decode::DEFAULT_LIMITS,
    )
    .unwrap();
    let encoded = batch.encoded().expect("protobuf stays encoded");
    let parts = encoded.parts();
    assert_eq!(parts.len(), 1);
    assert_eq!(&parts[0][..], &body[..]);
    assert!(
        !range.contains(&parts[0].as_ptr()),
        "the body still points into the read buffer"
    );
}

/// Inflated bodies grow by doubling; what is kept is trimmed to about its size.
#[test]
fn an_inflated_body_keeps_no_more_than_an_eighth_spare() {
    use super::super::decode::decompress;
    let body = capture("0002-http-logs.bin");
    let mut big = Vec::new();
    while big.len() < 300 << 10 {
        big.extend_from_slice(&body);
    }
    let out = decompress(Encoding::Gzip, &gzip(&big)[..], usize::MAX).unwrap();
    assert_eq!(out, big);
    assert!(
        out.capacity() <= out.len() + out.len() / 8,
        "capacity {} for {} bytes",
        out.capacity(),
        out.len()
    );
}
