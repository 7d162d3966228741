//! Chapter 1 — process: run a command, wait for it, report how it ended.
//! Lesson: chapters/01-process.md
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
    execvp(&argv[0], argv)
}

/// Turn how a child ended into the number a shell shows in `$?`.
///
/// Exited normally with code c -> c. Killed by signal n -> 128 + n (SIGKILL = 9 -> 137).
pub fn exit_code(status: WaitStatus) -> i32 {
    match status {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(_, signal, _) => 128 + signal as i32,
        other => panic!("exit_code called with a child that has not ended: {other:?}"),
    }
}

/// Wait until `child` has ended and return its exit code (see `exit_code`).
pub fn wait_for(child: Pid) -> Result<i32> {
    loop {
        // waitpid also reports stops/continues; only an end counts.
        match waitpid(child, None) {
            Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => {
                return Ok(exit_code(status))
            }
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).with_context(|| format!("waitpid({child})")),
        }
    }
}
