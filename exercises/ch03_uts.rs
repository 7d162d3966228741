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
    // TODO(ch03): return the two CloneFlags for the UTS and IPC namespaces.
    todo!("return CLONE_NEWUTS | CLONE_NEWIPC")
}

/// Name the container. Runs inside the new UTS namespace, so the host keeps its name.
pub fn set_hostname(name: &str) -> Result<()> {
    // TODO(ch03): call sethostname(name).
    todo!("set the hostname with sethostname")
}
