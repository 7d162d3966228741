//! Mutant: waits for the command only — orphans re-parented to PID 1 are never reaped.
use anyhow::{Context, Result};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

pub fn init_loop(command: Pid, signals: &SigSet) -> Result<WaitStatus> {
    loop {
        match signals.wait().context("sigwait")? {
            Signal::SIGCHLD => match waitpid(command, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => {}
                Ok(status) => return Ok(status),
                Err(e) => return Err(e).context("waitpid"),
            },
            forwarded => {
                let _ = kill(command, forwarded);
            }
        }
    }
}
