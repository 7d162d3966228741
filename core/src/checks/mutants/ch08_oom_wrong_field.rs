//! Mutant: the OOM kill read from the wrong field — v2 "oom" (times the
//! limit could not be met), v1 "under_oom" (only "right now", 0 after the kill).
use anyhow::Result;
use mini_docker::cgroups::keyed_value;
use mini_docker::cgroups::v1::CgroupV1;
use mini_docker::cgroups::v2::CgroupV2;

pub fn oom_kills_v2(cgroup: &CgroupV2) -> Result<u64> {
    Ok(keyed_value(&cgroup.dir.join("memory.events"), "oom").unwrap_or(0))
}

pub fn oom_kills_v1(cgroup: &CgroupV1) -> Result<u64> {
    let file = cgroup.dir("memory").join("memory.oom_control");
    Ok(keyed_value(&file, "under_oom").unwrap_or(0))
}
