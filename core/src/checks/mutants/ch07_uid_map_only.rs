//! Mutant: uid_map written, gid_map forgotten.
use anyhow::{Context, Result};
use mini_docker::userns::IdMap;
use nix::unistd::Pid;

pub fn write_id_maps(child: Pid, map: &IdMap) -> Result<()> {
    let uid_map = format!("0 {} {}\n", map.host_uid, map.count);
    std::fs::write(format!("/proc/{child}/uid_map"), uid_map).context("write uid_map")
}
