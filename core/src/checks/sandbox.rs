//! `mini-docker __sandbox ARGS`: where a check runs mini-docker.
//!
//! The learner's code runs as root and can be wrong in any way: a forgotten
//! CLONE_NEWUTS renames whatever UTS namespace the container is in, a forgotten
//! CLONE_NEWPID leaves its processes among everyone else's. So a check never
//! runs `mini-docker chapter N run` in the host's namespaces. It runs
//!
//! ```text
//! check ── __sandbox (host) ── init: PID 1 of a new PID namespace ── mini-docker ARGS (PID 2)
//! ```
//!
//! with a UTS, PID and mount namespace of its own:
//! - UTS: a forgotten CLONE_NEWUTS renames this throwaway namespace, never the host;
//! - PID: when init ends, the kernel kills everything left in the namespace —
//!   init ends when mini-docker does, or when __sandbox dies (PR_SET_PDEATHSIG);
//! - mount: its own /proc (so mini-docker's `/proc/PID` paths name its own
//!   children), every mount slave of the host's (nothing made here reaches the
//!   host) and shared within (so a container that forgets its own
//!   make_mounts_private is caught on any host, as on a systemd one).
//!
//! Checks compare the container with mini-docker's namespaces, not their own.

use std::ffi::OsString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Command;

use anyhow::{Context, Result};
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

/// Runs `mini-docker ARGS` in the sandbox; exits with its status (128+N for signal N).
pub fn main(args: &[OsString]) -> ! {
    let code = run(args).unwrap_or_else(|e| {
        eprintln!("mini-docker: sandbox: {e:#}");
        125
    });
    std::process::exit(code)
}

fn run(args: &[OsString]) -> Result<i32> {
    let exe = std::env::current_exe().context("find the mini-docker binary")?;
    if let [flag, pid, rest @ ..] = args {
        if flag == "--enter" {
            return enter(&exe, &pid.to_string_lossy(), rest);
        }
    }
    let flags = CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS;
    unshare(flags).context("unshare(CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS)")?;
    // Held open by us, never written: init sees end-of-file once we are gone.
    let pipe_flags = nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK;
    let (alive_read, alive_write) = nix::unistd::pipe2(pipe_flags)?;
    // SAFETY: __sandbox is dispatched before anything starts a thread, so the
    // child of this fork is a complete copy of a single-threaded process.
    match unsafe { fork() }.context("fork the sandbox's init")? {
        ForkResult::Parent { child } => {
            drop(alive_read);
            let code = wait_for(child);
            drop(alive_write);
            code
        }
        ForkResult::Child => {
            drop(alive_write);
            let code = init(&exe, args, alive_read).unwrap_or_else(|e| {
                eprintln!("mini-docker: sandbox init: {e:#}");
                125
            });
            // PID 1 exits: the kernel SIGKILLs everything left in the namespace.
            std::process::exit(code)
        }
    }
}

/// PID 1 of the sandbox: prepare the mounts, start mini-docker, reap every
/// orphan until mini-docker ends.
fn init(exe: &std::path::Path, args: &[OsString], parent_alive: OwnedFd) -> Result<i32> {
    // SAFETY: prctl(PR_SET_PDEATHSIG) only sets a flag of this process. If
    // __sandbox is killed (a check's timeout), we get SIGKILL and the namespace dies.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) };
    // ...unless it died before the prctl: then its end of the pipe is closed.
    // (A read of the empty pipe: EAGAIN while it lives, end-of-file once it is gone.)
    if nix::unistd::read(parent_alive.as_raw_fd(), &mut [0u8; 1]) == Ok(0) {
        anyhow::bail!("the sandbox ended before its init started");
    }
    drop(parent_alive);
    let none = None::<&str>;
    mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_SLAVE, none)
        .context("make / rslave in the sandbox")?;
    mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_SHARED, none)
        .context("make / rshared in the sandbox")?;
    let proc_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("proc"), "/proc", Some("proc"), proc_flags, none)
        .context("mount the sandbox's /proc")?;
    let child = Command::new(exe)
        .args(args)
        .spawn()
        .context("start mini-docker in the sandbox")?;
    let mini_docker = Pid::from_raw(child.id() as i32);
    loop {
        let status = waitpid(None, None).context("waitpid in the sandbox's init")?;
        if status.pid() == Some(mini_docker) {
            report_left_running();
            return Ok(code_of(status));
        }
    }
}

fn wait_for(child: Pid) -> Result<i32> {
    loop {
        let status = waitpid(child, None).context("wait for the sandbox's init")?;
        if matches!(status, WaitStatus::Exited(..) | WaitStatus::Signaled(..)) {
            return Ok(code_of(status));
        }
    }
}

fn code_of(status: WaitStatus) -> i32 {
    match status {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(_, signal, _) => 128 + signal as i32,
        _ => 128 + Signal::SIGKILL as i32,
    }
}

/// What init says on stderr when mini-docker ended but processes it started
/// did not (the kernel kills them right after, when init exits): checks that
/// promise "nothing left running" look for it.
pub const LEFT_RUNNING: &str = "left running when mini-docker exited";

fn report_left_running() {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    let left: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != 1)
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let name = &stat[stat.find('(')? + 1..stat.rfind(')')?];
            let state = stat[stat.rfind(')')? + 2..].chars().next()?;
            (state != 'Z').then(|| format!("{name} (pid {pid})"))
        })
        .collect();
    if !left.is_empty() {
        eprintln!(
            "mini-docker: sandbox: {} process(es) {LEFT_RUNNING}: {}",
            left.len(),
            left.join(", ")
        );
    }
}

/// `__sandbox --enter PID ARGS`: mini-docker in the sandbox of `PID` (a
/// mini-docker a check started there): its mount namespace (so /proc is the
/// sandbox's) and, for the child we fork, its PID namespace — where that
/// sandbox's state.json pids mean something (`exec`, `wait` of check 12).
fn enter(exe: &std::path::Path, pid: &str, args: &[OsString]) -> Result<i32> {
    let pid_ns = std::fs::File::open(format!("/proc/{pid}/ns/pid"))
        .with_context(|| format!("open /proc/{pid}/ns/pid"))?;
    let mnt_ns = std::fs::File::open(format!("/proc/{pid}/ns/mnt"))
        .with_context(|| format!("open /proc/{pid}/ns/mnt"))?;
    nix::sched::setns(&pid_ns, CloneFlags::CLONE_NEWPID).context("setns(pid)")?;
    nix::sched::setns(&mnt_ns, CloneFlags::CLONE_NEWNS).context("setns(mnt)")?;
    let mut child = Command::new(exe)
        .args(args)
        .spawn()
        .context("start mini-docker in the sandbox")?;
    let status = child.wait().context("wait for mini-docker")?;
    Ok(status.code().unwrap_or(125))
}
