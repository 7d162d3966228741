//! Chapter 8 — cgroups: limits on memory, processes and CPU time.
//! Lesson: chapters/08-cgroups.md

use anyhow::Result;

use mini_docker::cgroups::v1::CgroupV1;
use mini_docker::cgroups::v2::CgroupV2;
use mini_docker::cgroups::Limits;

/// The CFS bandwidth period: quotas are "this many µs of CPU per 100 ms".
pub const CPU_PERIOD_US: u64 = 100_000;

/// `--cpus 0.5` -> (quota, period) = (50000, 100000): half of one CPU's time per period.
pub fn cpu_quota(cpus: f64) -> (u64, u64) {
    ((cpus * CPU_PERIOD_US as f64).round() as u64, CPU_PERIOD_US)
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
