//! Mutant: v1 treated like v2 — one directory (the memory hierarchy's),
//! joined and removed there only: no pids or cpu cgroup for the container.
use std::fs;

use anyhow::{Context, Result};
use mini_docker::cgroups::v1::{CgroupV1, Hierarchy};
use mini_docker::cgroups::PARENT;
use nix::unistd::Pid;

pub fn create_v1(hierarchies: &[Hierarchy], id: &str) -> Result<CgroupV1> {
    let memory = hierarchies
        .iter()
        .find(|h| h.controller == "memory")
        .context("no memory hierarchy")?;
    let dir = memory.mount.join(PARENT).join(id);
    fs::create_dir_all(&dir)?;
    // Every controller "lives" in the memory directory.
    let dirs = hierarchies
        .iter()
        .map(|h| (h.controller, dir.clone()))
        .collect();
    Ok(CgroupV1 { dirs })
}

pub fn join_v1(cgroup: &CgroupV1, pid: Pid, release: &dyn Fn() -> Result<()>) -> Result<()> {
    fs::write(cgroup.dir("memory").join("cgroup.procs"), pid.to_string())?;
    release()
}
