//! Chapter 8 — cgroups: limits on memory, processes and CPU time.
//! Lesson: chapters/08-cgroups.md   Check: mini-docker check 8

use anyhow::Result;

use mini_docker::cgroups::v1::CgroupV1;
use mini_docker::cgroups::v2::CgroupV2;
use mini_docker::cgroups::Limits;

/// The CFS bandwidth period: quotas are "this many µs of CPU per 100 ms".
pub const CPU_PERIOD_US: u64 = 100_000;

/// `--cpus 0.5` -> (quota, period) = (50000, 100000): half of one CPU's time per period.
pub fn cpu_quota(cpus: f64) -> (u64, u64) {
    // TODO(ch08): quota = cpus * CPU_PERIOD_US (rounded), period = CPU_PERIOD_US.
    todo!("turn --cpus into a CFS quota and period")
}

/// cgroup v2: one directory, files named after their controller.
pub fn write_limits_v2(cgroup: &CgroupV2, limits: &Limits) -> Result<()> {
    // TODO(ch08): for each limit that is Some, cgroup.write(file, value):
    //   memory_bytes -> "memory.max"; pids -> "pids.max";
    //   cpus -> "cpu.max" with "QUOTA PERIOD" (see cpu_quota).
    todo!("write memory.max, pids.max and cpu.max")
}

/// cgroup v1: a hierarchy per controller, older file names.
pub fn write_limits_v1(cgroup: &CgroupV1, limits: &Limits) -> Result<()> {
    // TODO(ch08): cgroup.write(controller, file, value):
    //   ("memory", "memory.limit_in_bytes"), ("pids", "pids.max"),
    //   ("cpu", "cpu.cfs_period_us") then ("cpu", "cpu.cfs_quota_us").
    todo!("write memory.limit_in_bytes, pids.max and the CFS quota")
}
