//! Cloning the container's first process and re-executing it as `__init`.

use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};

use anyhow::{bail, Context, Result};
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::unistd::{pipe2, Pid};

use super::ContainerConfig;

/// The two pipes between supervisor and init.
pub struct Spawned {
    pub pid: Pid,
    /// Read end of the status pipe: EOF once the command was exec'd,
    /// one JSON line if building the container failed.
    pub status: OwnedFd,
}

/// clone(2) a child into new namespaces (`flags`) and exec `/proc/self/exe __init`.
pub fn clone_init(config: &ContainerConfig, flags: CloneFlags) -> Result<Spawned> {
    let (config_r, config_w) = pipe2(OFlag::O_CLOEXEC).context("pipe")?;
    let (status_r, status_w) = pipe2(OFlag::O_CLOEXEC).context("pipe")?;
    // The config fits in the pipe buffer: write it now, the init reads it later.
    let json = serde_json::to_vec(config)?;
    if json.len() > 60_000 {
        bail!("container config too large ({} bytes)", json.len());
    }
    std::fs::File::from(config_w)
        .write_all(&json)
        .context("write config pipe")?;

    // Everything the child touches is prepared *before* clone: between clone
    // and exec the child may only make async-signal-safe calls (no malloc).
    let exe = CString::new("/proc/self/exe")?;
    let args = [
        CString::new("mini-docker")?,
        CString::new("__init")?,
        CString::new(config_r.as_raw_fd().to_string())?,
        CString::new(status_w.as_raw_fd().to_string())?,
    ];
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let parent = nix::unistd::getpid().as_raw();
    let inherit = [config_r.as_raw_fd(), status_w.as_raw_fd()];

    // SAFETY: raw clone with fork semantics (no new stack); the child only
    // calls async-signal-safe functions before execv or _exit.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags.bits() as libc::c_long | libc::SIGCHLD as libc::c_long,
            0,
            0,
            0,
            0,
        )
    };
    if ret < 0 {
        let err = nix::errno::Errno::last();
        bail!("clone({flags:?}): {err} — {}", clone_hint(err));
    }
    if ret == 0 {
        unsafe { exec_init_in_child(&exe, &argv, &inherit, parent) }
    }
    drop(config_r);
    drop(status_w);
    Ok(Spawned {
        pid: Pid::from_raw(ret as i32),
        status: status_r,
    })
}

/// In the freshly cloned child: keep the two pipe ends across exec, die with
/// the supervisor, and become `mini-docker __init`.
unsafe fn exec_init_in_child(
    exe: &CString,
    argv: &[*const libc::c_char],
    inherit: &[i32],
    parent: i32,
) -> ! {
    for &fd in inherit {
        libc::fcntl(fd, libc::F_SETFD, 0);
    }
    // If the supervisor dies (even by SIGKILL), take the container down with it.
    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    if libc::getppid() != parent && !is_pid_ns_init() {
        libc::_exit(125);
    }
    libc::execv(exe.as_ptr(), argv.as_ptr());
    libc::_exit(125)
}

/// In a new PID namespace getppid() is 0: the parent lives outside.
unsafe fn is_pid_ns_init() -> bool {
    libc::getpid() == 1
}

fn clone_hint(err: nix::errno::Errno) -> &'static str {
    match err {
        nix::errno::Errno::EPERM => "namespaces need root (CAP_SYS_ADMIN): run with sudo",
        nix::errno::Errno::EINVAL => {
            "this kernel lacks one of the namespace types (see `mini-docker doctor`)"
        }
        nix::errno::Errno::ENOSPC | nix::errno::Errno::EUSERS => {
            "the namespace limit is reached (/proc/sys/user/max_*_namespaces)"
        }
        _ => "see clone(2)",
    }
}
