//! Chapter 8's scaffold: one `Cgroup` trait, a driver for cgroup v2 (one
//! unified tree) and one for v1 (a tree per controller), chosen by what is
//! mounted at /sys/fs/cgroup. Each container gets its own cgroup under a
//! `mini-docker` parent; we never touch cgroups we did not create.

pub mod devices;
pub mod v1;
pub mod v2;

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

/// The parent of every container's cgroup, in each hierarchy.
pub const PARENT: &str = "mini-docker";

/// What a container may use (`-m`, `--pids-limit`, `--cpus`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub memory_bytes: Option<u64>,
    pub pids: Option<u64>,
    pub cpus: Option<f64>,
}

impl Limits {
    pub fn any(&self) -> bool {
        self.memory_bytes.is_some() || self.pids.is_some() || self.cpus.is_some()
    }
}

/// `-m 32m`: bytes with an optional k/m/g suffix (powers of 1024, like docker).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size(pub u64);

impl FromStr for Size {
    type Err = anyhow::Error;
    fn from_str(text: &str) -> Result<Size> {
        let lower = text.trim().to_ascii_lowercase();
        let lower = lower.strip_suffix('b').unwrap_or(&lower);
        let (digits, unit) = match lower.chars().last() {
            Some('k') => (&lower[..lower.len() - 1], 1u64 << 10),
            Some('m') => (&lower[..lower.len() - 1], 1 << 20),
            Some('g') => (&lower[..lower.len() - 1], 1 << 30),
            _ => (lower, 1),
        };
        let bytes = digits.parse::<u64>().ok().and_then(|n| n.checked_mul(unit));
        match bytes {
            Some(b) if b >= 6 << 20 => Ok(Size(b)),
            Some(_) => bail!("-m {text}: a container needs at least 6 MiB"),
            None => bail!("-m {text:?}: expected a size like 512k, 32m or 1g"),
        }
    }
}

/// What differs between v1 and v2 — everything else is shared.
pub trait Cgroup: Send {
    /// Where it lives (for messages).
    fn describe(&self) -> String;
    /// Which driver this is, for the chapter 8 step that writes its limits.
    fn driver(&self) -> Driver<'_>;
    /// The same, for chapter 11's device allow-list.
    fn devices(&self) -> devices::DeviceCgroup<'_> {
        match self.driver() {
            Driver::V1(v1) => devices::DeviceCgroup::V1(v1),
            Driver::V2(v2) => devices::DeviceCgroup::V2(v2),
        }
    }
    /// What the driver adds once the limits are written (v2: no swap beyond memory.max).
    fn after_limits(&self, limits: &Limits) -> Result<()>;
    /// How the container's first process gets in without the kernel's global
    /// migration lock (see `FastEntry`); opened by the supervisor.
    fn fast_entry(&self) -> Result<FastEntry>;
    /// Its directories (one per v1 hierarchy; v2: one), for the scaffold's
    /// own clean-up when the learner's `remove` step could not.
    fn dirs(&self) -> Vec<PathBuf>;
}

/// The two drivers: chapter 8's steps exist once for each (`create_v1` / `_v2`, ...).
pub enum Driver<'a> {
    V1(&'a v1::CgroupV1),
    V2(&'a v2::CgroupV2),
}

/// Moving a process into a cgroup by pid (`echo PID > cgroup.procs`) takes a
/// kernel-wide lock whose first taker waits for an RCU grace period: 5-13 ms
/// measured here, more than a whole container start. Two ways around it:
pub enum FastEntry {
    /// v1: the child writes "0" to each hierarchy's `tasks` first thing. A
    /// thread moving itself skips the lock; the child is one thread then, so
    /// the process moves whole. We open the files: the kernel checks the
    /// opener's rights, and the child may already be in a user namespace.
    SelfJoin(Vec<std::os::fd::OwnedFd>),
    /// v2: clone3(CLONE_INTO_CGROUP) with this directory: born inside.
    BornInto(std::os::fd::OwnedFd),
}

/// Open `path` for writing (v1 `tasks`) or as a directory (v2), for `FastEntry`.
pub fn open_for_entry(path: &Path, directory: bool) -> Result<std::os::fd::OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = fs::OpenOptions::new();
    if directory {
        options.read(true).custom_flags(libc::O_DIRECTORY);
    } else {
        options.write(true);
    }
    let file = options
        .open(path)
        .with_context(|| format!("open {}", path.display()))?;
    Ok(file.into())
}

/// Which cgroup layout the host has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// cgroup2 at /sys/fs/cgroup (Ubuntu 22.04+, Debian 12 by default).
    V2,
    /// v1 hierarchies; `hybrid`: a controller-less cgroup2 at /sys/fs/cgroup/unified too.
    V1 { hybrid: bool },
}

