//! An append-only file of complete lines, with size-based rotation like the
//! Collector's (lumberjack): when a write would push the file past its limit
//! it is renamed to `<stem>-<UTC yyyy-mm-ddTHH-MM-SS.mmm>.<ext>`, a new file
//! is started, and only the newest `max_backups` renamed files are kept.
//!
//! Lines are never torn by this writer: a line goes whole into one file, a
//! failed write is resumed at the exact byte where it stopped, and a torn last
//! line left by a crash is cut off when the file is opened.
//!
//! A path that is not a regular file (`/dev/null`, a FIFO, a terminal) is
//! written as a stream: no rotation (renaming `/dev/null` would break the
//! machine), no tail repair and no cutting back, since a device has no end to
//! cut and refuses `ftruncate` and `fsync`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::text::Utc;

/// When to rotate, and how many rotated files to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate before the file would grow past this many bytes.
    pub max_bytes: u64,
    /// Rotated files to keep; 0 keeps them all (as lumberjack does).
    pub max_backups: usize,
}

pub struct LineFile {
    path: PathBuf,
    file: File,
    /// Bytes in the current file.
    size: u64,
    /// The file ends inside a line (a write failed part-way): the rest of
    /// that line must go into this file before anything else happens.
    mid_line: bool,
    rotation: Option<Rotation>,
    /// A regular file, which can be rotated, cut back and fsynced; `false`
    /// for a device or a FIFO, which is only written to.
    regular: bool,
    /// Bumped at every rotation, so a [`Mark`] knows whether its file is
    /// still the current one.
    generation: u64,
}

/// Where the file ended at some moment, to cut a failed batch back off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    generation: u64,
    size: u64,
}

