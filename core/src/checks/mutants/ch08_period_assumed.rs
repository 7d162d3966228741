//! Mutant: only the quota is written; the period is assumed to be the default
//! (v2: cpu.max "QUOTA" alone; v1: no cpu.cfs_period_us).
use anyhow::Result;
use mini_docker::cgroups::v1::CgroupV1;
use mini_docker::cgroups::v2::CgroupV2;
use mini_docker::cgroups::Limits;

use super::ch08_quota_truncated::{write_memory_and_pids_v1, write_memory_and_pids_v2};

pub fn write_limits_v2(cgroup: &CgroupV2, limits: &Limits) -> Result<()> {
    write_memory_and_pids_v2(cgroup, limits)?;
    if let Some(cpus) = limits.cpus {
        let quota = (cpus * 100_000.0).round() as u64;
        cgroup.write("cpu.max", &quota.to_string())?;
    }
    Ok(())
}

pub fn write_limits_v1(cgroup: &CgroupV1, limits: &Limits) -> Result<()> {
    write_memory_and_pids_v1(cgroup, limits)?;
    if let Some(cpus) = limits.cpus {
        let quota = (cpus * 100_000.0).round() as u64;
        cgroup.write("cpu", "cpu.cfs_quota_us", &quota.to_string())?;
    }
    Ok(())
}
