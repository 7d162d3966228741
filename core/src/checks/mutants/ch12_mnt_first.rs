//! Mutant: each namespace opened and joined in turn, the mount namespace
//! first ("the filesystem first"). The next open of /proc/PID/ns/... then
//! goes through the container's /proc, where the host's PID is no process.
use std::fs::File;

use anyhow::{Context, Result};
use nix::sched::{setns, CloneFlags};
use nix::unistd::Pid;

pub fn join_namespaces(container: Pid, user: bool) -> Result<()> {
    let order = [
        ("mnt", CloneFlags::CLONE_NEWNS),
        ("user", CloneFlags::CLONE_NEWUSER),
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("net", CloneFlags::CLONE_NEWNET),
        ("pid", CloneFlags::CLONE_NEWPID),
        ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ];
    for (name, flag) in order {
        if name == "user" && !user {
            continue;
        }
        // (the mistake: opened only now, after the mount namespace changed /proc)
        let path = format!("/proc/{container}/ns/{name}");
        let file = File::open(&path).with_context(|| format!("open {path}"))?;
        setns(&file, flag).with_context(|| format!("setns({name})"))?;
    }
    Ok(())
}
