//! Mutant: rm -r on cgroupfs — remove_dir_all unlinks the kernel's
//! interface files first (EPERM), so the cgroup is never removed.
use anyhow::{Context, Result};
use mini_docker::cgroups::v1::CgroupV1;
use mini_docker::cgroups::v2::CgroupV2;

pub fn remove_v2(cgroup: &CgroupV2) -> Result<()> {
    std::fs::remove_dir_all(&cgroup.dir).with_context(|| format!("rm -r {}", cgroup.dir.display()))
}

pub fn remove_v1(cgroup: &CgroupV1) -> Result<()> {
    for dir in cgroup.unique_dirs() {
        std::fs::remove_dir_all(dir).with_context(|| format!("rm -r {}", dir.display()))?;
    }
    Ok(())
}
