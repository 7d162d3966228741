//! Chapter 8 — cgroups: the container's cgroup, from mkdir to rmdir.
//! Lesson: chapters/08-cgroups.md   Check: mini-docker check 8
//!
//! Five steps, each once for cgroup v2 (one tree) and once for v1 (a tree per
//! controller): create, write the limits, join, read the OOM kills, remove.
//! `mini-docker check 8` runs both versions on every host (v1 and v2 on scratch
//! directories laid out like each cgroupfs, and this host's real one).

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use nix::unistd::Pid;

use mini_docker::cgroups::v1::{CgroupV1, Hierarchy};
use mini_docker::cgroups::v2::{missing_controllers, CgroupV2};
use mini_docker::cgroups::{keyed_value, Limits, PARENT};

/// The CFS bandwidth period: quotas are "this many µs of CPU per 100 ms".
pub const CPU_PERIOD_US: u64 = 100_000;

/// `--cpus 0.5` -> (quota, period) = (50000, 100000): half of one CPU's time per period.
pub fn cpu_quota(cpus: f64) -> (u64, u64) {
    // TODO(ch08): how much CPU time per period is `cpus` CPUs' worth? Mind the
    //             rounding. Lesson: "Two layouts of the same idea";
    //             Documentation/scheduler/sched-bwc.rst.
    todo!("cpu_quota — chapters/08-cgroups.md, \"Two layouts of the same idea\"")
}

// ---- cgroup v2: one tree ----------------------------------------------------

/// ROOT/mini-docker/ID (`PARENT` is "mini-docker"), with memory, pids and cpu usable in it.
pub fn create_v2(root: &Path, id: &str) -> Result<CgroupV2> {
    // TODO(ch08): make the container's cgroup under `root`/PARENT. A controller
    //             is usable in a cgroup only if *every* ancestor hands it down:
    //             which file says so, in which order must the ancestors be
    //             told, and why may PARENT hold no process itself?
    //             `missing_controllers(dir)` says what a directory does not hand
    //             down yet. The kernel's cgroup-v2.rst, "Enabling and Disabling"
    //             and "No Internal Process Constraint"; lesson: "Creating it: top-down".
    todo!("create_v2 — chapters/08-cgroups.md, \"Creating it: top-down\"")
}

/// cgroup v2: one directory, files named after their controller.
pub fn write_limits_v2(cgroup: &CgroupV2, limits: &Limits) -> Result<()> {
    // TODO(ch08): write each limit that is set into the v2 interface files
    //             (`cgroup.write(file, value)`). Which files, and in what format?
    //             Documentation/admin-guide/cgroup-v2.rst (memory, pids, cpu);
    //             lesson: "Two layouts of the same idea".
    todo!("write_limits_v2 — chapters/08-cgroups.md, \"Two layouts of the same idea\"")
}

/// Put the container's waiting first process (`pid`) in; `release()` lets it run its command.
pub fn join_v2(cgroup: &CgroupV2, pid: Pid, release: &dyn Fn() -> Result<()>) -> Result<()> {
    // TODO(ch08): move `pid` into this cgroup from the host side, and let it
    //             go. Does the order matter — what would the command (and what
    //             it forks) escape otherwise? man 7 cgroups, "Creating cgroups
    //             and moving processes"; lesson: "Joining it: before exec".
    todo!("join_v2 — chapters/08-cgroups.md, \"Joining it: before exec\"")
}

/// How many processes the OOM killer killed in this cgroup.
pub fn oom_kills_v2(cgroup: &CgroupV2) -> Result<u64> {
    // TODO(ch08): which file counts the kills — not the times the limit was
    //             hit? cgroup-v2.rst, "memory.events"; `keyed_value` reads a
    //             "key value" line. Lesson: "Reading the OOM kill".
    todo!("oom_kills_v2 — chapters/08-cgroups.md, \"Reading the OOM kill\"")
}

/// Remove the container's cgroup once its processes are gone.
pub fn remove_v2(cgroup: &CgroupV2) -> Result<()> {
    // TODO(ch08): a cgroup's files belong to the kernel: how is a cgroup
    //             removed, and what does the kernel answer while the last
    //             processes are still dying? man 7 cgroups, "Removing
    //             cgroups"; lesson: "Removing it".
    todo!("remove_v2 — chapters/08-cgroups.md, \"Removing it\"")
}

// ---- cgroup v1: a tree per controller ---------------------------------------

/// mini-docker/ID in every hierarchy of `hierarchies` (controller, mount point).
pub fn create_v1(hierarchies: &[Hierarchy], id: &str) -> Result<CgroupV1> {
    // TODO(ch08): v1 has one tree per controller: the container needs its
    //             directory in each hierarchy it is handed — mind two
    //             controllers mounted together (cpu,cpuacct). Record each
    //             (controller, directory) in `CgroupV1::dirs`. If one fails,
    //             leave nothing behind. man 7 cgroups, "Cgroups version 1";
    //             lesson: "Creating it: top-down".
    todo!("create_v1 — chapters/08-cgroups.md, \"Creating it: top-down\"")
}

/// cgroup v1: a hierarchy per controller, older file names.
pub fn write_limits_v1(cgroup: &CgroupV1, limits: &Limits) -> Result<()> {
    // TODO(ch08): the same limits, through v1's files — one hierarchy per
    //             controller (`cgroup.write(controller, file, value)`). The kernel
    //             checks each write against what is already there: the order
    //             matters. Documentation/admin-guide/cgroup-v1/; lesson: the pitfall.
    todo!("write_limits_v1 — chapters/08-cgroups.md, \"The pitfall\"")
}

/// Put the waiting `pid` in; `release()` lets it run its command.
pub fn join_v1(cgroup: &CgroupV1, pid: Pid, release: &dyn Fn() -> Result<()>) -> Result<()> {
    // TODO(ch08): as join_v2 — but a v1 process has a cgroup in *each*
    //             hierarchy (`cgroup.unique_dirs()`). man 7 cgroups; lesson:
    //             "Joining it: before exec".
    todo!("join_v1 — chapters/08-cgroups.md, \"Joining it: before exec\"")
}

/// How many processes the OOM killer killed in this cgroup.
pub fn oom_kills_v1(cgroup: &CgroupV1) -> Result<u64> {
    // TODO(ch08): v1 reports OOM in the memory hierarchy's oom control file:
    //             which of its keys counts kills, and which only says "now"?
    //             Documentation/admin-guide/cgroup-v1/memory.rst, "OOM
    //             Control"; lesson: "Reading the OOM kill".
    todo!("oom_kills_v1 — chapters/08-cgroups.md, \"Reading the OOM kill\"")
}

/// Remove the container's directory from every hierarchy.
pub fn remove_v1(cgroup: &CgroupV1) -> Result<()> {
    // TODO(ch08): as remove_v2, in every hierarchy — and one failure must not
    //             leave the others behind. Lesson: "Removing it".
    todo!("remove_v1 — chapters/08-cgroups.md, \"Removing it\"")
}
