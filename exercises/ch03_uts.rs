//! Chapter 3 — UTS and IPC namespaces: a hostname and SysV IPC of its own.
//! Lesson: chapters/03-uts.md   Check: mini-docker check 3

use anyhow::{Context, Result};
use nix::sched::CloneFlags;
use nix::unistd::sethostname;

/// The clone(2) flags this chapter adds to the container's process.
///
/// One flag gives the container its own hostname, another its own SysV IPC
/// (message queues, semaphores, shared memory). Look them up in clone(2).
pub fn namespaces() -> CloneFlags {
    // TODO(ch03): return the flags that give the child its own hostname and its
    //             own SysV IPC objects. man 2 clone (the CLONE_NEW* flags);
    //             lesson: "Global names, made per-container".
    todo!("namespaces — chapters/03-uts.md, \"Global names, made per-container\"")
}

/// Name the container. Runs inside the new UTS namespace, so the host keeps its name.
pub fn set_hostname(name: &str) -> Result<()> {
    // TODO(ch03): give the (new) UTS namespace this name. man 2 sethostname;
    //             nix::unistd has a wrapper.
    todo!("set_hostname — chapters/03-uts.md, \"Global names, made per-container\"")
}
