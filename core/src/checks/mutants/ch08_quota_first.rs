//! Mutant: v1 writes cpu.cfs_quota_us before cpu.cfs_period_us (the kernel
//! checks a quota against the period in place).
use anyhow::Result;
use mini_docker::cgroups::v1::CgroupV1;
use mini_docker::cgroups::Limits;

use super::ch08_quota_truncated::write_memory_and_pids_v1;

pub fn write_limits_v1(cgroup: &CgroupV1, limits: &Limits) -> Result<()> {
    write_memory_and_pids_v1(cgroup, limits)?;
    if let Some(cpus) = limits.cpus {
        let quota = (cpus * 100_000.0).round() as u64;
        cgroup.write("cpu", "cpu.cfs_quota_us", &quota.to_string())?;
        cgroup.write("cpu", "cpu.cfs_period_us", "100000")?;
    }
    Ok(())
}
