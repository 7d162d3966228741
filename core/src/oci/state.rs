//! `<root>/<id>/`: what `create` leaves for the other commands — state.json
//! (the OCI state plus what we need: the init's start time, its cgroup
//! directories) and `exec.fifo` while the container waits for `start`.
//! `start`, `state`, `kill`, `delete` and `list` live here too: each is a
//! few lines over this record.

use std::collections::HashMap;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill as send, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

/// The file `create` writes; `state` prints its OCI part.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// The init, as the host sees it.
    pub pid: i32,
    /// Its start time (field 22 of /proc/PID/stat): a reused pid is not ours.
    pub starttime: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub annotations: HashMap<String, String>,
    /// The container's cgroup directories (one per v1 hierarchy, or one v2).
    pub cgroup_dirs: Vec<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Stopped,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
        }
    }
}

pub fn container_dir(root: &Path, id: &str) -> Result<PathBuf> {
    let valid = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+-.".contains(c));
    if !valid {
        bail!("invalid container id {id:?}: letters, digits and _+-. only");
    }
    Ok(root.join(id))
}

pub fn fifo_path(dir: &Path) -> PathBuf {
    dir.join("exec.fifo")
}

impl Record {
    pub fn load(root: &Path, id: &str) -> Result<Record> {
        let dir = container_dir(root, id)?;
        let text = std::fs::read_to_string(dir.join("state.json"))
            .map_err(|_| anyhow::anyhow!("container {id} does not exist"))?;
        serde_json::from_str(&text).with_context(|| format!("read the state of {id}"))
    }

    /// Written to a temporary name and renamed: never half a file.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let tmp = dir.join("state.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(self)?)
            .with_context(|| format!("write {}", tmp.display()))?;
        std::fs::rename(&tmp, dir.join("state.json")).context("rename state.json")
    }

    pub fn status(&self, dir: &Path) -> Status {
        if !self.alive() {
            return Status::Stopped;
        }
        if fifo_path(dir).exists() {
            Status::Created
        } else {
            Status::Running
        }
    }

    /// Our init still exists (not a zombie, not a reused pid).
    pub fn alive(&self) -> bool {
        match proc_stat(self.pid) {
            Some((state, start)) => state != 'Z' && state != 'X' && start == self.starttime,
            None => false,
        }
    }

    /// The OCI state (runtime-spec's "State").
    pub fn oci_state(&self, status: Status) -> serde_json::Value {
        let pid = if status == Status::Stopped {
            0
        } else {
            self.pid
        };
        serde_json::json!({
            "ociVersion": super::cli::SPEC_VERSION,
            "id": self.id,
            "status": status.as_str(),
            "pid": pid,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "annotations": self.annotations,
            "owner": "",
        })
    }
}

/// (state letter, start time) from /proc/PID/stat.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the last ')': the command name may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?; // field 22 overall
    Some((state, start))
}

pub fn print_state(root: &Path, id: &str) -> Result<()> {
    let record = Record::load(root, id)?;
    let status = record.status(&container_dir(root, id)?);
    println!(
        "{}",
        serde_json::to_string_pretty(&record.oci_state(status))?
    );
    Ok(())
}

