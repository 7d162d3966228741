//! Mutant: the lesson's pitfall — one waitpid per SIGCHLD. Signals merge, so
//! orphans that end together stay zombies.
use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

pub fn init_loop(command: Pid, signals: &SigSet) -> Result<WaitStatus> {
    loop {
        match signals.wait().context("sigwait")? {
            Signal::SIGCHLD => match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(status) if status.pid() == Some(command) => return Ok(status),
                Ok(_) | Err(Errno::ECHILD) => {}
                Err(e) => return Err(e).context("waitpid"),
            },
            forwarded => {
                let _ = kill(command, forwarded);
            }
        }
    }
}
