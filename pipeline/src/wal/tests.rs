use std::path::PathBuf;
use std::time::Duration;

use super::*;

/// A test's WAL folder (not created: some tests want it missing), removed
/// when the test ends so runs do not pile up in the temp folder.
struct TestDir(PathBuf);

impl std::ops::Deref for TestDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl AsRef<std::path::Path> for TestDir {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

impl From<&TestDir> for PathBuf {
    fn from(d: &TestDir) -> PathBuf {
        d.0.clone()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn dir(name: &str) -> TestDir {
    let d = std::env::temp_dir().join(format!("ccpipe-wal-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    TestDir(d)
}

fn cfg(d: &std::path::Path, fsync: Fsync) -> WalConfig {
    let mut c = WalConfig::new(d, 1 << 20, WhenFull::Block, fsync);
    c.segment_size = 200; // a few records per segment
    c
}

fn record(i: u32) -> Vec<u8> {
    format!("record-{i:04}").into_bytes()
}

fn id(r: &frame::Record) -> u32 {
    std::str::from_utf8(&r.bytes[7..]).unwrap().parse().unwrap()
}

fn append_n(w: &WalWriter, range: std::ops::Range<u32>) {
    for i in range {
        w.append(Signal::Logs, 1, &[&record(i)]).unwrap();
    }
    w.commit().unwrap();
}

/// Reads everything there is (after the writers are gone), acking as it goes.
async fn drain(r: &mut WalReader) -> Vec<u32> {
    let mut got = Vec::new();
    while let Some(read) = tokio::time::timeout(Duration::from_secs(5), r.next(3, 1 << 20))
        .await
        .expect("bounded")
    {
        got.extend(read.records.iter().map(id));
        r.ack();
    }
    got
}

fn segment_files(d: &std::path::Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn records_come_back_in_order_and_acked_segments_go() {
    let d = dir("order");
    let (w, mut r) = open("t", cfg(&d, Fsync::Batch)).unwrap();
    append_n(&w, 0..40);
    assert!(segment_files(&d).len() > 3, "rotated into several segments");
    drop(w);
    assert_eq!(drain(&mut r).await, (0..40).collect::<Vec<_>>());
    assert_eq!(
        segment_files(&d).len(),
        1,
        "only the current segment is left"
    );
    assert_eq!(r.backlog_records(), 0);
}

#[tokio::test]
async fn unacknowledged_records_are_replayed_after_a_restart() {
    let d = dir("replay");
    {
        let (w, mut r) = open("t", cfg(&d, Fsync::Always)).unwrap();
        append_n(&w, 0..20);
        let first = r.next(5, 1 << 20).await.unwrap();
        assert_eq!(first.records.len(), 5);
        r.ack();
        let _in_flight = r.next(5, 1 << 20).await.unwrap(); // never acked
    }
    let (w, mut r) = open("t", cfg(&d, Fsync::Always)).unwrap();
    append_n(&w, 20..25);
    drop(w);
    assert_eq!(drain(&mut r).await, (5..25).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_torn_tail_is_cut_and_the_records_before_it_kept() {
    let d = dir("torn");
    {
        let (w, _r) = open("t", cfg(&d, Fsync::Batch)).unwrap();
        append_n(&w, 0..3);
    }
    let last = segment_files(&d).pop().unwrap();
    let len = std::fs::metadata(&last).unwrap().len();
    // A crash in the middle of an append: half a frame at the end.
    let f = std::fs::OpenOptions::new().write(true).open(&last).unwrap();
    f.set_len(len - 5).unwrap();
    let (w, mut r) = open("t", cfg(&d, Fsync::Batch)).unwrap();
    append_n(&w, 10..12);
    drop(w);
    assert_eq!(drain(&mut r).await, vec![0, 1, 10, 11]);
}

#[tokio::test]
async fn a_corrupt_record_in_the_middle_is_skipped_alone() {
    let d = dir("corrupt");
    let mut c = cfg(&d, Fsync::Batch);
    c.segment_size = 1 << 20; // one segment
    {
        let (w, _r) = open("t", c.clone()).unwrap();
        append_n(&w, 0..5);
    }
    let seg = segment_files(&d).pop().unwrap();
    let mut data = std::fs::read(&seg).unwrap();
    let frame_len = frame::HEADER + 5 + record(0).len();
    data[frame::MAGIC.len() + frame_len * 2 + frame::HEADER + 7] ^= 0x40; // body of record 2
    std::fs::write(&seg, &data).unwrap();
    // Open keeps the intact records after the damage in the last segment,
    // and the reader skips the damaged one alone (it used to cut 3 and 4).
    let (w, mut r) = open("t", c.clone()).unwrap();
    append_n(&w, 5..6);
    drop(w);
    let got = drain(&mut r).await;
    assert_eq!(got, vec![0, 1, 3, 4, 5]);

    // In an older segment too, only the damaged record is skipped.
    let d = dir("corrupt-sealed");
    let c = cfg(&d, Fsync::Batch);
    {
        let (w, _r) = open("t", c.clone()).unwrap();
        append_n(&w, 0..30);
    }
    let first = segment_files(&d).remove(0);
    let mut data = std::fs::read(&first).unwrap();
    data[frame::MAGIC.len() + frame_len + frame::HEADER + 7] ^= 0x40; // record 1
    std::fs::write(&first, &data).unwrap();
    let (w, mut r) = open("t", c).unwrap();
    drop(w);
    let got = drain(&mut r).await;
    let mut want: Vec<u32> = (0..30).collect();
    want.remove(1);
    assert_eq!(got, want);
}

#[tokio::test]
async fn block_waits_for_room_and_drop_oldest_drops() {
    let d = dir("full");
    let frame_len = (frame::HEADER + 5 + record(0).len()) as u64;
    let mut c = WalConfig::new(&d, frame_len * 10, WhenFull::DropOldest, Fsync::Batch);
    c.segment_size = frame_len * 3 + 8;
    let (w, mut r) = open("t", c).unwrap();
    append_n(&w, 0..25);
    drop(w);
    let got = drain(&mut r).await;
    assert!(got.len() <= 10, "at most max_size stays queued: {got:?}");
    assert_eq!(got.last(), Some(&24), "the newest records are kept");
    assert!(got.windows(2).all(|p| p[0] < p[1]));

    let d = dir("block");
    // Room for four records and the headers of their two segments.
    let mut c = WalConfig::new(&d, frame_len * 4 + 16, WhenFull::Block, Fsync::Always);
    c.segment_size = frame_len * 2 + 8;
    let (w, mut r) = open("t", c).unwrap();
    append_n(&w, 0..4);
    let writer = std::thread::spawn(move || {
        w.append(Signal::Logs, 1, &[&record(4)]).unwrap(); // blocks until room
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!writer.is_finished(), "a full queue blocks the writer");
    let first = r.next(2, 1 << 20).await.unwrap();
    assert_eq!(first.records.len(), 2);
    r.ack();
    tokio::task::spawn_blocking(move || writer.join().unwrap())
        .await
        .unwrap();
    assert_eq!(drain(&mut r).await, vec![2, 3, 4]);
}

#[tokio::test]
async fn a_record_larger_than_the_queue_is_refused() {
    let d = dir("large");
    let (w, _r) = open("t", WalConfig::new(&d, 100, WhenFull::Block, Fsync::Batch)).unwrap();
    let big = vec![0u8; 200];
    assert!(matches!(
        w.append(Signal::Logs, 1, &[&big]),
        Err(AppendError::TooLarge { .. })
    ));
}

#[tokio::test]
async fn every_fsync_mode_keeps_records_across_a_reopen() {
    for (i, mode) in [
        Fsync::Always,
        Fsync::Batch,
        Fsync::Interval(Duration::from_millis(10)),
    ]
    .into_iter()
    .enumerate()
    {
        let d = dir(&format!("fsync{i}"));
        {
            let (w, _r) = open("t", cfg(&d, mode)).unwrap();
            append_n(&w, 0..7);
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        let (w, mut r) = open("t", cfg(&d, mode)).unwrap();
        drop(w);
        assert_eq!(drain(&mut r).await, (0..7).collect::<Vec<_>>(), "{mode:?}");
    }
}

#[test]
fn fsync_settings_parse() {
    assert_eq!("always".parse(), Ok(Fsync::Always));
    assert_eq!("batch".parse(), Ok(Fsync::Batch));
    assert_eq!(
        "interval:1s".parse(),
        Ok(Fsync::Interval(Duration::from_secs(1)))
    );
    assert_eq!(
        "sometimes".parse::<Fsync>().unwrap_err().to_string(),
        "expected always, batch or interval:<duration> (e.g. interval:1s), got \"sometimes\""
    );
    assert!("interval:0".parse::<Fsync>().is_err());
}

#[test]
fn an_unwritable_directory_is_an_error_naming_it() {
    let d = dir("unwritable");
    std::fs::create_dir_all(&d).unwrap();
    let file = d.join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = open(
        "t",
        WalConfig::new(file.join("q"), 1 << 20, WhenFull::Block, Fsync::Batch),
    )
    .err()
    .expect("cannot create a directory under a file");
    assert!(err.to_string().contains("not-a-dir/q"), "{err}");
    assert!(err.to_string().contains("cannot create it"), "{err}");
}

#[tokio::test]
async fn a_later_owner_takes_the_log_over_and_the_same_owner_is_refused() {
    let d = dir("owner");
    let first = Owner::next();
    let (w1, mut r1) = open_as(first, "a", cfg(&d, Fsync::Batch)).unwrap();
    let err = open_as(first, "b", cfg(&d, Fsync::Batch)).err().unwrap();
    assert!(
        err.to_string()
            .contains("is already the queue of exporter \"a\""),
        "{err}"
    );
    append_n(&w1, 0..10);
    let read = r1.next(3, 1 << 20).await.unwrap();
    assert_eq!(read.records.iter().map(id).collect::<Vec<_>>(), [0, 1, 2]);
    r1.ack();
    // The old reader has 3..6 in flight when the new graph takes over.
    let in_flight = r1.next(3, 1 << 20).await.unwrap();
    assert_eq!(in_flight.records.len(), 3);

    let (w2, mut r2) = open_as(Owner::next(), "a", cfg(&d, Fsync::Batch)).unwrap();
    let start = r2.gate();
    // Not started yet: the old reader still owns the log.
    assert!(!r1.is_handed_over());
    start.go();
    assert!(r2.activate().await);
    assert!(r1.is_handed_over());
    r1.ack(); // too late: touches nothing
    assert!(r1.next(3, 1 << 20).await.is_none(), "the old reader stops");
    append_n(&w2, 10..12);
    drop((w1, w2, r1));
    assert_eq!(drain(&mut r2).await, (3..12).collect::<Vec<_>>());
    drop(r2);
    // Everything is closed: the directory can be opened again.
    let (_w, mut r) = open("a", cfg(&d, Fsync::Batch)).unwrap();
    assert_eq!(r.backlog_records(), 0);
    drop(_w);
    assert!(drain(&mut r).await.is_empty());
}

/// The number of a segment file's first record, from its name.
fn first_of(seg: &std::path::Path) -> u32 {
    seg.file_stem().unwrap().to_str().unwrap().parse().unwrap()
}

/// Writes 30 records in segments of a few records each, then closes the log.
fn sealed_log(name: &str) -> (TestDir, WalConfig) {
    let d = dir(name);
    let c = cfg(&d, Fsync::Batch);
    let (w, _r) = open("t", c.clone()).unwrap();
    append_n(&w, 0..30);
    (d, c)
}

async fn reopen_and_drain(c: &WalConfig) -> Vec<u32> {
    let (w, mut r) = open("t", c.clone()).unwrap();
    drop(w);
    drain(&mut r).await
}

#[tokio::test]
async fn a_damaged_length_resynchronises_on_the_next_intact_record() {
    let frame_len = frame::HEADER + 5 + record(0).len();
    for last in [false, true] {
        let (d, c) = sealed_log(if last { "len-last" } else { "len-older" });
        let files = segment_files(&d);
        let seg = if last { files.last() } else { files.first() }
            .unwrap()
            .clone();
        let first = first_of(&seg);
        let mut data = std::fs::read(&seg).unwrap();
        // The length of the segment's second record: its frame end is lost.
        data[frame::MAGIC.len() + frame_len + 2] = 0x33;
        std::fs::write(&seg, &data).unwrap();
        let got = reopen_and_drain(&c).await;
        let want: Vec<u32> = (0..30).filter(|&i| i != first + 1).collect();
        assert_eq!(got, want, "last segment: {last}");
    }
}

#[tokio::test]
async fn a_missing_middle_segment_loses_only_its_records() {
    let (d, c) = sealed_log("missing-middle");
    let files = segment_files(&d);
    assert!(files.len() >= 3, "{files:?}");
    let gone = &files[1];
    let (from, to) = (first_of(gone), first_of(&files[2]));
    std::fs::remove_file(gone).unwrap();
    let got = reopen_and_drain(&c).await;
    let want: Vec<u32> = (0..30).filter(|i| !(from..to).contains(i)).collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn a_zero_length_first_segment_loses_only_its_records() {
    let (d, c) = sealed_log("zero-first");
    let files = segment_files(&d);
    let second = first_of(&files[1]);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&files[0])
        .unwrap()
        .set_len(0)
        .unwrap();
    let got = reopen_and_drain(&c).await;
    assert_eq!(got, (second..30).collect::<Vec<_>>());
}

#[tokio::test]
async fn an_ack_past_the_end_exports_everything_again() {
    let (d, c) = sealed_log("ack-past-end");
    // A well-formed ack file that claims record 3000.
    let mut buf = [0u8; 12];
    buf[..8].copy_from_slice(&3000u64.to_le_bytes());
    let crc = crc32c::crc32c(&buf[..8]);
    buf[8..].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(d.join("ack"), buf).unwrap();
    assert_eq!(reopen_and_drain(&c).await, (0..30).collect::<Vec<_>>());
}

#[test]
fn a_second_open_of_a_locked_directory_fails_naming_it() {
    let d = dir("locked");
    let c = cfg(&d, Fsync::Batch);
    // Another process's lock, as far as this log is concerned.
    std::fs::create_dir_all(&d).unwrap();
    let holder = std::fs::File::create(d.join("lock")).unwrap();
    holder.lock().unwrap();
    let err = open("t", c).err().unwrap().to_string();
    assert!(
        err.contains(&d.display().to_string()) && err.contains("in use by another process"),
        "{err}"
    );
}
