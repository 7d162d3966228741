//! Mutant: gid_map written without "deny" to setgroups first — refused without privilege.
use anyhow::{Context, Result};
use mini_docker::userns::IdMap;
use nix::unistd::Pid;

pub fn write_id_maps(child: Pid, map: &IdMap) -> Result<()> {
    let uid_map = format!("0 {} {}\n", map.host_uid, map.count);
    std::fs::write(format!("/proc/{child}/uid_map"), uid_map).context("write uid_map")?;
    let gid_map = format!("0 {} {}\n", map.host_gid, map.count);
    std::fs::write(format!("/proc/{child}/gid_map"), gid_map).context("write gid_map")?;
    Ok(())
}
