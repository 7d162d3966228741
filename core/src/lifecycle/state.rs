//! STATE_DIR/containers/ID/state.json: what a container is, and where it is
//! in its life. Written whole to a temporary file and renamed over the old
//! one (rename(2) is atomic: a reader sees the old file or the new, never
//! half of one), under the container's `state.lock` so two writers (a `stop`
//! and the shim recording the exit) never lose each other's change.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::runtime::supervisor::ExitError;
use crate::sys::lock::FileLock;

pub const STATE_FILE: &str = "state.json";
const LOCK_FILE: &str = "state.lock";

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Exited,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
        }
    }
}

/// A bind mount, as `inspect` shows it.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct MountRecord {
    pub source: String,
    pub destination: String,
    pub read_only: bool,
}

/// One container's record. Times are nanoseconds since the epoch (0: never).
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct State {
    pub id: String,
    pub name: Option<String>,
    pub image: String,
    /// The command the container runs (entrypoint + cmd).
    pub command: Vec<String>,
    pub env: Vec<String>,
    pub hostname: String,
    pub created: u64,
    pub status: Status,
    /// The container's PID 1 (as the host sees it) and its start time in
    /// clock ticks since boot (/proc/PID/stat field 22): a pid alone may be
    /// a new process by the time we look.
    pub pid: i32,
    pub pid_start: u64,
    /// Its keeper: the shim (`run -d`, `start`) or the foreground `run`.
    pub shim_pid: i32,
    pub shim_start: u64,
    pub exit_code: Option<i32>,
    pub started: u64,
    pub finished: u64,
    pub oom_killed: bool,
    pub ports: Vec<String>,
    pub mounts: Vec<MountRecord>,
    pub ip_address: Option<String>,
    /// `run --rm`: removed when it exits.
    pub auto_remove: bool,
    /// The `mini-docker` arguments that made it, and where they were given:
    /// `start` runs them again (the same flags, the same writable layer).
    pub args: Vec<String>,
    pub cwd: String,
    /// Docker labels (the daemon's create; compose's project and service):
    /// `docker ps --filter label=` and compose find containers by them.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
    /// The user-defined network (the daemon's networks API) it is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Endpoint>,
}

/// A container's place on a user-defined network: the network's name and
/// the names the other members know it by (compose's service name).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoint {
    pub network: String,
    pub aliases: Vec<String>,
}

impl State {
    /// The status with the liveness check: a container whose keeper is gone
    /// (killed with SIGKILL, a reboot) is not running, whatever the file says.
    pub fn effective(&self) -> Status {
        match self.status {
            Status::Running if !alive(self.shim_pid, self.shim_start) => Status::Exited,
            status => status,
        }
    }

    /// The exit status, also of a container whose keeper died: its PID 1 got
    /// SIGKILL with it (PR_SET_PDEATHSIG, or its PID namespace ended): 137.
    pub fn effective_exit_code(&self) -> i32 {
        match (self.effective(), self.status) {
            (Status::Exited, Status::Running) => 128 + libc::SIGKILL,
            _ => self.exit_code.unwrap_or(0),
        }
    }

    pub fn is_running(&self) -> bool {
        self.effective() == Status::Running
    }

    /// The PID 1 still there, the same process (not a reused pid).
    pub fn container_alive(&self) -> bool {
        self.is_running() && alive(self.pid, self.pid_start)
    }
}

pub fn containers_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("containers")
}

pub fn container_dir(state_dir: &Path, id: &str) -> PathBuf {
    containers_dir(state_dir).join(id)
}

/// Read a container's state; never partial (see the module comment).
pub fn read(dir: &Path) -> Result<State> {
    let path = dir.join(STATE_FILE);
    let text = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("parse {}", path.display()))
}

/// The state of every container that has one, oldest first.
pub fn list(state_dir: &Path) -> Vec<State> {
    let Ok(entries) = std::fs::read_dir(containers_dir(state_dir)) else {
        return Vec::new();
    };
    let mut all: Vec<State> = entries
        .flatten()
        .filter_map(|e| read(&e.path()).ok())
        .collect();
    all.sort_by_key(|s| s.created);
    all
}

/// Write `state` whole: a temporary file, then rename over the old one.
fn write(dir: &Path, state: &State) -> Result<()> {
    let temp = dir.join(format!(".{STATE_FILE}.{}", std::process::id()));
    let text = serde_json::to_vec_pretty(state)?;
    std::fs::write(&temp, text).with_context(|| format!("write {}", temp.display()))?;
    std::fs::rename(&temp, dir.join(STATE_FILE))
        .with_context(|| format!("rename {} into place", temp.display()))
}

/// Hold the container's lock; an error if the container was removed
/// meanwhile (a `rm` that held the lock before us).
pub fn lock(dir: &Path) -> Result<FileLock> {
    let held = FileLock::exclusive_in_place(&dir.join(LOCK_FILE))
        .map_err(|_| anyhow::anyhow!("no such container: {}", short(dir)))?;
    if !dir.exists() {
        bail!("no such container: {}", short(dir));
    }
    Ok(held)
}

