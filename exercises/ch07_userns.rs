//! Chapter 7 — user namespace: root inside, nobody special outside.
//! Lesson: chapters/07-userns.md   Check: mini-docker check 7

use anyhow::{Context, Result};
use nix::sched::CloneFlags;
use nix::unistd::Pid;

use mini_docker::userns::IdMap;

/// The clone(2) flag this chapter adds. The kernel creates the user namespace
/// first and makes it the owner of every other new namespace of the clone.
pub fn namespaces() -> CloneFlags {
    // TODO(ch07): return the flag for a user namespace of the child's own.
    //             man 7 user_namespaces.
    todo!("namespaces — chapters/07-userns.md, \"Root, but only here\"")
}

/// Host side, right after clone: say which host ids the container's ids are.
/// Each line of uid_map is "inside outside count"; it can be written once.
///
/// The child waits until this returns, then switches to uid/gid 0 of its
/// namespace *before* it execs (the scaffold does that, see spawn.rs): exec
/// recomputes capabilities, and an unmapped uid would lose them all.
pub fn write_id_maps(child: Pid, map: &IdMap) -> Result<()> {
    // TODO(ch07): tell the kernel which host ids the child's ids 0.. stand for
    //             (`map`), for users and for groups; rootless, one more file must
    //             be written first or the kernel refuses the group map. man 7
    //             user_namespaces ("User and group ID mappings", setgroups);
    //             lesson: "The handshake" and the pitfall.
    todo!("write_id_maps — chapters/07-userns.md, \"The handshake\"")
}
