//! Chapter 12 — lifecycle: the shim and exec (reference solution).

use std::fs::File;

use anyhow::{Context, Result};
use nix::sched::{setns, CloneFlags};
use nix::unistd::Pid;

use mini_docker::lifecycle::state::{self, State, Status};

/// The order of setns(2): the user namespace first (joining it gives us the
/// capabilities, in it, to join the namespaces it owns), the mount
/// namespace last (it changes our root: /proc is the container's after it).
const ORDER: [(&str, CloneFlags); 7] = [
    ("user", CloneFlags::CLONE_NEWUSER),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

pub fn join_namespaces(container: Pid, user: bool) -> Result<()> {
    // Every one opened before any is joined: once in the container's mount
    // namespace, /proc/PID names another process (or none).
    let mut opened = Vec::new();
    for (name, flag) in ORDER {
        if flag == CloneFlags::CLONE_NEWUSER && !user {
            continue;
        }
        let path = format!("/proc/{container}/ns/{name}");
        let file = File::open(&path).with_context(|| format!("open {path}"))?;
        opened.push((name, flag, file));
    }
    for (name, flag, file) in &opened {
        setns(file, *flag).with_context(|| format!("setns({name})"))?;
    }
    Ok(())
}

pub fn record_exit(state: &mut State, code: i32, oom_killed: bool) {
    state.status = Status::Exited;
    state.exit_code = Some(code);
    state.oom_killed = oom_killed;
    state.finished = state::now();
}
