//! Chapter 1 — process: run a command, wait for it, report how it ended.
//! Lesson: chapters/01-process.md   Check: mini-docker check 1
//!
//! A container is, first of all, a process. Everything later chapters add
//! (namespaces, mounts, cgroups) only changes what this process can see.

use std::convert::Infallible;
use std::ffi::CString;

use anyhow::{Context, Result};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{execvp, Pid};

/// Replace this process with the user's command (`argv[0]` is searched in PATH).
///
/// stdin, stdout and stderr are file descriptors 0, 1 and 2: `exec` keeps them,
/// so the command talks straight to the terminal, byte for byte.
/// Returns only if the exec failed (the scaffold turns ENOENT into 127, EACCES into 126).
pub fn exec_command(argv: &[CString]) -> nix::Result<Infallible> {
    // TODO(ch01): exec the command with `execvp` (nix::unistd::execvp).
    //             argv[0] is the program, the whole slice is its argv.
    todo!("exec the command with execvp")
}

/// Turn how a child ended into the number a shell shows in `$?`.
///
/// Exited normally with code c -> c. Killed by signal n -> 128 + n (SIGKILL = 9 -> 137).
pub fn exit_code(status: WaitStatus) -> i32 {
    // TODO(ch01): match on WaitStatus::Exited(pid, code) and
    //             WaitStatus::Signaled(pid, signal, core_dumped).
    todo!("map the WaitStatus to an exit code")
}

/// Wait until `child` has ended and return its exit code (see `exit_code`).
pub fn wait_for(child: Pid) -> Result<i32> {
    // TODO(ch01): call waitpid(child, None) until it reports Exited or Signaled
    //             (retry on Errno::EINTR), then return exit_code(status).
    todo!("wait for the child with waitpid")
}