/// statfs(2) magic numbers tell cgroup2 from a tmpfs of v1 mounts.
pub fn detect() -> Result<Mode> {
    use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC, TMPFS_MAGIC};
    let magic = |p: &str| statfs(p).ok().map(|s| s.filesystem_type());
    match magic("/sys/fs/cgroup") {
        Some(CGROUP2_SUPER_MAGIC) => Ok(Mode::V2),
        Some(TMPFS_MAGIC) => Ok(Mode::V1 { hybrid: magic("/sys/fs/cgroup/unified") == Some(CGROUP2_SUPER_MAGIC) }),
        _ => bail!("no cgroup filesystem at /sys/fs/cgroup: mount cgroup2 there (see `mini-docker doctor`)"),
    }
}

/// The container's cgroup on this host's layout, made, joined, read and
/// removed by chapter 8's steps; removed when dropped.
pub struct ContainerCgroup {
    cgroup: Box<dyn Cgroup>,
    steps: crate::workshop::ch08_cgroups::Steps,
}

impl ContainerCgroup {
    /// `devices`: chapter 11 restricts devices (v1: one more hierarchy to join).
    pub fn create(
        id: &str,
        limits: &Limits,
        devices: bool,
        steps: crate::workshop::ch08_cgroups::Steps,
    ) -> Result<ContainerCgroup> {
        let cgroup: Box<dyn Cgroup> = match detect()? {
            Mode::V2 => Box::new(steps.create_v2(Path::new(v2::ROOT), id)?),
            Mode::V1 { .. } => {
                let hierarchies = v1::hierarchies(limits.cpus.is_some(), devices)?;
                Box::new(steps.create_v1(&hierarchies, id)?)
            }
        };
        Ok(ContainerCgroup { cgroup, steps })
    }

    /// Chapter 8's join step: the waiting init goes in, then `release` lets
    /// it run its command. Returns an error if the step never released it.
    pub fn join(&self, pid: Pid, release: &dyn Fn() -> Result<()>) -> Result<()> {
        let released = std::cell::Cell::new(false);
        let release_once = || {
            released.set(true);
            release()
        };
        match self.cgroup.driver() {
            Driver::V1(v1) => self.steps.join_v1(v1, pid, &release_once)?,
            Driver::V2(v2) => self.steps.join_v2(v2, pid, &release_once)?,
        }
        if !released.get() {
            bail!("the join step returned without calling release(): the container still waits for its go");
        }
        Ok(())
    }

    /// How many processes the OOM killer killed in here (chapter 8's step).
    pub fn oom_kills(&self) -> Result<u64> {
        match self.cgroup.driver() {
            Driver::V1(v1) => self.steps.oom_kills_v1(v1),
            Driver::V2(v2) => self.steps.oom_kills_v2(v2),
        }
    }

    /// Chapter 8's remove step; if it fails (or is still `todo!()`), say so
    /// and remove the directories anyway: a check must never leave the host dirty.
    fn remove(&self) {
        let steps = self.steps;
        let learners = || match self.cgroup.driver() {
            Driver::V1(v1) => steps.remove_v1(v1),
            Driver::V2(v2) => steps.remove_v2(v2),
        };
        // Unwinding from another panic: a second one would abort; just clean up.
        let outcome = (!std::thread::panicking()).then(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(learners))
                .unwrap_or_else(|_| Err(anyhow::anyhow!("it panicked")))
        });
        let left: Vec<PathBuf> = self
            .cgroup
            .dirs()
            .into_iter()
            .filter(|d| d.exists())
            .collect();
        match &outcome {
            Some(Err(error)) => eprintln!(
                "mini-docker: removing the cgroup failed ({error:#}); the scaffold removes it"
            ),
            Some(Ok(())) if !left.is_empty() => {
                eprintln!("mini-docker: the remove step left {left:?}; the scaffold removes it")
            }
            _ => {}
        }
        for dir in left {
            let _ = remove_dir_retrying(&dir);
        }
    }
}

impl std::ops::Deref for ContainerCgroup {
    type Target = dyn Cgroup;
    fn deref(&self) -> &(dyn Cgroup + 'static) {
        &*self.cgroup
    }
}

impl Drop for ContainerCgroup {
    fn drop(&mut self) {
        self.remove();
    }
}

/// `mini-docker cleanup`: remove the (empty) mini-docker parents we made.
pub fn remove_parents() -> Vec<String> {
    let mut parents = vec![Path::new("/sys/fs/cgroup").join(PARENT)];
    if let Ok(entries) = fs::read_dir("/sys/fs/cgroup") {
        parents.extend(entries.flatten().map(|e| e.path().join(PARENT)));
    }
    let mut removed = Vec::new();
    for parent in parents {
        if parent.is_dir() && fs::remove_dir(&parent).is_ok() {
            removed.push(format!("removed cgroup {}", parent.display()));
        }
    }
    removed
}

