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
    // TODO(ch01): replace this process with the command, searching $PATH for
    //             it like a shell does. Which exec(3) variant does that, and
    //             what does it expect as argv? Lesson: "The syscalls"; man 3 exec.
    todo!("exec_command — chapters/01-process.md, \"The syscalls\"")
}

/// Turn how a child ended into the number a shell shows in `$?`.
///
/// Exited normally with code c -> c. Killed by signal n -> 128 + n (SIGKILL = 9 -> 137).
pub fn exit_code(status: WaitStatus) -> i32 {
    // TODO(ch01): a normal exit keeps its code; a death by signal n becomes the
    //             shell's convention for it. Lesson: "The syscalls"; man 2 waitpid
    //             (WIFEXITED, WIFSIGNALED), and nix's WaitStatus.
    todo!("exit_code — chapters/01-process.md, \"The syscalls\"")
}

/// Wait until `child` has ended and return its exit code (see `exit_code`).
pub fn wait_for(child: Pid) -> Result<i32> {
    // TODO(ch01): block until the child has ended (a stop or an interrupted
    //             wait is not an end), then turn its status into an exit code
    //             with exit_code. man 2 waitpid (EINTR); lesson: "The syscalls".
    todo!("wait_for — chapters/01-process.md, \"The syscalls\"")
}
