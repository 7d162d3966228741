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
    // TODO(ch08): how much CPU time per period is `cpus` CPUs' worth? Mind the
    //             rounding. Lesson: "Two layouts of the same idea";
    //             Documentation/scheduler/sched-bwc.rst.
    todo!("cpu_quota — chapters/08-cgroups.md, \"Two layouts of the same idea\"")
}

/// cgroup v2: one directory, files named after their controller.
pub fn write_limits_v2(cgroup: &CgroupV2, limits: &Limits) -> Result<()> {
    // TODO(ch08): write each limit that is set into the v2 interface files
    //             (`cgroup.write(file, value)`). Which files, and in what format?
    //             Documentation/admin-guide/cgroup-v2.rst (memory, pids, cpu);
    //             lesson: "Two layouts of the same idea".
    todo!("write_limits_v2 — chapters/08-cgroups.md, \"Two layouts of the same idea\"")
}

/// cgroup v1: a hierarchy per controller, older file names.
pub fn write_limits_v1(cgroup: &CgroupV1, limits: &Limits) -> Result<()> {
    // TODO(ch08): the same limits, through v1's files — one hierarchy per
    //             controller (`cgroup.write(controller, file, value)`). The kernel
    //             checks each write against what is already there: the order
    //             matters. Documentation/admin-guide/cgroup-v1/; lesson: the pitfall.
    todo!("write_limits_v1 — chapters/08-cgroups.md, \"The pitfall\"")
}
