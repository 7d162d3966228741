//! Mutant: the CPU quota truncated (`as u64`) instead of rounded, in both writers.
use anyhow::Result;
use mini_docker::cgroups::v1::CgroupV1;
use mini_docker::cgroups::v2::CgroupV2;
use mini_docker::cgroups::Limits;

const PERIOD: u64 = 100_000;

pub fn write_limits_v2(cgroup: &CgroupV2, limits: &Limits) -> Result<()> {
    write_memory_and_pids_v2(cgroup, limits)?;
    if let Some(cpus) = limits.cpus {
        let quota = (cpus * PERIOD as f64) as u64;
        cgroup.write("cpu.max", &format!("{quota} {PERIOD}"))?;
    }
    Ok(())
}

pub fn write_limits_v1(cgroup: &CgroupV1, limits: &Limits) -> Result<()> {
    write_memory_and_pids_v1(cgroup, limits)?;
    if let Some(cpus) = limits.cpus {
        let quota = (cpus * PERIOD as f64) as u64;
        cgroup.write("cpu", "cpu.cfs_period_us", &PERIOD.to_string())?;
        cgroup.write("cpu", "cpu.cfs_quota_us", &quota.to_string())?;
    }
    Ok(())
}

pub fn write_memory_and_pids_v2(cgroup: &CgroupV2, limits: &Limits) -> Result<()> {
    if let Some(bytes) = limits.memory_bytes {
        cgroup.write("memory.max", &bytes.to_string())?;
    }
    if let Some(pids) = limits.pids {
        cgroup.write("pids.max", &pids.to_string())?;
    }
    Ok(())
}

pub fn write_memory_and_pids_v1(cgroup: &CgroupV1, limits: &Limits) -> Result<()> {
    if let Some(bytes) = limits.memory_bytes {
        cgroup.write("memory", "memory.limit_in_bytes", &bytes.to_string())?;
    }
    if let Some(pids) = limits.pids {
        cgroup.write("pids", "pids.max", &pids.to_string())?;
    }
    Ok(())
}
