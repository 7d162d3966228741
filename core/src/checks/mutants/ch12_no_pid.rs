//! Mutant: the PID namespace left out — "setns(CLONE_NEWPID) does not move
//! me anyway". The command then runs in mini-docker's PID namespace with the
//! container's /proc mounted: /proc/self resolves to nothing.
use anyhow::Result;
use nix::unistd::Pid;

pub fn join_namespaces(container: Pid, user: bool) -> Result<()> {
    // (the mistake: pid left out)
    super::join_all_but(container, user, "pid")
}