impl LineFile {
    /// Opens `path` for appending, creating it and its parent folders, and
    /// cuts off a torn last line. Errors name the path.
    pub fn open(path: &Path, rotation: Option<Rotation>) -> io::Result<LineFile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)
                .map_err(|e| context(e, format!("cannot create folder {}", dir.display())))?;
        }
        let mut file =
            open_append(path).map_err(|e| context(e, format!("cannot open {}", path.display())))?;
        let regular = file
            .metadata()
            .map_err(|e| context(e, format!("cannot check {}", path.display())))?
            .is_file();
        if !regular && rotation.is_some() {
            tracing::warn!(file = %path.display(), "not a regular file: written as a stream, never rotated");
        }
        let size = if regular {
            repair_tail(&mut file, path)
                .map_err(|e| context(e, format!("cannot check the end of {}", path.display())))?
        } else {
            0
        };
        Ok(LineFile {
            path: path.to_owned(),
            file,
            size,
            mid_line: false,
            rotation: rotation.filter(|_| regular),
            regular,
            generation: 0,
        })
    }

    /// Where the file ends now.
    pub fn mark(&self) -> Mark {
        Mark {
            generation: self.generation,
            size: self.size,
        }
    }

    /// Cuts off what was written since `mark`, so a batch that failed
    /// part-way leaves nothing behind and its retry writes it once. Lines
    /// that went into a file rotated away since cannot be taken back: the
    /// new file is emptied and those lines will be written again.
    pub fn rollback(&mut self, mark: Mark) -> io::Result<()> {
        let keep = if mark.generation == self.generation {
            mark.size
        } else {
            0
        };
        self.mid_line = false;
        if self.size == keep {
            return Ok(());
        }
        if !self.regular {
            // What went into a device or a pipe cannot be taken back; the
            // retry writes those lines again.
            tracing::warn!(file = %self.path.display(), "a failed batch was partly written into a stream; those lines will be written again");
            self.size = keep;
            return Ok(());
        }
        if mark.generation != self.generation {
            tracing::warn!(file = %self.path.display(), "a failed batch was partly written into a rotated file; those lines will be written again");
        }
        // Another writer of the same file (the old and the new graph for a
        // moment during a reload) may have appended after us: cutting would
        // take its acknowledged lines away. Keep everything instead; the
        // failed batch's lines may then be written twice.
        let on_disk = self
            .file
            .metadata()
            .map_err(|e| context(e, format!("cannot check {}", self.path.display())))?
            .len();
        if on_disk != self.size {
            let grown = on_disk.saturating_sub(self.size);
            self.size = on_disk;
            self.mid_line = false;
            return Err(io::Error::other(format!(
                "{} grew by {grown} bytes from another writer; a failed batch is left in it",
                self.path.display()
            )));
        }
        self.file
            .set_len(keep)
            .map_err(|e| context(e, format!("cannot cut {} back", self.path.display())))?;
        self.size = keep;
        Ok(())
    }

    /// Forces what was written to disk (nothing to force for a device).
    pub fn sync(&self) -> io::Result<()> {
        if !self.regular {
            return Ok(());
        }
        self.file
            .sync_data()
            .map_err(|e| context(e, format!("cannot fsync {}", self.path.display())))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the complete lines at the front of `buf` and removes what was
    /// written from it. On error the unwritten bytes stay in `buf`, and the
    /// next call goes on from there.
    pub fn write_lines(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        let end = match buf.iter().rposition(|&b| b == b'\n') {
            Some(i) => i + 1,
            None => return Ok(()),
        };
        let mut off = 0;
        let result = loop {
            if off == end {
                break Ok(());
            }
            let cut = match self.next_cut(&buf[off..end]) {
                Cut::At(n) => off + n,
                Cut::Rotate => match self.rotate() {
                    Ok(()) => continue,
                    Err(e) => break Err(e),
                },
            };
            let (written, result) = write_tracked(&mut self.file, &buf[off..cut]);
            off += written;
            self.size += written as u64;
            if written > 0 {
                self.mid_line = buf[off - 1] != b'\n';
            }
            if let Err(e) = result {
                break Err(context(e, format!("cannot write {}", self.path.display())));
            }
        };
        buf.drain(..off);
        result
    }

    /// How much of `lines` (complete lines) to write into the current file.
    fn next_cut(&self, lines: &[u8]) -> Cut {
        let first_line = || {
            lines
                .iter()
                .position(|&b| b == b'\n')
                .map_or(lines.len(), |i| i + 1)
        };
        if self.mid_line {
            return Cut::At(first_line());
        }
        let Some(rotation) = self.rotation else {
            return Cut::At(lines.len());
        };
        let room = rotation.max_bytes.saturating_sub(self.size);
        if lines.len() as u64 <= room {
            return Cut::At(lines.len());
        }
        // `room` < lines.len(), so it fits in usize.
        match lines[..room as usize].iter().rposition(|&b| b == b'\n') {
            Some(i) => Cut::At(i + 1),
            None if self.size > 0 => Cut::Rotate,
            // A line longer than the limit gets a file of its own.
            None => Cut::At(first_line()),
        }
    }

    /// Renames the current file to a timestamped backup, starts a new one and
    /// deletes the oldest backups beyond `max_backups`.
    fn rotate(&mut self) -> io::Result<()> {
        let backup = self.free_backup_name();
        fs::rename(&self.path, &backup).map_err(|e| {
            context(
                e,
                format!(
                    "cannot rotate {} to {}",
                    self.path.display(),
                    backup.display()
                ),
            )
        })?;
        self.file = open_append(&self.path)
            .map_err(|e| context(e, format!("cannot open {}", self.path.display())))?;
        self.size = 0;
        self.mid_line = false;
        self.generation += 1;
        tracing::debug!(file = %self.path.display(), backup = %backup.display(), "rotated");
        if let Some(r) = self.rotation.filter(|r| r.max_backups > 0) {
            if let Err(e) = prune_backups(&self.path, r.max_backups) {
                tracing::warn!(file = %self.path.display(), error = %e, "cannot delete old rotated files");
            }
        }
        Ok(())
    }

    /// `<stem>-<now>.<ext>`; if two rotations fall in one millisecond the
    /// later one takes the next free millisecond, so no backup is overwritten.
    fn free_backup_name(&self) -> PathBuf {
        let mut ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        loop {
            let stamp = Utc::from_unix_nanos(ms.saturating_mul(1_000_000)).file_stamp();
            let candidate = backup_name(&self.path, &stamp);
            if !candidate.exists() {
                return candidate;
            }
            ms += 1;
        }
    }
}

enum Cut {
    At(usize),
    Rotate,
}

fn context(e: io::Error, what: String) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
}

/// Writes `bytes`, returning how many were written even when it fails part-way.
fn write_tracked(file: &mut File, bytes: &[u8]) -> (usize, io::Result<()>) {
    let mut done = 0;
    while done < bytes.len() {
        match file.write(&bytes[done..]) {
            Ok(0) => return (done, Err(io::ErrorKind::WriteZero.into())),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (done, Err(e)),
        }
    }
    (done, Ok(()))
}

/// If the file does not end with a newline (a crash mid-write), truncates it
/// back to just after its last newline. Returns the resulting size.
fn repair_tail(file: &mut File, path: &Path) -> io::Result<u64> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(0);
    }
    const CHUNK: u64 = 64 * 1024;
    let mut chunk = vec![0u8; CHUNK as usize];
    let mut end = len;
    let keep = loop {
        let start = end.saturating_sub(CHUNK);
        let part = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(part)?;
        if let Some(i) = part.iter().rposition(|&b| b == b'\n') {
            break start + i as u64 + 1;
        }
        if start == 0 {
            break 0;
        }
        end = start;
    };
    if keep < len {
        file.set_len(keep)?;
        tracing::warn!(
            file = %path.display(),
            "removed an incomplete last line of {} bytes, left by an interrupted write",
            len - keep
        );
    }
    Ok(keep)
}

