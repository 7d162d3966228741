//! Mutant: any normal exit reported as success (the code is dropped).
use nix::sys::wait::WaitStatus;

pub fn exit_code(status: WaitStatus) -> i32 {
    match status {
        WaitStatus::Exited(..) => 0,
        WaitStatus::Signaled(_, signal, _) => 128 + signal as i32,
        _ => 1,
    }
}

/// The reference's wait_for, calling this file's exit_code.
pub fn wait_for(child: nix::unistd::Pid) -> anyhow::Result<i32> {
    loop {
        match nix::sys::wait::waitpid(child, None) {
            Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => {
                return Ok(exit_code(status))
            }
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
