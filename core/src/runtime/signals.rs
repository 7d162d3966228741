//! The stop signals: the supervisor blocks them and forwards them to the
//! container; the inside unblocks them for the command.

use anyhow::{Context, Result};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};

/// Signals a user sends to stop a container; we forward them instead of dying.
pub fn stop_signals() -> SigSet {
    let mut set = SigSet::empty();
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        set.add(sig);
    }
    set
}

/// Undo the supervisor's signal mask (the init calls this for the command).
pub fn unblock_stop_signals() -> Result<()> {
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&stop_signals()), None)
        .context("unblock signals")
}
