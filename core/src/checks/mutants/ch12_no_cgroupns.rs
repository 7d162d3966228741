//! Mutant: the cgroup namespace left out ("the scaffold joins the cgroup").
//! The command is in the container's cgroup but reads the host's cgroup
//! paths, and sees the host's cgroup tree where the container sees its own.
use anyhow::Result;
use nix::unistd::Pid;

pub fn join_namespaces(container: Pid, user: bool) -> Result<()> {
    // (the mistake: cgroup left out)
    super::join_all_but(container, user, "cgroup")
}
