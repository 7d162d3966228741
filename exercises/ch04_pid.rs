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
    // TODO(ch04): return the flag that makes the child PID 1 of a new PID
    //             namespace. man 7 pid_namespaces; lesson: "One process, two PIDs".
    todo!("namespaces — chapters/04-pid.md, \"One process, two PIDs\"")
}

/// Mount a fresh procfs on `target` (the container's /proc). A proc mount shows
/// the PID namespace of the process that mounted it — so `ps` inside sees only
/// the container.
pub fn mount_proc(target: &Path) -> Result<()> {
    // TODO(ch04): mount a procfs at `target` — one that shows this PID
    //             namespace — without setuid programs, device files or exec.
    //             man 5 proc, man 2 mount (MS_* flags); lesson: "A fresh /proc".
    todo!("mount_proc — chapters/04-pid.md, \"A fresh /proc\"")
}

/// The duties of PID 1 (`--init`): every orphan in the namespace is re-parented
/// to us, so we must reap it or it stays a zombie; and the kernel drops signals
/// PID 1 has no handler for, so we pass SIGINT/SIGTERM/... on to `command`.
///
/// The scaffold has blocked `signals` in this process; wait for them here and
/// return when `command` itself has ended.
pub fn init_loop(command: Pid, signals: &SigSet) -> Result<WaitStatus> {
    // TODO(ch04): as PID 1, wait for the signals in `signals` (they are blocked:
    //             SigSet::wait takes them one by one). When children end, reap
    //             them all — orphans too, and several may end per signal — and
    //             return once `command` has ended. Any other signal goes on to
    //             `command`. Lesson: "PID 1 is special" and the pitfall;
    //             man 2 waitpid (WNOHANG), man 2 kill.
    todo!("init_loop — chapters/04-pid.md, \"PID 1 is special\"")
}
