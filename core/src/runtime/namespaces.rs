//! Which namespaces the container's first process is cloned into: each
//! chapter's step adds its flags (3: UTS + IPC, 4: PID, 5: mount, 6: network,
//! 7: user).

use anyhow::{bail, Result};
use nix::sched::CloneFlags;

use super::config::ContainerConfig;
use crate::net::NetworkMode;
use crate::workshop::Steps;

/// The clone flags of chapters 1..=N.
pub fn clone_flags(config: &ContainerConfig, steps: &Steps) -> CloneFlags {
    let mut flags = CloneFlags::empty();
    if config.has(3) {
        flags |= steps.ch03_uts.namespaces();
    }
    if config.has(4) {
        flags |= steps.ch04_pid.namespaces();
    }
    if config.chapter == 4 {
        // Chapter 4 mounts a fresh /proc; without chapter 5's mount namespace
        // that mount would land in the host's mount table. The scaffold adds one.
        flags |= CloneFlags::CLONE_NEWNS;
    }
    if config.has(5) {
        flags |= steps.ch05_mount.namespaces();
    }
    if config.has(6) && config.network != NetworkMode::Host {
        flags |= steps.ch06_net.namespaces();
    }
    if config.has(7) && config.userns.is_some() {
        flags |= steps.ch07_userns.namespaces();
    }
    flags
}

/// Chapter 6 sets up the network over netlink from both sides: without
/// CLONE_NEWNET, "inside" is mini-docker's own network namespace (the host's),
/// and eth0's address and default route would land on the host. So the
/// scaffold refuses to clone at all, naming the missing flag.
pub fn expect_own_network(config: &ContainerConfig, flags: CloneFlags) -> Result<()> {
    if config.has(6)
        && config.network != NetworkMode::Host
        && !flags.contains(CloneFlags::CLONE_NEWNET)
    {
        bail!("chapter 6: namespaces() has no CLONE_NEWNET: the container would configure the host's own network");
    }
    Ok(())
}

/// "CLONE_NEWUTS | CLONE_NEWPID" (or "SIGCHLD" alone: a plain fork).
pub fn names(flags: CloneFlags) -> String {
    let names: Vec<String> = flags
        .iter_names()
        .map(|(name, _)| name.to_string())
        .collect();
    if names.is_empty() {
        "SIGCHLD".into()
    } else {
        names.join(" | ")
    }
}

pub fn why(config: &ContainerConfig) -> &'static str {
    if config.has(3) {
        "a child in new namespaces: it becomes the container's init"
    } else {
        "a child process (like fork): it becomes the container's init"
    }
}
