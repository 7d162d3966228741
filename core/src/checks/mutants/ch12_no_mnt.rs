//! Mutant: the mount namespace left out ("the filesystem is only files").
//! The command runs on the host's filesystem, with the host's /proc: it
//! sees the host's PID 1, not the container's.
use anyhow::Result;
use nix::unistd::Pid;

pub fn join_namespaces(container: Pid, user: bool) -> Result<()> {
    // (the mistake: mnt left out)
    super::join_all_but(container, user, "mnt")
}
