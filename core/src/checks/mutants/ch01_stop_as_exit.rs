//! Mutant: waitpid(2)'s man-page example without its loop — WUNTRACED asks
//! for stops, and the first status that comes back, a stop, is taken as the
//! end (a stop by signal n reported like a death: 128 + n).
use nix::sys::wait::{WaitPidFlag, WaitStatus};

pub fn exit_code(status: WaitStatus) -> i32 {
    match status {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(_, signal, _) | WaitStatus::Stopped(_, signal) => 128 + signal as i32,
        _ => 1,
    }
}

pub fn wait_for(child: nix::unistd::Pid) -> anyhow::Result<i32> {
    let flags = WaitPidFlag::WUNTRACED | WaitPidFlag::WCONTINUED;
    let status = nix::sys::wait::waitpid(child, Some(flags))?;
    Ok(exit_code(status))
}