/// Change the state under the lock: read, `change`, write atomically. A
/// missing file starts from `State::default()` (the first record).
pub fn update(dir: &Path, change: impl FnOnce(&mut State)) -> Result<State> {
    let _held = lock(dir)?;
    let mut state = read(dir).unwrap_or_default();
    change(&mut state);
    write(dir, &state)?;
    Ok(state)
}

fn short(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A container by full id, name or unambiguous id prefix (docker's order:
/// a name that looks like a prefix of some id is still that name).
pub fn resolve(state_dir: &Path, text: &str) -> Result<String> {
    if !text.is_empty() && container_dir(state_dir, text).join(STATE_FILE).exists() {
        return Ok(text.to_string());
    }
    let by_name = state_dir.join("names").join(text);
    if let Ok(id) = std::fs::read_to_string(&by_name) {
        let id = id.trim().to_string();
        if container_dir(state_dir, &id).join(STATE_FILE).exists() {
            return Ok(id);
        }
    }
    // The directory names are the ids: no state file parsed (a `rm -f` of
    // 100 short ids would read 100 x 100 of them).
    let matching: Vec<String> = std::fs::read_dir(containers_dir(state_dir))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|id| !text.is_empty() && id.starts_with(text))
        .filter(|id| container_dir(state_dir, id).join(STATE_FILE).exists())
        .collect();
    match matching.as_slice() {
        [id] => Ok(id.clone()),
        [] => bail!("no such container: {text}"),
        // docker's daemon answers this (invalid parameter); its CLI exits 1.
        _ => Err(ExitError {
            code: 1,
            message: format!("multiple IDs found with provided prefix: {text}"),
        }
        .into()),
    }
}

/// Now, in nanoseconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The start time of `pid` in clock ticks since boot (/proc/PID/stat field
/// 22), or None if there is no such process.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and ')': count after the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    // Fields from 3 on; the start time is field 22.
    after.split_whitespace().nth(19)?.parse().ok()
}

/// `pid` is the process that started at `start` (and not a zombie).
pub fn alive(pid: i32, start: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(after) = stat.rfind(')').map(|at| &stat[at + 1..]) else {
        return false;
    };
    let mut fields = after.split_whitespace();
    let zombie = matches!(fields.next(), Some("Z" | "X"));
    !zombie && fields.nth(18).and_then(|t| t.parse().ok()) == Some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_start_time_is_read_and_a_wrong_one_is_not_alive() {
        let me = std::process::id() as i32;
        let start = start_time(me).expect("our own /proc/self/stat");
        assert!(alive(me, start));
        assert!(!alive(me, start + 1), "a reused pid is another process");
        assert!(!alive(0, 0));
    }

    /// Writers under the lock lose no update; readers never see half a file.
    #[test]
    fn concurrent_updates_and_reads_never_corrupt_the_state() {
        let dir = std::env::temp_dir().join(format!("md-race-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        update(&dir, |s| s.exit_code = Some(0)).unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            let reader = scope.spawn(|| {
                let mut reads = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    read(&dir).expect("a whole state file, always");
                    reads += 1;
                }
                reads
            });
            let writers: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        for _ in 0..50 {
                            update(&dir, |s| s.exit_code = s.exit_code.map(|n| n + 1)).unwrap();
                        }
                    })
                })
                .collect();
            writers.into_iter().for_each(|w| w.join().unwrap());
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            assert!(reader.join().unwrap() > 0);
        });
        assert_eq!(read(&dir).unwrap().exit_code, Some(400), "no update lost");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn updates_are_whole_files_and_prefixes_resolve_once() {
        let state_dir = std::env::temp_dir().join(format!("md-state-{}", std::process::id()));
        for id in ["abc111", "abc222", "def333"] {
            let dir = container_dir(&state_dir, id);
            std::fs::create_dir_all(&dir).unwrap();
            update(&dir, |s| s.id = id.to_string()).unwrap();
        }
        assert_eq!(resolve(&state_dir, "d").unwrap(), "def333");
        assert_eq!(resolve(&state_dir, "abc2").unwrap(), "abc222");
        let err = resolve(&state_dir, "abc").unwrap_err();
        assert_eq!(
            err.to_string(),
            "multiple IDs found with provided prefix: abc"
        );
        assert_eq!(err.downcast_ref::<ExitError>().map(|e| e.code), Some(1));
        let err = resolve(&state_dir, "zzz").unwrap_err().to_string();
        assert_eq!(err, "no such container: zzz");
        let dir = container_dir(&state_dir, "abc111");
        update(&dir, |s| s.exit_code = Some(3)).unwrap();
        assert_eq!(read(&dir).unwrap().exit_code, Some(3));
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "no temporary file stays behind");
        std::fs::remove_dir_all(&state_dir).unwrap();
    }
}
