//! Mutant: the memory limit written in MiB, not bytes (both writers).
use anyhow::Result;
use mini_docker::cgroups::v1::CgroupV1;
use mini_docker::cgroups::v2::CgroupV2;
use mini_docker::cgroups::Limits;

pub fn write_limits_v2(cgroup: &CgroupV2, limits: &Limits) -> Result<()> {
    let mib = Limits {
        memory_bytes: limits.memory_bytes.map(|b| b >> 20),
        ..limits.clone()
    };
    super::ch08_quota_truncated::write_memory_and_pids_v2(cgroup, &mib)?;
    if let Some(cpus) = limits.cpus {
        let quota = (cpus * 100_000.0).round() as u64;
        cgroup.write("cpu.max", &format!("{quota} 100000"))?;
    }
    Ok(())
}

pub fn write_limits_v1(cgroup: &CgroupV1, limits: &Limits) -> Result<()> {
    let mib = Limits {
        memory_bytes: limits.memory_bytes.map(|b| b >> 20),
        ..limits.clone()
    };
    super::ch08_quota_truncated::write_memory_and_pids_v1(cgroup, &mib)?;
    if let Some(cpus) = limits.cpus {
        let quota = (cpus * 100_000.0).round() as u64;
        cgroup.write("cpu", "cpu.cfs_period_us", "100000")?;
        cgroup.write("cpu", "cpu.cfs_quota_us", &quota.to_string())?;
    }
    Ok(())
}
