//! Cloning the container's first process (the inside), which then runs in
//! place or re-executes itself as `mini-docker __inside FD`.

use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};

use anyhow::{bail, Context, Result};
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::unistd::{pipe2, Pid};

use super::channel::{self, Failed};
use crate::cgroups::FastEntry;
use crate::workshop::Steps;

/// The child, and the ways to talk to it.
pub struct Spawned {
    pub pid: Pid,
    /// Our end of the channel (see channel.rs): Config and Go go out; a
    /// `Failed` comes back if the start fails, EOF once the command runs.
    pub channel: OwnedFd,
    /// With a user namespace: write one byte once uid_map/gid_map are written.
    pub maps_written: Option<OwnedFd>,
    /// The child is in its cgroup already (born there, or it joins itself).
    pub in_cgroup: bool,
}

/// cgroup v1 hierarchies a container may join (memory, pids, cpu, cpuacct).
const MAX_JOIN: usize = 4;

/// What the child does between clone and exec, decided before clone.
#[derive(Clone, Copy)]
pub struct UserNamespaceEntry {
    /// setgroups(2) is allowed (not "deny"): drop the host's supplementary groups.
    pub drop_groups: bool,
}

/// clone(2) a child into new namespaces (`flags`); it runs the inside's code
/// in place (`steps`: the chapters it calls) or execs `/proc/self/exe __inside`.
/// `keep_open`: one more fd the init inherits (the console socket of `run -t`).
/// `stdio`: the init's stdin, stdout and stderr (pipes the supervisor relays:
/// never the caller's own terminal or files).
/// `cgroup`: how the child gets into its cgroup (`Spawned::in_cgroup` says
/// whether it did; if not, the supervisor moves it by pid).
pub fn clone_init(
    flags: CloneFlags,
    userns: Option<UserNamespaceEntry>,
    keep_open: Option<i32>,
    stdio: [i32; 3],
    cgroup: Option<&FastEntry>,
    steps: &Steps,
) -> Result<Spawned> {
    let mut join = [-1; MAX_JOIN];
    if let Some(FastEntry::SelfJoin(files)) = cgroup {
        if files.len() > MAX_JOIN {
            bail!(
                "{} cgroup hierarchies to join (at most {MAX_JOIN})",
                files.len()
            );
        }
        for (slot, fd) in join.iter_mut().zip(files) {
            *slot = fd.as_raw_fd();
        }
    }
    let (ours, theirs) = channel::pair()?;
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
        CString::new("__inside")?,
        CString::new(theirs.as_raw_fd().to_string())?,
    ];
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let child = ChildPlan {
        exe: &exe,
        argv: &argv,
        inherit: [theirs.as_raw_fd(), keep_open.unwrap_or(-1)],
        stdio,
        cgroup_failed: channel::encode(&Failed {
            code: 125,
            message: "cannot join the container's cgroup (writing 0 to a v1 tasks file failed)"
                .into(),
        })?,
        userns_failed: channel::encode(&Failed {
            code: 125,
            message: "cannot become root of the user namespace: are uid_map and gid_map \
                      written (chapter 7's write_id_maps)?"
                .into(),
        })?,
        maps_written: maps_pipe.as_ref().map(|(r, _)| r.as_raw_fd()),
        userns,
        join_cgroup: join,
        parent: nix::unistd::getpid().as_raw(),
        run_init_here: single_threaded() && std::env::var_os("MINI_DOCKER_REEXEC").is_none(),
        steps: *steps,
    };

    let (ret, in_cgroup) = match cgroup {
        Some(FastEntry::BornInto(dir)) => match clone3_into_cgroup(flags, dir.as_raw_fd()) {
            // Kernels before 5.7 lack clone3: plain clone, the supervisor moves the child.
            -1 if nix::errno::Errno::last() == nix::errno::Errno::ENOSYS => {
                (raw_clone(flags), false)
            }
            ret => (ret, true),
        },
        Some(FastEntry::SelfJoin(_)) => (raw_clone(flags), true), // it writes "0" to tasks first thing
        None => (raw_clone(flags), false),
    };
    if ret < 0 {
        let err = nix::errno::Errno::last();
        bail!("clone({flags:?}): {err} — {}", clone_hint(err));
    }
    if ret == 0 {
        // SAFETY: ret == 0: this is the freshly cloned child, the only place
        // exec_init may run; everything it touches was prepared before clone
        // and lives in our (copied) stack frame, and it never returns.
        unsafe { child.exec_init() }
    }
    drop(theirs);
    Ok(Spawned {
        pid: Pid::from_raw(ret as i32),
        channel: ours,
        maps_written: maps_pipe.map(|(_, w)| w),
        in_cgroup,
    })
}

