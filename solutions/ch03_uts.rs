//! Chapter 3 — UTS and IPC namespaces: a hostname and SysV IPC of its own.
//! Lesson: chapters/03-uts.md

use anyhow::{Context, Result};
use nix::sched::CloneFlags;
use nix::unistd::sethostname;

/// The clone(2) flags this chapter adds to the container's process.
///
/// CLONE_NEWUTS: own hostname/domainname. CLONE_NEWIPC: own SysV message
/// queues, semaphores and shared memory (and POSIX message queues).
pub fn namespaces() -> CloneFlags {
    CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC
}

/// Name the container. Runs inside the new UTS namespace, so the host keeps its name.
pub fn set_hostname(name: &str) -> Result<()> {
    sethostname(name).with_context(|| format!("sethostname({name})"))
}
