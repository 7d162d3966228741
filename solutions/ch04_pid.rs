//! Chapter 4 — PID namespace: the container's first process is PID 1.
//! Lesson: chapters/04-pid.md

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
    CloneFlags::CLONE_NEWPID
}

/// Mount a fresh procfs on `target` (the container's /proc). A proc mount shows
/// the PID namespace of the process that mounted it — so `ps` inside sees only
/// the container.
pub fn mount_proc(target: &Path) -> Result<()> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("proc"), target, Some("proc"), flags, None::<&str>).context("mount proc on /proc")
}

/// The duties of PID 1 (`--init`): every orphan in the namespace is re-parented
/// to us, so we must reap it or it stays a zombie; and the kernel drops signals
/// PID 1 has no handler for, so we pass SIGINT/SIGTERM/... on to `command`.
///
/// The scaffold has blocked `signals` in this process; wait for them here and
/// return when `command` itself has ended.
pub fn init_loop(command: Pid, signals: &SigSet) -> Result<WaitStatus> {
    loop {
        match signals.wait().context("sigwait")? {
            Signal::SIGCHLD => {
                if let Some(status) = reap_children(command)? {
                    return Ok(status);
                }
            }
            forwarded => match kill(command, forwarded) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(e) => return Err(e).context("forward signal to the command"),
            },
        }
    }
}

/// Reap every child that has ended; return the command's status if it was one of them.
fn reap_children(command: Pid) -> Result<Option<WaitStatus>> {
    let mut command_status = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return Ok(command_status),
            Ok(status) if status.pid() == Some(command) => command_status = Some(status),
            Ok(_) => {} // an orphan: reaped, nothing else to do
            Err(e) => return Err(e).context("waitpid"),
        }
    }
}
