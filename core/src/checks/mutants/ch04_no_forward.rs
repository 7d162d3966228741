//! Mutant: reaps correctly but forwards no signal — SIGTERM never reaches the command.
use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

pub fn init_loop(command: Pid, signals: &SigSet) -> Result<WaitStatus> {
    let mut status = None;
    loop {
        if signals.wait().context("sigwait")? != Signal::SIGCHLD {
            continue;
        }
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
                Ok(s) if s.pid() == Some(command) => status = Some(s),
                Ok(_) => {}
                Err(e) => return Err(e).context("waitpid"),
            }
        }
        if let Some(status) = status {
            return Ok(status);
        }
    }
}