/// clone(2) with fork semantics (no new stack): the child returns here too.
fn raw_clone(flags: CloneFlags) -> libc::c_long {
    let flags_arg = flags.bits() as libc::c_long | libc::SIGCHLD as libc::c_long;
    // SAFETY: the child only calls async-signal-safe functions before execv
    // or _exit (or runs the init, single-threaded: see ChildPlan).
    unsafe { libc::syscall(libc::SYS_clone, flags_arg, 0, 0, 0, 0) }
}

/// struct clone_args of clone3(2), up to `cgroup` (CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// clone3(2) with CLONE_INTO_CGROUP: the child is born in the cgroup whose
/// directory `cgroup_dir` is, with fork semantics (stack 0: our own stack).
fn clone3_into_cgroup(flags: CloneFlags, cgroup_dir: i32) -> libc::c_long {
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let args = CloneArgs {
        flags: flags.bits() as u32 as u64 | CLONE_INTO_CGROUP, // c_int bits, no sign extension
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup_dir as u64,
        ..Default::default()
    };
    // SAFETY: args is a valid clone_args of the size we pass; as raw_clone.
    unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    }
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
    /// The inside's end of the channel, and the console socket (-1: none):
    /// with stdin/stdout/stderr, the only fds the child keeps.
    inherit: [i32; 2],
    /// What becomes the child's fds 0, 1 and 2.
    stdio: [i32; 3],
    /// `Failed` messages, encoded before clone: the child must not allocate.
    cgroup_failed: Vec<u8>,
    userns_failed: Vec<u8>,
    maps_written: Option<i32>,
    userns: Option<UserNamespaceEntry>,
    /// v1 `tasks` files to write "0" to (-1: none).
    join_cgroup: [i32; MAX_JOIN],
    parent: i32,
    /// No other thread exists: the child may run the init code itself
    /// instead of exec'ing /proc/self/exe (saves an exec, ~1.3 ms a start).
    run_init_here: bool,
    /// The chapter steps, for the inside run in place.
    steps: Steps,
}

/// One thread only? Then a forked copy of this process is safe to run on:
/// no lock can be held by a thread that does not exist in the copy.
fn single_threaded() -> bool {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| tasks.count() == 1)
        .unwrap_or(false)
}

