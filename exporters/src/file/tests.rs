use std::time::{Duration, Instant};

use ccpipe_pipeline::{blocking, otlp_json, BlockingExporter, ExportError, Records, Signal};

use super::writer::{backups, LineFile};
use super::*;
use crate::testutil::{captures, check_golden, golden_batches, runtime, TempDir};

fn read_lines(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "{} ends mid-line",
        path.display()
    );
    text.lines().map(str::to_owned).collect()
}

fn settings(path: std::path::PathBuf, format: Format) -> FileSettings {
    FileSettings {
        format,
        ..FileSettings::new(path)
    }
}

/// The signal of an OTLP/JSON line, from its first key.
fn signal_of(line: &str) -> Signal {
    if line.starts_with("{\"resourceLogs\"") {
        Signal::Logs
    } else if line.starts_with("{\"resourceMetrics\"") {
        Signal::Metrics
    } else if line.starts_with("{\"resourceSpans\"") {
        Signal::Traces
    } else {
        panic!("not an OTLP/JSON request: {}", &line[..line.len().min(80)])
    }
}

#[test]
fn otlp_json_lines_decode_to_what_was_exported() {
    for variant in [
        "http-protobuf",
        "grpc",
        "http-protobuf-redacted",
        "http-protobuf-no-traces",
    ] {
        let dir = TempDir::new("otlp-json");
        let path = dir.join("claude.jsonl");
        let batches = captures(variant);
        let mut exporter = FileExporter::open(&settings(path.clone(), Format::OtlpJson)).unwrap();
        for (_, batch) in &batches {
            exporter.export(&Batch::from(batch.clone())).unwrap();
        }
        exporter.flush().unwrap();
        let lines = read_lines(&path);
        assert_eq!(lines.len(), batches.len(), "{variant}: one line per batch");
        for (i, (line, (signal, batch))) in lines.iter().zip(&batches).enumerate() {
            assert_eq!(signal_of(line), *signal, "{variant} #{i}");
            let decoded = otlp_json::decode(*signal, line.as_bytes())
                .unwrap_or_else(|e| panic!("{variant} line {}: {e}", i + 1));
            assert_eq!(&decoded, batch, "{variant} line {} round-trips", i + 1);
        }
    }
}

#[test]
fn golden_flat_output() {
    for (signal, batch) in golden_batches() {
        let mut out = Vec::new();
        FlatEncoder::default().encode(&batch, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text.lines().count(),
            batch.item_count(),
            "{signal}: one line per item"
        );
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{signal}: not JSON ({e}): {line}"));
            assert_eq!(v["signal"], signal.as_str());
            assert!(
                v["time"].as_str().is_some_and(|t| t.ends_with('Z')),
                "{line}"
            );
            assert!(v["attributes"]["session.id"].is_string(), "{line}");
            assert_eq!(v["resource"]["service.name"], "claude-code");
            assert!(v["scope"]["name"]
                .as_str()
                .unwrap()
                .starts_with("com.anthropic.claude_code"));
        }
        check_golden(&format!("file-flat-{signal}.jsonl"), &text);
    }
}

