//! Mutant: "0 0 COUNT" — the container's root is mapped to the host's root.
use anyhow::{Context, Result};
use mini_docker::userns::IdMap;
use nix::unistd::Pid;

pub fn write_id_maps(child: Pid, map: &IdMap) -> Result<()> {
    std::fs::write(
        format!("/proc/{child}/uid_map"),
        format!("0 0 {}\n", map.count),
    )
    .context("write uid_map")?;
    if map.deny_setgroups {
        std::fs::write(format!("/proc/{child}/setgroups"), "deny").context("write setgroups")?;
    }
    std::fs::write(
        format!("/proc/{child}/gid_map"),
        format!("0 0 {}\n", map.count),
    )
    .context("write gid_map")
}
