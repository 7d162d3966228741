//! Chapter 7 — user namespace: root inside, nobody special outside.
//! Lesson: chapters/07-userns.md   Check: mini-docker check 7

use anyhow::{Context, Result};
use nix::sched::CloneFlags;
use nix::unistd::Pid;

use mini_docker::userns::IdMap;

/// The clone(2) flag this chapter adds. The kernel creates the user namespace
/// first and makes it the owner of every other new namespace of the clone.
pub fn namespaces() -> CloneFlags {
    // TODO(ch07): return the user namespace flag.
    todo!("return CLONE_NEWUSER")
}

/// Host side, right after clone: say which host ids the container's ids are.
/// Each line of uid_map is "inside outside count"; it can be written once.
///
/// The child waits until this returns, then switches to uid/gid 0 of its
/// namespace *before* it execs (the scaffold does that, see spawn.rs): exec
/// recomputes capabilities, and an unmapped uid would lose them all.
pub fn write_id_maps(child: Pid, map: &IdMap) -> Result<()> {
    // TODO(ch07): write "0 {host_uid} {count}\n" to /proc/{child}/uid_map;
    //   if map.deny_setgroups, write "deny" to /proc/{child}/setgroups (before gid_map!);
    //   then write "0 {host_gid} {count}\n" to /proc/{child}/gid_map.
    todo!("write uid_map, setgroups and gid_map")
}