/// The cgroups of container `id` — `mini-docker/ID` in every hierarchy (v2:
/// one; v1: one per controller) — removed with any cgroup made inside them
/// and any process still in them: for a check whose mini-docker was killed
/// before its own clean-up. Never the `mini-docker` parents, which other
/// containers share. Returns what could not be removed.
pub fn remove_container_cgroups(id: &str) -> Vec<anyhow::Error> {
    let mut parents = vec![Path::new(v2::ROOT).join(PARENT)];
    if let Ok(entries) = fs::read_dir(v2::ROOT) {
        parents.extend(entries.flatten().map(|e| e.path().join(PARENT)));
    }
    parents
        .into_iter()
        .map(|parent| parent.join(id))
        .filter(|dir| dir.is_dir())
        .filter_map(|dir| remove_tree(&dir).err())
        .collect()
}

/// Children first: a cgroup with a child cgroup cannot be removed (EBUSY).
fn remove_tree(dir: &Path) -> Result<()> {
    let children = fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))?;
    for child in children.flatten() {
        if child.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&child.path())?;
        }
    }
    // SIGKILL whatever is still in this container's cgroup: it is the container's.
    let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    for pid in procs.lines().filter_map(|l| l.trim().parse().ok()) {
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
    remove_dir_retrying(dir)
}

/// rmdir, retried while the kernel still counts a dying process (EBUSY).
/// The scaffold's own (a dead keeper's clean-up, a failed remove step);
/// the learner writes theirs in chapter 8.
pub(crate) fn remove_dir_retrying(dir: &Path) -> Result<()> {
    for attempt in 0..50 {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 49 => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e).with_context(|| format!("rmdir {}", dir.display())),
        }
    }
    Ok(())
}

/// Write one control file, naming it in the error.
pub fn write_file(path: &Path, value: &str) -> Result<()> {
    fs::write(path, value).with_context(|| format!("write {value:?} to {}", path.display()))
}

/// A `key value` line of a flat-keyed file (memory.events, cpu.stat, memory.oom_control).
pub fn keyed_value(path: &Path, key: &str) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// "32 MiB" for the OOM message.
pub fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 => format!("{} MiB", b >> 20),
        b => format!("{} KiB", b >> 10),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_docker() {
        assert_eq!("32m".parse::<Size>().unwrap(), Size(32 << 20));
        assert_eq!("1G".parse::<Size>().unwrap(), Size(1 << 30));
        assert_eq!("8192k".parse::<Size>().unwrap(), Size(8 << 20));
        for bad in ["", "m", "12x", "1k", "-5m", "99999999999999999999g"] {
            assert!(bad.parse::<Size>().is_err(), "{bad}");
        }
        assert_eq!(human_bytes(32 << 20), "32 MiB");
    }
}

/// Chapter 11: what the container's own cgroup filesystem is, seen from its
/// cgroup namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CgroupFs {
    /// One cgroup2 mount.
    V2,
    /// A tmpfs with one v1 hierarchy in it per entry, named by its
    /// controllers as the host mounts them ("memory", "cpu,cpuacct").
    /// Empty in a user namespace: v1 hierarchies cannot be mounted there.
    V1 { hierarchies: Vec<String> },
}

impl CgroupFs {
    /// This host's layout; `in_user_namespace`: no v1 hierarchy can be
    /// mounted. On v1, only the hierarchies the container has a cgroup of
    /// its own in (`cpu`: it joined cpu,cpuacct too): in the others its
    /// cgroup namespace's root would be mini-docker's cgroup, a host one.
    pub fn of_host(in_user_namespace: bool, cpu: bool) -> Result<CgroupFs> {
        let mut joined = vec!["memory", "pids", "devices"];
        if cpu {
            joined.extend(["cpu", "cpuacct"]);
        }
        match detect()? {
            Mode::V2 => Ok(CgroupFs::V2),
            Mode::V1 { .. } if in_user_namespace => Ok(CgroupFs::V1 {
                hierarchies: Vec::new(),
            }),
            Mode::V1 { .. } => Ok(CgroupFs::V1 {
                hierarchies: v1_hierarchies(&fs::read_to_string("/proc/self/mountinfo")?)
                    .into_iter()
                    .filter(|h| h.split(',').any(|c| joined.contains(&c)))
                    .collect(),
            }),
        }
    }
}

/// The controllers of each v1 hierarchy mounted on the host ("cpu,cpuacct").
fn v1_hierarchies(mountinfo: &str) -> Vec<String> {
    const CONTROLLERS: &[&str] = &[
        "cpu",
        "cpuacct",
        "cpuset",
        "memory",
        "devices",
        "freezer",
        "net_cls",
        "net_prio",
        "blkio",
        "perf_event",
        "hugetlb",
        "pids",
        "rdma",
        "misc",
    ];
    let mut found: Vec<String> = Vec::new();
    for line in mountinfo.lines() {
        let Some((_, right)) = line.split_once(" - ") else {
            continue;
        };
        let fields: Vec<&str> = right.split(' ').collect();
        if fields.first() != Some(&"cgroup") {
            continue;
        }
        let options = fields.get(2).copied().unwrap_or_default();
        let controllers: Vec<&str> = options
            .split(',')
            .filter(|o| CONTROLLERS.contains(o))
            .collect();
        let name = controllers.join(",");
        if !controllers.is_empty() && !found.contains(&name) {
            found.push(name);
        }
    }
    found
}