impl ChildPlan<'_> {
    /// In the freshly cloned child: leave the caller's session and stdio,
    /// keep the channel (and console) across exec, become root of the user
    /// namespace if there is one, close every other fd, die with the
    /// supervisor, and become `mini-docker __init`.
    ///
    /// Only async-signal-safe raw calls (write, close, close_range, dup2,
    /// setsid, fcntl, prctl, getppid, execv, _exit) on fds and C strings prepared before clone, no allocation
    /// — but under `run_init_here`, set only if the parent was single-threaded.
    // SAFETY: unsafe fn: only for the async-signal-safe child of clone (a copy
    // of a maybe threaded process, where locks may be held): it keeps to the
    // calls above until exec or _exit, and never returns.
    unsafe fn exec_init(&self) -> ! {
        // Into the cgroup before anything else: all we do is counted from here.
        for fd in self.join_cgroup.into_iter().filter(|&fd| fd >= 0) {
            if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                self.fail(&self.cgroup_failed);
            }
            libc::close(fd);
        }
        // A session of our own, without a controlling terminal: nothing in
        // the container can reach the caller's terminal (TIOCSTI, job
        // control signals), and stdio are the supervisor's pipes, not the
        // caller's terminal or redirected files (/proc/1/fd/1).
        libc::setsid();
        for (target, fd) in self.stdio.into_iter().enumerate() {
            if libc::dup2(fd, target as i32) != target as i32 {
                libc::_exit(125);
            }
        }
        if let (Some(fd), Some(userns)) = (self.maps_written, self.userns) {
            self.enter_user_namespace(fd, userns);
        }
        // Every fd of the supervisor's (its container dir's lock, a netlink
        // socket in the host's namespace, the caller's extra fds) goes now,
        // before any code of the container's runs: an open host directory
        // is a way out (CVE-2024-21626's /proc/self/fd/N/../..).
        close_all_but(self.inherit);
        for fd in self.inherit.into_iter().filter(|&fd| fd >= 0) {
            libc::fcntl(fd, libc::F_SETFD, 0);
        }
        // After any credential change (which clears it): if the supervisor
        // dies, even by SIGKILL, the container dies with it.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() != self.parent && libc::getpid() != 1 {
            libc::_exit(125); // the supervisor is already gone
        }
        if self.run_init_here {
            // Never unwind out of here: above this frame lie the supervisor's
            // objects (pipes, container dir, cgroup, lease), copied by the fork;
            // their destructors must run in the supervisor only. A panic (a
            // todo!() in an exercise) has been reported by the hook already.
            let channel = self.inherit[0];
            let steps = self.steps;
            let _ = std::panic::catch_unwind(|| super::inside::main(channel, &|_| steps));
            libc::_exit(125);
        }
        libc::execv(self.exe.as_ptr(), self.argv.as_ptr());
        libc::_exit(125)
    }

    /// Wait for the supervisor to write uid_map/gid_map, then switch to uid
    /// and gid 0 *of the namespace* — before exec, because exec recomputes
    /// capabilities and a process whose uid is unmapped there keeps none.
    /// Raw syscalls: glibc's setresuid would try to sync threads we don't have.
    // SAFETY: unsafe fn: only for the async-signal-safe child of clone (from
    // exec_init): read, setgroups, setresgid, setresuid as raw syscalls on a
    // pipe fd made before clone and a local byte; no allocation, no locks.
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
            self.fail(&self.userns_failed);
        }
    }

    /// Tell the supervisor why (a message prepared before clone) and exit.
    // SAFETY: unsafe fn: only for the async-signal-safe child of clone: one
    // write(2) of a buffer encoded before clone (valid for its length) to the
    // channel fd, then _exit(2), which runs no destructors or atexit hooks.
    unsafe fn fail(&self, message: &[u8]) -> ! {
        libc::write(self.inherit[0], message.as_ptr().cast(), message.len());
        libc::_exit(125)
    }
}

/// close_range(2) every fd from 3 up except those in `keep` (-1: none).
// SAFETY: unsafe fn: only for the async-signal-safe child of clone: raw
// close_range/close syscalls on fd numbers, no allocation.
unsafe fn close_all_but(mut keep: [i32; 2]) {
    keep.sort_unstable(); // an array sort: in place, no allocation
    let mut from = 3;
    for fd in keep {
        if fd < from {
            continue; // -1 (none), or a standard fd
        }
        if fd > from {
            close_fds(from, fd - 1);
        }
        from = fd + 1;
    }
    close_fds(from, i32::MAX);
}

/// Close fds `first..=last`; kernels before 5.9 lack close_range: a loop
/// over the fds that can exist (RLIMIT_NOFILE is 1024 by default).
// SAFETY: unsafe fn: as close_all_but.
unsafe fn close_fds(first: i32, last: i32) {
    if libc::syscall(libc::SYS_close_range, first as u32, last as u32, 0) != 0 {
        for fd in first..=last.min(65_535) {
            libc::close(fd);
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
