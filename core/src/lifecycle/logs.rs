//! The container's output, kept by its shim in docker's json-file format:
//! STATE_DIR/containers/ID/ID-json.log, one JSON object per line,
//! `{"log":"hello\n","stream":"stdout","time":"2026-12-01T14:05:06.1Z"}`,
//! with a size cap and rotation (`--log-opt max-size=10m --log-opt
//! max-file=3`), so a chatty container cannot fill the disk.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::state;
use super::time::rfc3339_nano;

/// docker splits longer lines into records of this size (no "\n" but the last's).
const MAX_RECORD: usize = 16 * 1024;

/// `--log-opt`: when to rotate and how many files to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogOptions {
    pub max_size: u64,
    pub max_file: u32,
    /// A terminal's output (`-t`): each chunk is a record as it comes, like
    /// docker's; a prompt has no newline, and an attached client (chapter
    /// 14's daemon follows this file) must see it at once.
    pub partial: bool,
}

/// Without options a container still gets a cap: 20 MiB in 5 files (docker's
/// `local` driver defaults); json-file's "unlimited" lets one container
/// fill the disk, which is what this file exists to prevent.
impl Default for LogOptions {
    fn default() -> LogOptions {
        LogOptions {
            max_size: 20 << 20,
            max_file: 5,
            partial: false,
        }
    }
}

impl LogOptions {
    /// `max-size=10m`, `max-file=3` (docker's names; other keys refused).
    pub fn parse(options: &[String]) -> Result<LogOptions> {
        let mut parsed = LogOptions::default();
        for option in options {
            let Some((key, value)) = option.split_once('=') else {
                bail!("--log-opt {option:?}: expected KEY=VALUE, e.g. max-size=10m");
            };
            match key {
                "max-size" => parsed.max_size = parse_size(value)?,
                "max-file" => {
                    parsed.max_file = value.parse().ok().filter(|n| *n >= 1).with_context(|| {
                        format!("--log-opt max-file={value}: expected a number of files, 1 or more")
                    })?
                }
                _ => bail!("--log-opt {key}: unknown option (max-size and max-file are known)"),
            }
        }
        Ok(parsed)
    }
}

/// `10m`, `512k`, `1g`, or bytes.
fn parse_size(text: &str) -> Result<u64> {
    let lower = text.to_ascii_lowercase();
    let (digits, unit) = match lower.chars().last() {
        Some('k') => (&lower[..lower.len() - 1], 1u64 << 10),
        Some('m') => (&lower[..lower.len() - 1], 1 << 20),
        Some('g') => (&lower[..lower.len() - 1], 1 << 30),
        _ => (lower.as_str(), 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .filter(|n| *n > 0)
        .with_context(|| format!("--log-opt max-size={text}: expected a size like 512k, 10m or 1g"))
}

/// One line of the log file.
#[derive(Serialize, Deserialize)]
pub struct Record {
    pub log: String,
    pub stream: String,
    pub time: String,
}

pub fn log_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}-json.log"))
}

/// `ID-json.log.N`: the Nth older file (1 = the newest of the rotated).
fn rotated(path: &Path, n: u32) -> PathBuf {
    PathBuf::from(format!("{}.{n}", path.display()))
}

/// The log file being written, opened when the first line comes (the
/// container's directory exists by then).
struct JsonLog {
    path: PathBuf,
    options: LogOptions,
    file: Option<File>,
    size: u64,
}

impl JsonLog {
    fn write(&mut self, stream: &str, bytes: &[u8]) {
        let record = Record {
            log: String::from_utf8_lossy(bytes).into_owned(),
            stream: stream.to_string(),
            time: rfc3339_nano(state::now()),
        };
        let Ok(mut line) = serde_json::to_vec(&record) else {
            return;
        };
        line.push(b'\n');
        if self.size > 0 && self.size + line.len() as u64 > self.options.max_size {
            self.rotate();
        }
        if self.file.is_none() {
            self.open();
        }
        if let Some(file) = &mut self.file {
            if file.write_all(&line).is_ok() {
                self.size += line.len() as u64;
            }
        }
    }

    fn open(&mut self) {
        let opened = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path);
        if let Ok(file) = opened {
            self.size = file.metadata().map(|m| m.len()).unwrap_or(0);
            self.file = Some(file);
        }
    }

    /// ID-json.log -> .1 -> .2 ... (the oldest dropped); one file: start over.
    fn rotate(&mut self) {
        self.file = None;
        let keep = self.options.max_file;
        if keep <= 1 {
            let _ = std::fs::remove_file(&self.path);
        } else {
            for n in (1..keep - 1).rev() {
                let _ = std::fs::rename(rotated(&self.path, n), rotated(&self.path, n + 1));
            }
            let _ = std::fs::rename(&self.path, rotated(&self.path, 1));
        }
        self.size = 0;
    }
}

/// One output pipe and its unfinished line.
struct Source {
    fd: OwnedFd,
    stream: &'static str,
    pending: Vec<u8>,
}

impl Source {
    /// Read what is there; false at EOF (the pending part is written then).
    fn pump(&mut self, log: &mut JsonLog, buf: &mut [u8]) -> bool {
        let n = nix::unistd::read(self.fd.as_raw_fd(), buf).unwrap_or(0);
        self.pending.extend_from_slice(&buf[..n]);
        while let Some(end) = self.next_record_end() {
            let record: Vec<u8> = self.pending.drain(..end).collect();
            log.write(self.stream, &record);
        }
        if (n == 0 || log.options.partial) && !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            log.write(self.stream, &rest);
        }
        n > 0
    }

    fn next_record_end(&self) -> Option<usize> {
        match self.pending.iter().position(|&b| b == b'\n') {
            Some(at) if at < MAX_RECORD => Some(at + 1),
            _ if self.pending.len() >= MAX_RECORD => Some(MAX_RECORD),
            _ => None,
        }
    }
}