#[test]
fn flat_lines_carry_each_signals_fields() {
    let [(_, logs), (_, metrics), (_, traces)] = golden_batches();
    let parse = |b: &Records| -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        FlatEncoder::default().encode(b, &mut out);
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let logs = parse(&logs);
    let api = logs
        .iter()
        .find(|v| v["event"] == "claude_code.api_request")
        .expect("an api_request");
    assert_eq!(api["body"], "claude_code.api_request");
    assert!(api["attributes"]["cost_usd"].is_f64());
    assert!(api["attributes"]["input_tokens"].is_i64());
    assert!(
        api["time_unix_nano"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );

    let metrics = parse(&metrics);
    let tokens = metrics
        .iter()
        .find(|v| v["name"] == "claude_code.token.usage")
        .expect("token usage");
    assert_eq!(tokens["type"], "sum");
    assert_eq!(tokens["temporality"], "delta");
    assert_eq!(tokens["monotonic"], true);
    assert_eq!(tokens["unit"], "tokens");
    assert!(tokens["value"].is_f64());
    assert!(tokens["start_time"].is_string());

    let spans = parse(&traces);
    let llm = spans
        .iter()
        .find(|v| v["name"] == "claude_code.llm_request")
        .expect("an llm_request span");
    assert_eq!(llm["kind"], "internal");
    assert_eq!(llm["trace_id"].as_str().unwrap().len(), 32);
    assert_eq!(llm["span_id"].as_str().unwrap().len(), 16);
    assert_eq!(llm["parent_span_id"].as_str().unwrap().len(), 16);
    assert!(llm["duration_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(llm["status"]["code"], "unset");
    assert!(llm["events"].as_array().is_some());
}

#[test]
fn appends_across_restarts() {
    let dir = TempDir::new("append");
    let path = dir.join("nested/folders/out.jsonl");
    let [(_, logs), (_, metrics), _] = golden_batches();
    for batch in [&logs, &metrics] {
        let mut exporter = FileExporter::open(&settings(path.clone(), Format::OtlpJson)).unwrap();
        exporter.export(&Batch::from(batch.clone())).unwrap();
        exporter.flush().unwrap();
    }
    let lines = read_lines(&path);
    assert_eq!(lines.len(), 2);
    assert_eq!(
        otlp_json::decode(Signal::Logs, lines[0].as_bytes()).unwrap(),
        logs
    );
    assert_eq!(
        otlp_json::decode(Signal::Metrics, lines[1].as_bytes()).unwrap(),
        metrics
    );
}

#[test]
fn a_torn_last_line_is_cut_off_on_open() {
    let dir = TempDir::new("torn");
    let path = dir.join("out.jsonl");
    std::fs::write(&path, "{\"complete\":1}\n{\"complete\":2}\n{\"torn\":").unwrap();
    let [(_, logs), ..] = golden_batches();
    let mut exporter = FileExporter::open(&settings(path.clone(), Format::OtlpJson)).unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"complete\":1}\n{\"complete\":2}\n",
        "repaired on open, before anything is written"
    );
    exporter.export(&Batch::from(logs.clone())).unwrap();
    exporter.flush().unwrap();
    let lines = read_lines(&path);
    assert_eq!(lines.len(), 3);
    assert_eq!(
        otlp_json::decode(Signal::Logs, lines[2].as_bytes()).unwrap(),
        logs
    );

    // A file with no newline at all is one torn line: emptied.
    let path = dir.join("only-torn.jsonl");
    std::fs::write(&path, "{\"torn\"").unwrap();
    drop(FileExporter::open(&settings(path.clone(), Format::Flat)).unwrap());
    assert_eq!(std::fs::read(&path).unwrap(), b"");
}

/// Exports `rounds` batches as flat lines into a file rotated at `max_bytes`,
/// and returns the lines it wrote.
fn export_rotating(path: &std::path::Path, rotation: Rotation, rounds: usize) -> usize {
    let mut s = settings(path.to_owned(), Format::Flat);
    s.rotation = Some(rotation);
    let mut exporter = FileExporter::open(&s).unwrap();
    let batches = captures("http-protobuf");
    let mut lines = 0;
    for (_, batch) in batches.iter().cycle().take(rounds) {
        exporter.export(&Batch::from(batch.clone())).unwrap();
        exporter.flush().unwrap();
        lines += batch.item_count();
    }
    lines
}

#[test]
fn rotation_starts_new_files_and_loses_no_line() {
    let dir = TempDir::new("rotate-all");
    let path = dir.join("claude.jsonl");
    let max = 16 * 1024;
    let rotation = Rotation {
        max_bytes: max,
        max_backups: 0, // keep all
    };
    let written = export_rotating(&path, rotation, 24);
    let backups = backups(&path).unwrap();
    assert!(backups.len() >= 3, "{} backups", backups.len());
    let mut lines = 0;
    for file in backups.iter().chain([&path]) {
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with("claude") && name.ends_with(".jsonl"),
            "{name}"
        );
        let len = std::fs::metadata(file).unwrap().len();
        assert!(len <= max, "{name} has {len} bytes, over the {max} limit");
        for line in read_lines(file) {
            serde_json::from_str::<serde_json::Value>(&line)
                .unwrap_or_else(|e| panic!("{name}: torn or bad line ({e})"));
            lines += 1;
        }
    }
    assert_eq!(lines, written, "every line is in exactly one file");
}

#[test]
fn rotation_keeps_max_backups() {
    let dir = TempDir::new("rotate-keep");
    let path = dir.join("claude.jsonl");
    let rotation = Rotation {
        max_bytes: 16 * 1024,
        max_backups: 2,
    };
    // A file of another name in the same folder is never touched.
    std::fs::write(dir.join("claude-notes.jsonl"), "keep me\n").unwrap();
    export_rotating(&path, rotation, 24);
    let kept = backups(&path).unwrap();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(path.exists());
    assert!(dir.join("claude-notes.jsonl").exists());
    // A restart with rotation keeps rotating into the same series.
    export_rotating(&path, rotation, 8);
    assert_eq!(backups(&path).unwrap().len(), 2);
}

#[test]
fn a_line_longer_than_the_limit_gets_a_file_of_its_own() {
    let dir = TempDir::new("rotate-big");
    let path = dir.join("big.jsonl");
    let mut s = settings(path.clone(), Format::OtlpJson);
    s.rotation = Some(Rotation {
        max_bytes: 1000,
        max_backups: 0,
    });
    let [(_, logs), (_, metrics), _] = golden_batches();
    let mut exporter = FileExporter::open(&s).unwrap();
    for batch in [&logs, &metrics] {
        exporter.export(&Batch::from(batch.clone())).unwrap();
        exporter.flush().unwrap();
    }
    let backups = backups(&path).unwrap();
    assert_eq!(backups.len(), 1);
    assert_eq!(read_lines(&backups[0]).len(), 1);
    assert_eq!(read_lines(&path).len(), 1);
}

#[test]
#[cfg(target_os = "linux")] // /dev/full
fn a_full_disk_keeps_the_data_and_asks_for_retries() {
    let [(_, logs), (_, metrics), _] = golden_batches();
    // Buffered until the interval, and written at every export.
    for interval in [Some(Duration::from_secs(1)), None] {
        // Every write to /dev/full fails with ENOSPC.
        let mut s = settings("/dev/full".into(), Format::OtlpJson);
        s.flush_interval = interval;
        let mut exporter = FileExporter::open(&s).unwrap();
        assert!(
            exporter.flush_interval().is_some(),
            "a failed write is never a failed export"
        );
        exporter
            .export(&Batch::from(logs.clone()))
            .expect("accepted into the buffer");
        let err = exporter.flush().unwrap_err();
        assert!(matches!(err, ExportError::Retryable { .. }), "{err}");
        assert!(
            err.to_string().starts_with("cannot write /dev/full: "),
            "{err}"
        );
        let kept = exporter.pending.len();
        assert!(kept > 0, "{interval:?}");
        // While the disk is full, new batches are turned away (the export
        // task retries them) rather than piling up in memory.
        let err = exporter.export(&Batch::from(metrics.clone())).unwrap_err();
        assert!(matches!(err, ExportError::Retryable { .. }), "{err}");
        assert_eq!(exporter.pending.len(), kept, "nothing lost, nothing added");
    }
}

/// Under a durable queue the queue forgets a batch once export returns Ok,
/// so the file must hold it by then, whatever `flush_interval` says; and a
/// batch the disk refused must fail, not count as written.
#[test]
fn under_a_durable_queue_an_export_is_written_before_it_returns() {
    let dir = TempDir::new("durable-ack");
    let path = dir.join("out.jsonl");
    let [(_, logs), ..] = golden_batches();
    for ack in [AckWhen::Written, AckWhen::Synced] {
        let _ = std::fs::remove_file(&path);
        let mut s = settings(path.clone(), Format::Flat);
        s.flush_interval = Some(Duration::from_secs(3600));
        s.ack = ack;
        let mut exporter = FileExporter::open(&s).unwrap();
        exporter.export(&Batch::from(logs.clone())).unwrap();
        assert_eq!(read_lines(&path).len(), logs.item_count(), "{ack:?}");
        assert!(exporter.pending.is_empty());
    }
    #[cfg(target_os = "linux")]
    {
        let mut s = settings("/dev/full".into(), Format::OtlpJson);
        s.ack = AckWhen::Synced;
        let mut exporter = FileExporter::open(&s).unwrap();
        for _ in 0..2 {
            let err = exporter.export(&Batch::from(logs.clone())).unwrap_err();
            assert!(matches!(err, ExportError::Retryable { .. }), "{err}");
            assert!(err.to_string().contains("cannot write /dev/full"), "{err}");
            assert!(
                exporter.pending.is_empty(),
                "the retry brings the batch again"
            );
        }
    }
}

#[test]
fn flush_interval_zero_writes_at_every_export() {
    let dir = TempDir::new("no-interval");
    let path = dir.join("out.jsonl");
    let mut s = settings(path.clone(), Format::Flat);
    s.flush_interval = None;
    let [(_, logs), ..] = golden_batches();
    let mut exporter = FileExporter::open(&s).unwrap();
    exporter.export(&Batch::from(logs.clone())).unwrap();
    assert_eq!(
        read_lines(&path).len(),
        logs.item_count(),
        "written before flush"
    );
}

#[test]
fn only_complete_lines_are_written() {
    let dir = TempDir::new("resume");
    let path = dir.join("out.jsonl");
    let mut file = LineFile::open(&path, None).unwrap();
    let mut buf = b"first line\nsecond line\nthird".to_vec();
    file.write_lines(&mut buf).unwrap();
    assert_eq!(buf, b"third", "an incomplete line stays buffered");
    buf.extend_from_slice(b" line\n");
    file.write_lines(&mut buf).unwrap();
    assert!(buf.is_empty());
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "first line\nsecond line\nthird line\n"
    );
}