/// `start`: open the exec fifo for reading — the init, blocked opening its
/// write end, goes on and writes one byte before it execs the process.
pub fn start(root: &Path, id: &str) -> Result<()> {
    let dir = container_dir(root, id)?;
    let record = Record::load(root, id)?;
    match record.status(&dir) {
        Status::Created => {}
        other => bail!("cannot start a container that is {}", other.as_str()),
    }
    let fifo = fifo_path(&dir);
    // Non-blocking: if the init died, a blocking open would wait forever.
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .with_context(|| format!("open {}", fifo.display()))?;
    loop {
        let mut fds = [libc::pollfd {
            fd: file.as_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        // SAFETY: one valid pollfd, for the length we pass.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), 1, 100) };
        if ready > 0 {
            let mut byte = [0u8; 1];
            if file.read(&mut byte).unwrap_or(0) == 1 {
                break;
            }
        }
        if !record.alive() {
            let _ = std::fs::remove_file(&fifo);
            bail!("container {id}: its process exited before it was started");
        }
    }
    std::fs::remove_file(&fifo).with_context(|| format!("remove {}", fifo.display()))
}

/// "TERM", "SIGTERM", "15" all mean SIGTERM.
pub fn parse_signal(text: &str) -> Result<Signal> {
    if let Ok(number) = text.parse::<i32>() {
        return Signal::try_from(number).map_err(|_| anyhow::anyhow!("no signal {number}"));
    }
    let upper = text.to_ascii_uppercase();
    let name = match upper.starts_with("SIG") {
        true => upper,
        false => format!("SIG{upper}"),
    };
    Signal::from_str(&name).map_err(|_| anyhow::anyhow!("no signal {text:?}"))
}

pub fn kill(root: &Path, id: &str, signal: Option<&str>, all: bool) -> Result<()> {
    let dir = container_dir(root, id)?;
    let record = Record::load(root, id)?;
    let signal = parse_signal(signal.unwrap_or("SIGTERM"))?;
    if record.status(&dir) == Status::Stopped {
        bail!("container {id} is not running");
    }
    if all {
        for pid in cgroup_pids(&record) {
            let _ = send(Pid::from_raw(pid), signal);
        }
    }
    send(Pid::from_raw(record.pid), signal).with_context(|| format!("kill {} {signal}", record.pid))
}

/// Every process in the container's cgroup.
fn cgroup_pids(record: &Record) -> Vec<i32> {
    let mut pids = Vec::new();
    for dir in &record.cgroup_dirs {
        let text = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in text.lines().filter_map(|l| l.trim().parse().ok()) {
            if !pids.contains(&pid) {
                pids.push(pid);
            }
        }
    }
    pids
}

/// `delete`: a created or stopped container goes; a running one with --force only.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let dir = container_dir(root, id)?;
    let record = match Record::load(root, id) {
        Ok(record) => record,
        Err(_) if force => {
            let _ = std::fs::remove_dir_all(&dir);
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let status = record.status(&dir);
    if status == Status::Running && !force {
        bail!("cannot delete container {id} that is not stopped: running (use --force)");
    }
    if status != Status::Stopped {
        for pid in cgroup_pids(&record) {
            let _ = send(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let _ = send(Pid::from_raw(record.pid), Signal::SIGKILL);
        wait_gone(&record, Duration::from_secs(10));
    }
    remove_cgroup(&record);
    std::fs::remove_dir_all(&dir).with_context(|| format!("remove {}", dir.display()))
}

/// The init is not our child (conmon reaps it): wait until it is gone or a zombie.
fn wait_gone(record: &Record, timeout: Duration) {
    let start = Instant::now();
    while record.alive() && start.elapsed() < timeout {
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn remove_cgroup(record: &Record) {
    for dir in &record.cgroup_dirs {
        // Every process must be gone first (a zombie leaves at once).
        let start = Instant::now();
        while !cgroup_pids_in(dir).is_empty() && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = crate::cgroups::remove_dir_retrying(dir);
    }
}

fn cgroup_pids_in(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

pub fn list(root: &Path, format: &str, quiet: bool) -> Result<()> {
    let mut states = Vec::new();
    if let Ok(entries) = std::fs::read_dir(root) {
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            if let Ok(record) = Record::load(root, &id) {
                let status = record.status(&entry.path());
                states.push(record.oci_state(status));
            }
        }
    }
    if quiet {
        for s in &states {
            println!("{}", s["id"].as_str().unwrap_or_default());
        }
    } else if format == "json" {
        println!("{}", serde_json::to_string(&states)?);
    } else {
        println!("ID\tPID\tSTATUS\tBUNDLE\tCREATED");
        for s in &states {
            println!(
                "{}\t{}\t{}\t{}\t{}",
                s["id"].as_str().unwrap_or_default(),
                s["pid"],
                s["status"].as_str().unwrap_or_default(),
                s["bundle"].as_str().unwrap_or_default(),
                s["created"].as_str().unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// Now, as runc writes times (RFC 3339, nanoseconds).
pub fn rfc3339_now() -> String {
    crate::lifecycle::time::rfc3339_nano(crate::lifecycle::state::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_in_every_spelling() {
        for s in ["TERM", "SIGTERM", "15", "term"] {
            assert_eq!(parse_signal(s).unwrap(), Signal::SIGTERM);
        }
        assert!(parse_signal("NOPE").is_err());
    }

    #[test]
    fn ids_cannot_leave_the_root() {
        for bad in ["", "..", "a/b", "../x"] {
            assert!(container_dir(Path::new("/run/x"), bad).is_err(), "{bad}");
        }
    }
}
