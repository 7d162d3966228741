//! Mutant: one rmdir, no retry — EBUSY while the last process is still
//! dying fails the removal (and the cgroup is left behind).
use std::fs;

use anyhow::{Context, Result};
use mini_docker::cgroups::v1::CgroupV1;
use mini_docker::cgroups::v2::CgroupV2;

pub fn remove_v2(cgroup: &CgroupV2) -> Result<()> {
    fs::remove_dir(&cgroup.dir).with_context(|| format!("rmdir {}", cgroup.dir.display()))
}

pub fn remove_v1(cgroup: &CgroupV1) -> Result<()> {
    for dir in cgroup.unique_dirs() {
        fs::remove_dir(dir).with_context(|| format!("rmdir {}", dir.display()))?;
    }
    Ok(())
}
