//! Chapter 8 — cgroups: the container's cgroup, from mkdir to rmdir.
//! Lesson: chapters/08-cgroups.md

use std::fs;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use nix::unistd::Pid;

use mini_docker::cgroups::v1::{CgroupV1, Hierarchy};
use mini_docker::cgroups::v2::{missing_controllers, CgroupV2};
use mini_docker::cgroups::{keyed_value, Limits, PARENT};

/// The CFS bandwidth period: quotas are "this many µs of CPU per 100 ms".
pub const CPU_PERIOD_US: u64 = 100_000;

/// `--cpus 0.5` -> (quota, period) = (50000, 100000): half of one CPU's time per period.
pub fn cpu_quota(cpus: f64) -> (u64, u64) {
    ((cpus * CPU_PERIOD_US as f64).round() as u64, CPU_PERIOD_US)
}

// ---- cgroup v2: one tree ----------------------------------------------------

/// ROOT/mini-docker/ID, with memory, pids and cpu usable in it.
pub fn create_v2(root: &Path, id: &str) -> Result<CgroupV2> {
    let parent = root.join(PARENT);
    // A controller reaches a cgroup only through every ancestor's
    // subtree_control: the root's first, then mini-docker's.
    enable_controllers(root)?;
    fs::create_dir_all(&parent).with_context(|| format!("create {}", parent.display()))?;
    enable_controllers(&parent)?;
    let dir = parent.join(id);
    fs::create_dir(&dir).with_context(|| format!("create {}", dir.display()))?; // a new id: never reuse one
    Ok(CgroupV2 { dir })
}

/// "+memory +pids +cpu" — only those missing; the others are left as they are.
fn enable_controllers(cgroup: &Path) -> Result<()> {
    let missing = missing_controllers(cgroup);
    if missing.is_empty() {
        return Ok(());
    }
    let words: Vec<String> = missing.iter().map(|c| format!("+{c}")).collect();
    let file = cgroup.join("cgroup.subtree_control");
    fs::write(&file, words.join(" ")).with_context(|| format!("write {}", file.display()))
}

/// cgroup v2: one directory, files named after their controller.
pub fn write_limits_v2(cgroup: &CgroupV2, limits: &Limits) -> Result<()> {
    if let Some(bytes) = limits.memory_bytes {
        cgroup.write("memory.max", &bytes.to_string())?; // above this: reclaim, then the OOM killer
    }
    if let Some(pids) = limits.pids {
        cgroup.write("pids.max", &pids.to_string())?; // fork() fails with EAGAIN at the limit
    }
    if let Some(cpus) = limits.cpus {
        let (quota, period) = cpu_quota(cpus);
        cgroup.write("cpu.max", &format!("{quota} {period}"))?; // "QUOTA PERIOD" in one file
    }
    Ok(())
}

/// The waiting init goes in, and only then may it run its command: what it
/// forks from now on is born inside.
pub fn join_v2(cgroup: &CgroupV2, pid: Pid, release: &dyn Fn() -> Result<()>) -> Result<()> {
    cgroup.write("cgroup.procs", &pid.to_string())?;
    release()
}

/// memory.events counts "oom_kill": processes the OOM killer killed here.
pub fn oom_kills_v2(cgroup: &CgroupV2) -> Result<u64> {
    Ok(keyed_value(&cgroup.dir.join("memory.events"), "oom_kill").unwrap_or(0))
}

pub fn remove_v2(cgroup: &CgroupV2) -> Result<()> {
    rmdir_retrying(&cgroup.dir)
}

// ---- cgroup v1: a tree per controller ---------------------------------------

/// mini-docker/ID in each hierarchy; once per mount (cpu and cpuacct often share one).
pub fn create_v1(hierarchies: &[Hierarchy], id: &str) -> Result<CgroupV1> {
    let mut cgroup = CgroupV1 { dirs: Vec::new() };
    for hierarchy in hierarchies {
        let dir = hierarchy.mount.join(PARENT).join(id);
        let shared = cgroup.dirs.iter().any(|(_, d)| *d == dir);
        if !shared {
            if let Err(error) = fs::create_dir_all(&dir) {
                let _ = remove_v1(&cgroup); // what we made so far
                return Err(error).with_context(|| format!("create {}", dir.display()));
            }
        }
        cgroup.dirs.push((hierarchy.controller, dir));
    }
    Ok(cgroup)
}

/// cgroup v1: a hierarchy per controller, older file names.
pub fn write_limits_v1(cgroup: &CgroupV1, limits: &Limits) -> Result<()> {
    if let Some(bytes) = limits.memory_bytes {
        cgroup.write("memory", "memory.limit_in_bytes", &bytes.to_string())?;
    }
    if let Some(pids) = limits.pids {
        cgroup.write("pids", "pids.max", &pids.to_string())?;
    }
    if let Some(cpus) = limits.cpus {
        let (quota, period) = cpu_quota(cpus);
        cgroup.write("cpu", "cpu.cfs_period_us", &period.to_string())?; // period first: quota is checked against it
        cgroup.write("cpu", "cpu.cfs_quota_us", &quota.to_string())?;
    }
    Ok(())
}

/// v1 counts a process per hierarchy: it joins each one, then runs.
pub fn join_v1(cgroup: &CgroupV1, pid: Pid, release: &dyn Fn() -> Result<()>) -> Result<()> {
    for dir in cgroup.unique_dirs() {
        let procs = dir.join("cgroup.procs");
        fs::write(&procs, pid.to_string()).with_context(|| format!("write {pid} to {}", procs.display()))?;
    }
    release()
}

/// memory.oom_control's "oom_kill" (under_oom only says "right now").
pub fn oom_kills_v1(cgroup: &CgroupV1) -> Result<u64> {
    let file = cgroup.dir("memory").join("memory.oom_control");
    Ok(keyed_value(&file, "oom_kill").unwrap_or(0))
}

/// Every hierarchy's directory; on an error, the others still go.
pub fn remove_v1(cgroup: &CgroupV1) -> Result<()> {
    let results: Vec<Result<()>> = cgroup.unique_dirs().into_iter().map(rmdir_retrying).collect();
    results.into_iter().collect()
}

/// rmdir — never rm -r: a cgroup's files are the kernel's. EBUSY while the
/// last processes are still dying: wait a little, try again.
fn rmdir_retrying(dir: &Path) -> Result<()> {
    for _ in 0..50 {
        match fs::remove_dir(dir) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            other => return other.with_context(|| format!("rmdir {}", dir.display())),
        }
    }
    fs::remove_dir(dir).with_context(|| format!("rmdir {} (still busy after 1 s)", dir.display()))
}
