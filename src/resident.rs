//! Lets go of the file pages start-up touched, once ccpipe is running
//! (src/main.rs calls it when ready and again when start-up's tail has run).
//!
//! Start-up (config, every component's construction, the runtime) runs code
//! from all over the executable, and the kernel maps file pages around each
//! fault (64–128 KiB, or a whole large folio): 11–14 MB of the 16 MB of
//! `.text` are resident after start, most of it never run again. Dropping
//! the mappings of pages that were only read (code, constants) costs
//! nothing: they stay in the page cache, and what runs again is mapped back
//! by a minor fault. Pages a process wrote (relocations, data) are never
//! dropped: only read-only private file mappings without a private copy of
//! any page qualify, so nothing can be lost.
//!
//! The kernel still counts these pages in the peak (`VmHWM`) and, in a
//! container, in the cgroup's page cache; what falls is the resident set an
//! idle ccpipe holds (bench/README.md, "peak and idle RSS").

/// One mapping of `/proc/self/smaps` that may be dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Clean {
    start: usize,
    end: usize,
}

/// The read-only private file mappings of `smaps` with no private
/// (anonymous) pages: their pages are exactly the file's.
fn clean_file_mappings(smaps: &str) -> Vec<Clean> {
    let mut found = Vec::new();
    let mut current: Option<Clean> = None;
    for line in smaps.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(first) = fields.next() else {
            continue;
        };
        if let Some((start, end)) = first.split_once('-').filter(|_| !first.ends_with(':')) {
            let perms = fields.next().unwrap_or("");
            let path = fields.nth(3).unwrap_or("");
            let read_only_private = perms.len() == 4
                && perms.starts_with('r')
                && &perms[1..2] == "-"
                && perms.ends_with('p');
            current = match (
                read_only_private && path.starts_with('/'),
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            ) {
                (true, Ok(start), Ok(end)) if start < end => Some(Clean { start, end }),
                _ => None,
            };
        } else if first == "Anonymous:" {
            let anonymous_kb = fields.next().and_then(|v| v.parse::<u64>().ok());
            if let Some(clean) = current.take() {
                if anonymous_kb == Some(0) {
                    found.push(clean);
                }
            }
        }
    }
    found
}

/// Drops this process's mappings of clean file pages (see the module
/// comment); returns the bytes of address space advised, 0 when
/// `/proc/self/smaps` cannot be read.
#[allow(unsafe_code)]
pub fn release_startup_pages() -> usize {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return 0;
    };
    let mut released = 0;
    for Clean { start, end } in clean_file_mappings(&smaps) {
        // SAFETY: the range is a whole read-only private file mapping with
        // no anonymous page (checked in smaps just above; a read-only
        // mapping cannot gain one without an mprotect, which ccpipe never
        // does). MADV_DONTNEED on it only unmaps page-cache pages: the next
        // access maps the same bytes of the file again. No Rust reference
        // can observe a difference.
        let advised =
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
        if advised == 0 {
            released += end - start;
        }
    }
    released
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d0a0000000-55d0a0100000 r--p 00000000 fe:01 123 /usr/local/bin/ccpipe
Rss:                 512 kB
Anonymous:             0 kB
55d0a0100000-55d0a1000000 r-xp 00100000 fe:01 123 /usr/local/bin/ccpipe
Rss:               11000 kB
Anonymous:             0 kB
55d0a1000000-55d0a10b0000 r--p 01000000 fe:01 123 /usr/local/bin/ccpipe
Rss:                 704 kB
Anonymous:           704 kB
55d0a10b0000-55d0a10c0000 rw-p 010b0000 fe:01 123 /usr/local/bin/ccpipe
Anonymous:            32 kB
55d0a2000000-55d0a2100000 rw-p 00000000 00:00 0                  [heap]
Anonymous:          1600 kB
7f0000000000-7f0000001000 r--s 00000000 fe:01 9 /dev/shm/shared
Anonymous:             0 kB
7f0000002000-7f0000003000 r-xp 00000000 00:00 0                  [vdso]
Anonymous:             0 kB
7f0000004000-7f0000005000 r--p 00000000 fe:01 77 /usr/lib/x86_64-linux-gnu/libc.so.6
Size:                  4 kB
Anonymous:             0 kB
";

    #[test]
    fn only_read_only_private_file_mappings_without_private_pages() {
        let found = clean_file_mappings(SMAPS);
        assert_eq!(
            found,
            [
                Clean {
                    start: 0x55d0a0000000,
                    end: 0x55d0a0100000
                },
                Clean {
                    start: 0x55d0a0100000,
                    end: 0x55d0a1000000
                },
                Clean {
                    start: 0x7f0000004000,
                    end: 0x7f0000005000
                },
            ],
            "not the relocated one (anonymous pages), data, the heap, shared or vdso"
        );
    }

    #[test]
    fn nothing_from_garbage() {
        assert!(clean_file_mappings("").is_empty());
        assert!(clean_file_mappings("zz-yy r--p 0 0 0 /x\nAnonymous: 0 kB\n").is_empty());
        assert!(clean_file_mappings("10-0 r--p 0 0 0 /x\nAnonymous: 0 kB\n").is_empty());
        assert!(clean_file_mappings("10-20 r--p 0 0 0 /x\nAnonymous: x kB\n").is_empty());
    }

    /// Rss of the mapping starting at `start`, from this process's smaps.
    fn rss_kb(start: usize) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let header = format!("{start:x}-");
        let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&header));
        lines.next().expect("the mapping is listed");
        let rss = lines.find(|l| l.starts_with("Rss:")).unwrap();
        rss.split_ascii_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap()
    }

    /// A real read-only mapping of a file (this test's own executable) is
    /// dropped and reads back the same; a private copy written to is kept.
    #[test]
    #[allow(unsafe_code)]
    fn read_pages_are_dropped_and_come_back_written_ones_stay() {
        use std::os::fd::AsRawFd;
        let file = std::fs::File::open("/proc/self/exe").unwrap();
        let len = 256 << 10;
        let map = |prot| {
            // SAFETY: a fresh private mapping of a file we hold open.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    prot,
                    libc::MAP_PRIVATE,
                    file.as_raw_fd(),
                    0,
                )
            };
            assert_ne!(p, libc::MAP_FAILED);
            p as *mut u8
        };
        let read_only = map(libc::PROT_READ);
        let written = map(libc::PROT_READ | libc::PROT_WRITE);
        // SAFETY: both mappings are `len` bytes long and stay mapped below.
        let (ro, rw) = unsafe {
            (
                std::slice::from_raw_parts(read_only, len),
                std::slice::from_raw_parts_mut(written, len),
            )
        };
        let before = ro.to_vec();
        rw[100] = rw[100].wrapping_add(1);
        let touched: u64 = ro.iter().step_by(4096).map(|&b| u64::from(b)).sum();
        std::hint::black_box(touched);
        assert!(
            rss_kb(read_only as usize) >= 4,
            "the read pages are resident"
        );

        assert!(release_startup_pages() >= len);
        assert_eq!(rss_kb(read_only as usize), 0, "dropped");
        assert_eq!(ro, &before[..], "and read back from the file");
        assert_eq!(
            rw[100],
            before[100].wrapping_add(1),
            "the written copy is kept"
        );
        // SAFETY: unmapping what was mapped above; the slices die here.
        unsafe {
            libc::munmap(read_only.cast(), len);
            libc::munmap(written.cast(), len);
        }
    }
}
