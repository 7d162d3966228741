//! Chapter 4 — PID namespace: the container's first process is PID 1.
//! Lesson: chapters/04-pid.md   Check: mini-docker check 4

use std::path::Path;

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// The clone(2) flag this chapter adds: the child becomes PID 1 of a new PID namespace.
pub fn namespaces() -> CloneFlags {
    // TODO(ch04): return the PID namespace flag.
    todo!("return CLONE_NEWPID")
}

/// Mount a fresh procfs on `target` (the container's /proc). A proc mount shows
/// the PID namespace of the process that mounted it — so `ps` inside sees only
/// the container.
pub fn mount_proc(target: &Path) -> Result<()> {
    // TODO(ch04): mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, no data).
    todo!("mount procfs on /proc")
}

/// The duties of PID 1 (`--init`): every orphan in the namespace is re-parented
/// to us, so we must reap it or it stays a zombie; and the kernel drops signals
/// PID 1 has no handler for, so we pass SIGINT/SIGTERM/... on to `command`.
///
/// The scaffold has blocked `signals` in this process; wait for them here and
/// return when `command` itself has ended.
pub fn init_loop(command: Pid, signals: &SigSet) -> Result<WaitStatus> {
    // TODO(ch04): loop { match signals.wait()? { ... } }
    //   - Signal::SIGCHLD: reap *every* ended child with
    //     waitpid(None, Some(WaitPidFlag::WNOHANG)) until StillAlive or ECHILD;
    //     if one of them was `command`, return its status.
    //   - any other signal: forward it with kill(command, signal).
    todo!("reap zombies and forward signals")
}