#[test]
fn opening_an_unwritable_path_names_it() {
    let dir = TempDir::new("unwritable");
    // A folder cannot be opened as a file...
    let err = FileExporter::open(&FileSettings::new(dir.path()))
        .err()
        .unwrap();
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "{err}"
    );
    // ...and a regular file cannot hold a folder.
    let blocker = dir.join("blocker");
    std::fs::write(&blocker, "").unwrap();
    let err = FileExporter::open(&FileSettings::new(blocker.join("out.jsonl")))
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(msg.starts_with("cannot create folder "), "{msg}");
    assert!(msg.contains(&blocker.display().to_string()), "{msg}");
}

#[test]
fn flushes_on_the_interval_without_shutdown() {
    let dir = TempDir::new("interval");
    let path = dir.join("out.jsonl");
    let mut s = settings(path.clone(), Format::OtlpJson);
    let interval = Duration::from_millis(400);
    s.flush_interval = Some(interval);
    let [(_, logs), ..] = golden_batches();
    runtime().block_on(async {
        let mut exporter = blocking::spawn("file", FileExporter::open(&s).unwrap()).unwrap();
        let sent = Instant::now();
        exporter.export(Batch::from(logs.clone())).await.unwrap();
        let early = std::fs::metadata(&path).unwrap().len();
        if sent.elapsed() < interval {
            assert_eq!(early, 0, "buffered until the interval passes");
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(&path).unwrap().len() == 0 {
            assert!(Instant::now() < deadline, "not flushed after 10s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(sent.elapsed() >= interval, "flushed before the interval");
        // The flush may still be writing the line (a loaded machine saw the
        // file mid-line): wait for its end before reading it.
        while !std::fs::read(&path).unwrap().ends_with(b"\n") {
            assert!(Instant::now() < deadline, "the line not complete after 10s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let lines = read_lines(&path);
        assert_eq!(lines.len(), 1);
        assert_eq!(
            otlp_json::decode(Signal::Logs, lines[0].as_bytes()).unwrap(),
            logs
        );
        exporter.shutdown().await.unwrap();
    });
}

#[test]
fn shutdown_flushes() {
    let dir = TempDir::new("shutdown");
    let path = dir.join("out.jsonl");
    let mut s = settings(path.clone(), Format::Flat);
    s.flush_interval = Some(Duration::from_secs(3600));
    let [_, (_, metrics), _] = golden_batches();
    runtime().block_on(async {
        let mut exporter = blocking::spawn("file", FileExporter::open(&s).unwrap()).unwrap();
        exporter.export(Batch::from(metrics.clone())).await.unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        exporter.shutdown().await.unwrap();
    });
    assert_eq!(read_lines(&path).len(), metrics.item_count());
}

#[test]
fn shutdown_with_nothing_exported() {
    let dir = TempDir::new("idle");
    let path = dir.join("out.jsonl");
    runtime().block_on(async {
        let mut exporter = blocking::spawn(
            "file",
            FileExporter::open(&FileSettings::new(&path)).unwrap(),
        )
        .unwrap();
        exporter.shutdown().await.unwrap();
    });
    assert_eq!(std::fs::read(&path).unwrap(), b"");
}

/// The protobuf bytes of a decoded batch.
fn to_bytes(batch: &Records) -> bytes::Bytes {
    use prost::Message;
    bytes::Bytes::from(match batch {
        Records::Logs(r) => r.encode_to_vec(),
        Records::Metrics(r) => r.encode_to_vec(),
        Records::Traces(r) => r.encode_to_vec(),
    })
}

/// One encoded batch of these requests, as the batch processor makes it.
fn encoded_of(signal: Signal, parts: &[bytes::Bytes]) -> Encoded {
    let mut all = Encoded::new(signal, parts[0].clone()).unwrap();
    for part in &parts[1..] {
        all.append(Encoded::new(signal, part.clone()).unwrap());
    }
    all
}

/// The records of all lines of `path`, as one batch.
fn read_back(path: &std::path::Path, signal: Signal) -> (usize, Records) {
    let lines = read_lines(path);
    let mut all = Records::empty(signal);
    for (i, line) in lines.iter().enumerate() {
        all.append(
            otlp_json::decode(signal, line.as_bytes())
                .unwrap_or_else(|e| panic!("line {}: {e}", i + 1)),
        );
    }
    (lines.len(), all)
}

#[test]
fn a_large_encoded_batch_is_cut_into_lines_and_the_buffer_stays_small() {
    let (signal, logs) = golden_batches()
        .into_iter()
        .find(|(s, _)| *s == Signal::Logs)
        .unwrap();
    let part = to_bytes(&logs);
    // Enough requests for several lines and several writes.
    let copies = (3 * WRITE_AT).div_ceil(part.len()).max(8);
    let batch = encoded_of(signal, &vec![part.clone(); copies]);
    assert!(batch.len() > 2 * LINE_BYTES, "{} bytes", batch.len());
    let dir = TempDir::new("encoded-lines");
    let path = dir.join("claude.jsonl");
    let mut exporter = FileExporter::open(&settings(path.clone(), Format::OtlpJson)).unwrap();
    exporter.export(&Batch::from(batch.clone())).unwrap();
    assert!(
        exporter.pending.capacity() <= KEEP_CAPACITY,
        "buffer grew to {} bytes for a {} byte batch",
        exporter.pending.capacity(),
        batch.len()
    );
    exporter.flush().unwrap();
    let (lines, records) = read_back(&path, signal);
    let per_line = LINE_BYTES / part.len();
    assert_eq!(
        lines,
        copies.div_ceil(per_line.max(1)),
        "lines of {per_line} requests"
    );
    assert_eq!(records, batch.decode().unwrap(), "every record, in order");
}

#[test]
fn a_request_larger_than_a_line_gets_a_line_of_its_own() {
    let dir = TempDir::new("encoded-big-part");
    let path = dir.join("claude.jsonl");
    let (signal, logs) = golden_batches()
        .into_iter()
        .find(|(s, _)| *s == Signal::Logs)
        .unwrap();
    let mut big = logs.clone();
    while to_bytes(&big).len() <= LINE_BYTES {
        big.append(big.clone());
    }
    let batch = encoded_of(signal, &[to_bytes(&logs), to_bytes(&big), to_bytes(&logs)]);
    let mut exporter = FileExporter::open(&settings(path.clone(), Format::OtlpJson)).unwrap();
    exporter.export(&Batch::from(batch.clone())).unwrap();
    exporter.flush().unwrap();
    let (lines, records) = read_back(&path, signal);
    assert_eq!(lines, 3);
    assert_eq!(records, batch.decode().unwrap());
}

#[test]
fn an_unusual_request_in_an_encoded_batch_is_written_through_decoding() {
    // A LogRecord with two bodies: valid protobuf (the last one wins) that
    // JSON cannot mirror, so transcoding refuses it (see otlp_json::transcode).
    let body = |s: &str| {
        let mut any = vec![0x0a, s.len() as u8];
        any.extend_from_slice(s.as_bytes());
        let mut f = vec![0x2a, any.len() as u8];
        f.extend(any);
        f
    };
    let mut record = body("x");
    record.extend(body("y"));
    let wrap = |tag: u8, inner: &[u8]| {
        let mut v = vec![tag, inner.len() as u8];
        v.extend_from_slice(inner);
        v
    };
    let unusual = bytes::Bytes::from(wrap(0x0a, &wrap(0x12, &wrap(0x12, &record))));
    let (signal, logs) = golden_batches()
        .into_iter()
        .find(|(s, _)| *s == Signal::Logs)
        .unwrap();
    let usual = to_bytes(&logs);
    let batch = encoded_of(signal, &[usual.clone(), unusual, usual]);
    let mut json = Vec::new();
    assert!(otlp_json::transcode(&batch, &mut json).is_err(), "unusual");
    let dir = TempDir::new("encoded-unusual");
    let path = dir.join("claude.jsonl");
    let mut exporter = FileExporter::open(&settings(path.clone(), Format::OtlpJson)).unwrap();
    exporter.export(&Batch::from(batch.clone())).unwrap();
    exporter.flush().unwrap();
    let (lines, records) = read_back(&path, signal);
    assert_eq!(lines, 1, "three small requests share a line");
    assert_eq!(records, batch.decode().unwrap());
}

/// A path that is not a regular file is written as a stream: `/dev/null`
/// refuses `fsync` and `ftruncate`, so a durable queue's export must not ask
/// for them, and its size never grows.
#[cfg(target_os = "linux")]
#[test]
fn dev_null_takes_synced_exports_and_stays_a_device() {
    use std::os::unix::fs::FileTypeExt;
    let [(_, logs), ..] = golden_batches();
    let mut s = settings("/dev/null".into(), Format::OtlpJson);
    s.ack = AckWhen::Synced;
    let mut exporter = FileExporter::open(&s).unwrap();
    for _ in 0..3 {
        exporter.export(&Batch::from(logs.clone())).unwrap();
    }
    exporter.flush().unwrap();
    assert!(exporter.pending.is_empty());
    let meta = std::fs::metadata("/dev/null").unwrap();
    assert!(meta.file_type().is_char_device());
}

/// Rotation is for regular files: a FIFO (standing in for `/dev/null`, which
/// a broken rotation would rename) given a tiny limit gets every line, in
/// order, and is never renamed.
#[cfg(unix)]
#[test]
fn a_fifo_is_never_rotated_and_gets_every_line() {
    use std::io::Read;
    use std::os::unix::fs::FileTypeExt;
    let dir = TempDir::new("fifo");
    let path = dir.join("stream.jsonl");
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo {}", path.display());
    let mut s = settings(path.clone(), Format::Flat);
    s.rotation = Some(Rotation {
        max_bytes: 4 * 1024,
        max_backups: 1,
    });
    // Opened read-write, so it does not wait for a reader.
    let mut exporter = FileExporter::open(&s).unwrap();
    let reader = {
        let path = path.clone();
        std::thread::spawn(move || {
            let mut fifo = std::fs::File::open(&path).unwrap();
            let mut text = Vec::new();
            let mut chunk = [0u8; 64 * 1024];
            // Ends at the "end" line the test writes last.
            while !text.ends_with(b"{\"end\":true}\n") {
                let n = fifo.read(&mut chunk).unwrap();
                assert!(n > 0, "the FIFO closed before the last line");
                text.extend_from_slice(&chunk[..n]);
            }
            text
        })
    };
    let batches = captures("http-protobuf");
    let mut written = 0;
    for (_, batch) in batches.iter().cycle().take(12) {
        exporter.export(&Batch::from(batch.clone())).unwrap();
        written += batch.item_count();
    }
    exporter.pending.extend_from_slice(b"{\"end\":true}\n");
    exporter.flush().unwrap();
    let text = String::from_utf8(reader.join().unwrap()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), written + 1, "every line, once");
    for line in &lines {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("torn or bad line ({e}): {line}"));
    }
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.file_type().is_fifo(), "still the FIFO");
    assert_eq!(backups(&path).unwrap(), Vec::<std::path::PathBuf>::new());
}
