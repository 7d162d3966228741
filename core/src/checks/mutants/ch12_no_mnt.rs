//! Mutant: the mount namespace left out ("the filesystem is only files").
//! The command runs on the host's filesystem, with the host's /proc: it
//! sees the host's PID 1, not the container's.
use std::fs::File;

use anyhow::{Context, Result};
use nix::sched::{setns, CloneFlags};
use nix::unistd::Pid;

pub fn join_namespaces(container: Pid, user: bool) -> Result<()> {
    let order = [
        ("user", CloneFlags::CLONE_NEWUSER),
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("net", CloneFlags::CLONE_NEWNET),
        ("pid", CloneFlags::CLONE_NEWPID),
        ("cgroup", CloneFlags::CLONE_NEWCGROUP),
        ("mnt", CloneFlags::CLONE_NEWNS),
    ];
    let mut opened = Vec::new();
    for (name, flag) in order {
        // (the mistake: mnt left out)
        if (name == "user" && !user) || name == "mnt" {
            continue;
        }
        let path = format!("/proc/{container}/ns/{name}");
        opened.push((
            name,
            flag,
            File::open(&path).with_context(|| format!("open {path}"))?,
        ));
    }
    for (name, flag, file) in &opened {
        setns(file, *flag).with_context(|| format!("setns({name})"))?;
    }
    Ok(())
}
