//! Chapter 7 — user namespace: root inside, nobody special outside.
//! Lesson: chapters/07-userns.md

use anyhow::{Context, Result};
use nix::sched::CloneFlags;
use nix::unistd::Pid;

use mini_docker::userns::IdMap;

/// The clone(2) flag this chapter adds. The kernel creates the user namespace
/// first and makes it the owner of every other new namespace of the clone.
pub fn namespaces() -> CloneFlags {
    CloneFlags::CLONE_NEWUSER
}

/// Host side, right after clone: say which host ids the container's ids are.
/// Each line of uid_map is "inside outside count"; it can be written once.
///
/// The child waits until this returns, then switches to uid/gid 0 of its
/// namespace *before* it execs (the scaffold does that, see spawn.rs): exec
/// recomputes capabilities, and an unmapped uid would lose them all.
pub fn write_id_maps(child: Pid, map: &IdMap) -> Result<()> {
    let uid_map = format!("0 {} {}\n", map.host_uid, map.count);
    std::fs::write(format!("/proc/{child}/uid_map"), uid_map).context("write uid_map")?;
    if map.deny_setgroups {
        // Without privilege, gid_map may only be written once setgroups(2) is
        // off for good: else dropping a group could *gain* access (a deny ACL).
        std::fs::write(format!("/proc/{child}/setgroups"), "deny").context("write setgroups")?;
    }
    let gid_map = format!("0 {} {}\n", map.host_gid, map.count);
    std::fs::write(format!("/proc/{child}/gid_map"), gid_map).context("write gid_map")?;
    Ok(())
}