/// The file name of a rotated copy of `path` made at `stamp`.
fn backup_name(path: &Path, stamp: &str) -> PathBuf {
    let (prefix, ext) = name_parts(path);
    path.with_file_name(format!("{prefix}-{stamp}{ext}"))
}

/// (`stem`, `.ext`) of the file name, `ext` empty when there is none.
fn name_parts(path: &Path) -> (String, String) {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    (stem, ext)
}

/// The rotated copies of `path`, oldest first.
pub fn backups(path: &Path) -> io::Result<Vec<PathBuf>> {
    let (stem, ext) = name_parts(path);
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d,
        None => Path::new("."),
    };
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let stamp = name
            .strip_prefix(stem.as_str())
            .and_then(|n| n.strip_prefix('-'))
            .and_then(|n| n.strip_suffix(ext.as_str()));
        if stamp.is_some_and(is_stamp) {
            found.push(entry.path());
        }
    }
    // The stamps sort in time order.
    found.sort();
    Ok(found)
}

/// `2026-11-21T23-28-07.774`
fn is_stamp(s: &str) -> bool {
    const PATTERN: &[u8] = b"dddd-dd-ddTdd-dd-dd.ddd";
    s.len() == PATTERN.len()
        && s.bytes().zip(PATTERN).all(|(b, &p)| match p {
            b'd' => b.is_ascii_digit(),
            p => b == p,
        })
}

fn prune_backups(path: &Path, keep: usize) -> io::Result<()> {
    let found = backups(path)?;
    let excess = found.len().saturating_sub(keep);
    for old in &found[..excess] {
        fs::remove_file(old)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(c: Cut) -> Option<usize> {
        match c {
            Cut::At(n) => Some(n),
            Cut::Rotate => None,
        }
    }

    #[test]
    fn a_rollback_never_cuts_lines_another_writer_appended() {
        let dir = std::env::temp_dir().join(format!("ccpipe-exporters-two-{}", std::process::id()));
        let path = dir.join("out.jsonl");
        let _ = fs::remove_dir_all(&dir);
        let mut old = LineFile::open(&path, None).unwrap();
        let mut new = LineFile::open(&path, None).unwrap();
        old.write_lines(&mut b"acknowledged\n".to_vec()).unwrap();
        let mark = old.mark();
        old.write_lines(&mut b"failed batch\n".to_vec()).unwrap();
        new.write_lines(&mut b"the new graph's line\n".to_vec())
            .unwrap();
        assert!(old.rollback(mark).is_err(), "the cut is refused");
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text, "acknowledged\nfailed batch\nthe new graph's line\n",
            "nothing another writer put there is cut"
        );
        // Alone again, a rollback cuts as before.
        let mark = old.mark();
        old.write_lines(&mut b"another failed batch\n".to_vec())
            .unwrap();
        old.rollback(mark).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), text);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn cuts_fall_on_line_ends() {
        let dir = std::env::temp_dir().join(format!("ccpipe-exporters-cut-{}", std::process::id()));
        let rotation = Rotation {
            max_bytes: 10,
            max_backups: 0,
        };
        let mut f = LineFile::open(&dir.join("x.jsonl"), Some(rotation)).unwrap();
        let lines = b"aaa\nbbbb\ncc\n";
        assert_eq!(cut(f.next_cut(lines)), Some(9), "the lines that fit");
        f.size = 8;
        assert_eq!(cut(f.next_cut(lines)), None, "no line fits: rotate");
        // After a write that stopped mid-line, that line is finished in this
        // file even past the limit, so no backup ends torn.
        f.mid_line = true;
        assert_eq!(cut(f.next_cut(lines)), Some(4));
        f.mid_line = false;
        f.size = 0;
        assert_eq!(
            cut(f.next_cut(b"0123456789abc\nd\n")),
            Some(14),
            "an oversized line alone"
        );
        drop(f);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn backup_names_keep_the_extension() {
        let stamp = "2026-11-21T23-28-07.774";
        assert!(is_stamp(stamp));
        assert!(!is_stamp("2026-11-21T23-28-07"));
        assert_eq!(
            backup_name(Path::new("/d/claude.jsonl"), stamp),
            Path::new("/d/claude-2026-11-21T23-28-07.774.jsonl")
        );
        assert_eq!(
            backup_name(Path::new("out"), stamp),
            Path::new("out-2026-11-21T23-28-07.774")
        );
    }
}