/// The shim's log writer: both pipes into `path` until both end.
pub fn spawn_writer(
    stdout: OwnedFd,
    stderr: OwnedFd,
    path: PathBuf,
    options: LogOptions,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut log = JsonLog {
            path,
            options,
            file: None,
            size: 0,
        };
        let mut open = vec![
            Source {
                fd: stdout,
                stream: "stdout",
                pending: Vec::new(),
            },
            Source {
                fd: stderr,
                stream: "stderr",
                pending: Vec::new(),
            },
        ];
        let mut buf = vec![0u8; 64 * 1024];
        while !open.is_empty() {
            let ready = poll_readable(&open);
            let mut index = 0;
            open.retain_mut(|source| {
                let readable = ready.get(index).copied().unwrap_or(false);
                index += 1;
                !readable || source.pump(&mut log, &mut buf)
            });
        }
    })
}

/// poll(2) the sources: which have data (or EOF) to read.
fn poll_readable(sources: &[Source]) -> Vec<bool> {
    let mut fds: Vec<libc::pollfd> = sources
        .iter()
        .map(|s| libc::pollfd {
            fd: s.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `fds` is a valid array of pollfd of the length we pass.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
    if n < 0 {
        return vec![false; fds.len()];
    }
    fds.iter().map(|p| p.revents != 0).collect()
}

/// What `logs` prints.
pub struct Show {
    pub follow: bool,
    pub tail: Option<usize>,
    pub timestamps: bool,
}

/// `logs`: the rotated files oldest first, then the current one; with
/// `follow`, what comes next until the container is no longer running.
pub fn show(dir: &Path, id: &str, how: &Show) -> Result<()> {
    let path = log_path(dir, id);
    let mut records = Vec::new();
    for n in (1..=64).rev() {
        records.extend(read_records(&rotated(&path, n)));
    }
    let offset = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    records.extend(read_records(&path));
    let skip = how.tail.map_or(0, |n| records.len().saturating_sub(n));
    for record in &records[skip..] {
        print_record(record, how.timestamps);
    }
    if how.follow {
        follow(dir, &path, offset, how.timestamps);
    }
    Ok(())
}

fn read_records(path: &Path) -> Vec<Record> {
    let Ok(file) = File::open(path) else {
        return Vec::new();
    };
    BufReader::new(file)
        .lines()
        .map_while(|l| l.ok())
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect()
}

fn print_record(record: &Record, timestamps: bool) {
    let prefix = if timestamps {
        format!("{} ", record.time)
    } else {
        String::new()
    };
    let text = format!("{prefix}{}", record.log);
    if record.stream == "stderr" {
        let _ = std::io::stderr().write_all(text.as_bytes());
    } else {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

/// Print what is appended to `path` from `offset` on, until the container
/// stops running (then what is left). A rotation (the file shrank or is
/// another) starts again at the new file's beginning.
pub fn follow(dir: &Path, path: &Path, mut offset: u64, timestamps: bool) {
    loop {
        let running = state::read(dir).is_ok_and(|s| s.is_running());
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if size < offset {
            offset = 0; // rotated: the new file from its start
        }
        if size > offset {
            offset += print_from(path, offset, timestamps);
        } else if !running {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Print the whole lines of `path` from `offset`; returns the bytes taken.
fn print_from(path: &Path, offset: u64, timestamps: bool) -> u64 {
    let Ok(mut file) = File::open(path) else {
        return 0;
    };
    let mut text = String::new();
    if file.seek(SeekFrom::Start(offset)).is_err() || file.read_to_string(&mut text).is_err() {
        return 0;
    }
    let Some(end) = text.rfind('\n') else {
        return 0; // a line being written: next time
    };
    for line in text[..end].lines() {
        if let Ok(record) = serde_json::from_str::<Record>(line) {
            print_record(&record, timestamps);
        }
    }
    (end + 1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_like_dockers() {
        let opts =
            |v: &[&str]| LogOptions::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            opts(&["max-size=10m", "max-file=3"]).unwrap(),
            LogOptions {
                max_size: 10 << 20,
                max_file: 3,
                partial: false,
            }
        );
        assert!(opts(&["max-size=ten"]).is_err());
        assert!(opts(&["max-file=0"]).is_err());
        assert!(opts(&["color=red"]).is_err());
    }

    #[test]
    fn lines_become_records_and_the_file_rotates_under_its_cap() {
        let dir = std::env::temp_dir().join(format!("md-logs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = log_path(&dir, "x");
        let (out_r, out_w) = nix::unistd::pipe().unwrap();
        let (err_r, err_w) = nix::unistd::pipe().unwrap();
        let options = LogOptions {
            max_size: 1000,
            max_file: 3,
            partial: false,
        };
        let writer = spawn_writer(out_r, err_r, path.clone(), options);
        let mut out = File::from(out_w);
        for i in 0..100 {
            writeln!(out, "line {i}").unwrap();
        }
        File::from(err_w).write_all(b"no newline").unwrap();
        drop(out);
        writer.join().unwrap();
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        assert!(size(&path) <= 1000 && size(&rotated(&path, 2)) > 0);
        assert!(
            !rotated(&path, 3).exists(),
            "max-file=3: three files at most"
        );
        let last = read_records(&path);
        let stderr: Vec<_> = last.iter().filter(|r| r.stream == "stderr").collect();
        assert_eq!(stderr[0].log, "no newline");
        let stdout: Vec<_> = last.iter().filter(|r| r.stream == "stdout").collect();
        assert_eq!(stdout.last().unwrap().log, "line 99\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
