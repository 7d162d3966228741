//! Mutant: the container is released before it joins (the pid goes into
//! cgroup.procs after the command already runs) — what it forks meanwhile
//! is born outside the limits.
use anyhow::Result;
use mini_docker::cgroups::v1::CgroupV1;
use mini_docker::cgroups::v2::CgroupV2;
use nix::unistd::Pid;

pub fn join_v2(cgroup: &CgroupV2, pid: Pid, release: &dyn Fn() -> Result<()>) -> Result<()> {
    release()?;
    cgroup.write("cgroup.procs", &pid.to_string())
}

pub fn join_v1(cgroup: &CgroupV1, pid: Pid, release: &dyn Fn() -> Result<()>) -> Result<()> {
    release()?;
    for dir in cgroup.unique_dirs() {
        std::fs::write(dir.join("cgroup.procs"), pid.to_string())?;
    }
    Ok(())
}
