//! Cloning the container's first process and re-executing it as `__init`.

use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};

use anyhow::{bail, Context, Result};
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::unistd::{pipe2, Pid};

use super::ContainerConfig;

/// The child, and the pipes to it.
pub struct Spawned {
    pub pid: Pid,
    /// Write end of the config pipe: the init waits on it, so the host side
    /// (id maps, network) is ready before the container goes on.
    pub config: OwnedFd,
    /// Read end of the status pipe: EOF once the command was exec'd,
    /// one JSON line if building the container failed.
    pub status: OwnedFd,
    /// With a user namespace: write one byte once uid_map/gid_map are written.
    pub maps_written: Option<OwnedFd>,
}

/// What the child does between clone and exec, decided before clone.
#[derive(Clone, Copy)]
pub struct UserNamespaceEntry {
    /// setgroups(2) is allowed (not "deny"): drop the host's supplementary groups.
    pub drop_groups: bool,
}

/// clone(2) a child into new namespaces (`flags`) and exec `/proc/self/exe __init`.
/// `keep_open`: one more fd the init inherits (the console socket of `run -t`).
pub fn clone_init(
    flags: CloneFlags,
    userns: Option<UserNamespaceEntry>,
    keep_open: Option<i32>,
) -> Result<Spawned> {
    let (config_r, config_w) = pipe2(OFlag::O_CLOEXEC).context("pipe")?;
    let (status_r, status_w) = pipe2(OFlag::O_CLOEXEC).context("pipe")?;
    let maps_pipe = match userns {
        Some(_) => Some(pipe2(OFlag::O_CLOEXEC).context("pipe")?),
        None => None,
    };

    // Everything the child touches before it execs is prepared *before*
    // clone: in a copy of a threaded process only async-signal-safe calls are
    // allowed (no malloc). Single-threaded, the child may run the init itself.
    let exe = CString::new("/proc/self/exe")?;
    let args = [
        CString::new("mini-docker")?,
        CString::new("__init")?,
        CString::new(config_r.as_raw_fd().to_string())?,
        CString::new(status_w.as_raw_fd().to_string())?,
    ];
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let child = ChildPlan {
        exe: &exe,
        argv: &argv,
        inherit: [
            config_r.as_raw_fd(),
            status_w.as_raw_fd(),
            keep_open.unwrap_or(-1),
        ],
        status_fd: status_w.as_raw_fd(),
        maps_written: maps_pipe.as_ref().map(|(r, _)| r.as_raw_fd()),
        userns,
        parent: nix::unistd::getpid().as_raw(),
        run_init_here: single_threaded() && std::env::var_os("MINI_DOCKER_REEXEC").is_none(),
        supervisor_ends: [
            config_w.as_raw_fd(),
            status_r.as_raw_fd(),
            maps_pipe.as_ref().map(|(_, w)| w.as_raw_fd()).unwrap_or(-1),
        ],
    };

    // SAFETY: raw clone with fork semantics (no new stack); the child only
    // calls async-signal-safe functions before execv or _exit.
    let flags_arg = flags.bits() as libc::c_long | libc::SIGCHLD as libc::c_long;
    let ret = unsafe { libc::syscall(libc::SYS_clone, flags_arg, 0, 0, 0, 0) };
    if ret < 0 {
        let err = nix::errno::Errno::last();
        bail!("clone({flags:?}): {err} — {}", clone_hint(err));
    }
    if ret == 0 {
        unsafe { child.exec_init() }
    }
    drop(config_r);
    drop(status_w);
    Ok(Spawned {
        pid: Pid::from_raw(ret as i32),
        config: config_w,
        status: status_r,
        maps_written: maps_pipe.map(|(_, w)| w),
    })
}

/// Hand the init its config; closing the pipe lets it go on.
pub fn send_config(pipe: OwnedFd, config: &ContainerConfig) -> Result<()> {
    let json = serde_json::to_vec(config)?;
    if json.len() > 60_000 {
        bail!("container config too large ({} bytes)", json.len());
    }
    std::fs::File::from(pipe)
        .write_all(&json)
        .context("write config pipe")
}

/// Tell the child its id maps exist.
pub fn release_after_maps(pipe: OwnedFd) -> Result<()> {
    std::fs::File::from(pipe)
        .write_all(b"1")
        .context("signal the child")
}

struct ChildPlan<'a> {
    exe: &'a CString,
    argv: &'a [*const libc::c_char],
    inherit: [i32; 3],
    status_fd: i32,
    maps_written: Option<i32>,
    userns: Option<UserNamespaceEntry>,
    parent: i32,
    /// No other thread exists: the child may run the init code itself
    /// instead of exec'ing /proc/self/exe (saves an exec, ~1.3 ms a start).
    run_init_here: bool,
    /// The supervisor's ends of the pipes: the child must close its copies
    /// (exec would have, by close-on-exec), or it would never see EOF.
    supervisor_ends: [i32; 3],
}

/// One thread only? Then a forked copy of this process is safe to run on:
/// no lock can be held by a thread that does not exist in the copy.
fn single_threaded() -> bool {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| tasks.count() == 1)
        .unwrap_or(false)
}

impl ChildPlan<'_> {
    /// In the freshly cloned child: keep the two pipe ends across exec,
    /// become root of the user namespace if there is one, die with the
    /// supervisor, and become `mini-docker __init`.
    unsafe fn exec_init(&self) -> ! {
        for fd in self.inherit.into_iter().filter(|&fd| fd >= 0) {
            libc::fcntl(fd, libc::F_SETFD, 0);
        }
        if let (Some(fd), Some(userns)) = (self.maps_written, self.userns) {
            self.enter_user_namespace(fd, userns);
        }
        // After any credential change (which clears it): if the supervisor
        // dies, even by SIGKILL, the container dies with it.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() != self.parent && libc::getpid() != 1 {
            libc::_exit(125); // the supervisor is already gone
        }
        if self.run_init_here {
            for fd in self.supervisor_ends.into_iter().filter(|&fd| fd >= 0) {
                libc::close(fd);
            }
            // Never unwind out of here: above this frame lie the supervisor's
            // objects (pipes, container dir, cgroup, lease), copied by the fork;
            // their destructors must run in the supervisor only. A panic (a
            // todo!() in an exercise) has been reported by the hook already.
            let (config, status) = (self.inherit[0], self.inherit[1]);
            let _ = std::panic::catch_unwind(|| super::init::main(config, status));
            libc::_exit(125);
        }
        libc::execv(self.exe.as_ptr(), self.argv.as_ptr());
        libc::_exit(125)
    }

    /// Wait for the supervisor to write uid_map/gid_map, then switch to uid
    /// and gid 0 *of the namespace* — before exec, because exec recomputes
    /// capabilities and a process whose uid is unmapped there keeps none.
    /// Raw syscalls: glibc's setresuid would try to sync threads we don't have.
    unsafe fn enter_user_namespace(&self, maps_written: i32, userns: UserNamespaceEntry) {
        let mut byte = 0u8;
        if libc::read(maps_written, (&mut byte as *mut u8).cast(), 1) != 1 {
            libc::_exit(125); // the supervisor failed and closed the pipe
        }
        if userns.drop_groups {
            libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>());
        }
        if libc::syscall(libc::SYS_setresgid, 0, 0, 0) != 0
            || libc::syscall(libc::SYS_setresuid, 0, 0, 0) != 0
        {
            let msg = b"{\"code\":125,\"message\":\"cannot become root of the user namespace: are uid_map and gid_map written (chapter 7's write_id_maps)?\"}\n";
            libc::write(self.status_fd, msg.as_ptr().cast(), msg.len());
            libc::_exit(125);
        }
    }
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
