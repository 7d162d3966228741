//! The container's first process, from clone to execve. `create` clones it
//! into the new namespaces (it runs in place: `create` is single-threaded,
//! so the copy is safe to run on); it builds the container, says "ready",
//! then blocks opening the exec fifo until `start` opens the other end.

use std::convert::Infallible;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::{bail, Context, Result};
use nix::mount::{mount, MsFlags};
use nix::sched::CloneFlags;
use nix::unistd::Pid;

use super::create::{step_ch11, InitPlan};
use crate::runtime::tty;
use crate::workshop::Steps;

/// clone(2) the init with the plan's new namespaces; it never returns in the child.
pub fn spawn(plan: &InitPlan, channel: UnixStream, steps: &Steps) -> Result<Pid> {
    // The child runs Rust code in a copy of this process: only safe if no
    // other thread exists whose locks the copy could inherit held.
    let threads = std::fs::read_dir("/proc/self/task")
        .map(|t| t.count())
        .unwrap_or(0);
    if threads != 1 {
        bail!("create must be single-threaded before clone ({threads} threads)");
    }
    let flags = plan.namespaces.clone_flags.bits() as libc::c_long | libc::SIGCHLD as libc::c_long;
    // SAFETY: fork semantics (no new stack); this process is single-threaded
    // (the runc front-end starts no thread), so the child may run Rust code.
    let ret = unsafe { libc::syscall(libc::SYS_clone, flags, 0, 0, 0, 0) };
    if ret < 0 {
        bail!(
            "clone({:?}): {}",
            plan.namespaces.clone_flags,
            std::io::Error::last_os_error()
        );
    }
    if ret == 0 {
        child(plan, channel, steps);
    }
    Ok(Pid::from_raw(ret as i32))
}

/// In the child: run the init; a failure goes to `create` over the channel.
fn child(plan: &InitPlan, mut channel: UnixStream, steps: &Steps) -> ! {
    // Nothing of `create`'s but what the init needs: its end of the
    // channel, the fifo, the console socket (and --preserve-fds).
    let mut keep = vec![channel.as_raw_fd(), plan.fifo.as_raw_fd()];
    keep.extend(plan.console.as_ref().map(|c| c.as_raw_fd()));
    close_all_but(&keep, 3 + plan.preserve_fds as i32);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        init(plan, &mut channel, steps)
    }));
    let message = match outcome {
        Ok(Ok(never)) => match never {},
        Ok(Err(err)) => format!("{err:#}"),
        Err(_) => "the container's init panicked".to_string(),
    };
    // Before "ready", `create` reports it; after, it is the container's stderr.
    let line = format!("error: {}\n", message.replace('\n', " "));
    if channel.write_all(line.as_bytes()).is_err() {
        let _ = writeln!(std::io::stderr(), "{}: {message}", super::RUNC_NAME);
    }
    // SAFETY: _exit ends this copy without running the parent's destructors.
    unsafe { libc::_exit(if message.starts_with("exec ") { 127 } else { 1 }) }
}

fn init(plan: &InitPlan, channel: &mut UnixStream, steps: &Steps) -> Result<Infallible> {
    // `create` writes our id maps and puts us in our cgroup, then says "go".
    let mut go = [0u8; 1];
    channel
        .read_exact(&mut go)
        .context("wait for the runtime")?;
    let spec = &plan.spec;
    let process = spec.process().as_ref().context("no process")?;
    let linux = spec.linux().clone().unwrap_or_default();
    let flags = plan.namespaces.clone_flags;
    if flags.contains(CloneFlags::CLONE_NEWUSER) {
        nix::unistd::setresgid(0.into(), 0.into(), 0.into()).context("setresgid(0)")?;
        nix::unistd::setresuid(0.into(), 0.into(), 0.into()).context("setresuid(0)")?;
    }
    nix::unistd::setsid().context("setsid")?;
    // Decided while the host is still in view: the process's seccomp
    // program, its capability sets, its argv.
    let mut prepared = super::process::prepare(process, linux.seccomp().as_ref(), steps)?;
    prepared.preserve_fds = plan.preserve_fds;
    build_root(plan, &linux, steps)?;
    if flags.contains(CloneFlags::CLONE_NEWUTS) {
        if let Some(hostname) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
            steps.ch03_uts.set_hostname(hostname)?;
        }
        if let Some(domain) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
            // SAFETY: a valid buffer of the given length.
            if unsafe { libc::setdomainname(domain.as_ptr().cast(), domain.len()) } != 0 {
                bail!("setdomainname: {}", std::io::Error::last_os_error());
            }
        }
    }
    if let Some(console) = &plan.console {
        let slave = tty::open_and_send(console.as_raw_fd())?;
        tty::make_controlling(&slave)?;
    }
    super::process::set_oom_score_adj(process)?;
    super::process::set_rlimits(process)?;
    let cwd = process.cwd();
    nix::unistd::chdir(cwd).with_context(|| format!("chdir to process.cwd {}", cwd.display()))?;
    channel.write_all(b"ready\n").context("tell the runtime")?;
    wait_for_start(&plan.fifo)?;
    super::process::finish_and_exec(process, &prepared, steps)
}

/// Mounts, devices, pivot_root, sysctl, masked and read-only paths, a
/// read-only root: the container's filesystem.
fn build_root(plan: &InitPlan, linux: &oci_spec::runtime::Linux, steps: &Steps) -> Result<()> {
    let propagation = match linux.rootfs_propagation().as_deref() {
        None | Some("") | Some("rslave") => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        Some("slave") => MsFlags::MS_SLAVE,
        Some("rprivate") => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        Some("private") => MsFlags::MS_PRIVATE,
        Some("rshared") => MsFlags::MS_SHARED | MsFlags::MS_REC,
        Some("shared") => MsFlags::MS_SHARED,
        Some("unbindable") | Some("runbindable") => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        Some(other) => bail!("linux.rootfsPropagation {other:?} is not a propagation"),
    };
    // Our mounts must never reach the host (chapter 5).
    mount(None::<&str>, "/", None::<&str>, propagation, None::<&str>)
        .context("set the propagation of /")?;
    let rootfs = &plan.rootfs;
    // The host's cgroup layout, read while the host's /sys/fs/cgroup is in view.
    let cgroupfs = crate::cgroups::CgroupFs::of_host(false, true)?;
    // The rootfs a mount point of its own, so the mounts below land on it.
    mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .with_context(|| format!("bind {} on itself", rootfs.display()))?;
    for mount_plan in &plan.mounts {
        super::mounts::apply(mount_plan, rootfs, &plan.bundle)?;
    }
    let in_userns = plan
        .namespaces
        .clone_flags
        .contains(CloneFlags::CLONE_NEWUSER);
    super::mounts::populate_dev(
        rootfs,
        linux.devices().as_deref().unwrap_or_default(),
        in_userns,
    )?;
    let own_cgroupns = plan
        .namespaces
        .clone_flags
        .contains(CloneFlags::CLONE_NEWCGROUP);
    if !own_cgroupns {
        super::mounts::cgroupfs_host_view(&plan.mounts, rootfs, &cgroupfs, &plan.cgroup_path)?;
    }
    if plan.no_pivot {
        move_root(rootfs)?;
    } else {
        steps.ch05_mount.pivot_into(rootfs)?;
    }
    if own_cgroupns {
        super::mounts::cgroupfs_in_namespace(&plan.mounts, &cgroupfs, steps)?;
    }
    for (key, value) in linux.sysctl().iter().flatten() {
        let file = Path::new("/proc/sys").join(key.replace('.', "/"));
        std::fs::write(&file, value).with_context(|| format!("sysctl {key}={value}"))?;
    }
    let masked: Vec<&Path> = linux
        .masked_paths()
        .iter()
        .flatten()
        .map(Path::new)
        .collect();
    step_ch11("mask_paths", || steps.ch11_hardening.mask_paths(&masked))?;
    for path in linux.readonly_paths().iter().flatten() {
        step_ch11("make_read_only", || {
            steps.ch11_hardening.make_read_only(Path::new(path))
        })?;
    }
    if plan
        .spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        remount_root_read_only()?;
    }
    Ok(())
}

/// --no-pivot: move the rootfs over / and chroot (pivot_root cannot work
/// on a ramfs root).
fn move_root(rootfs: &Path) -> Result<()> {
    nix::unistd::chdir(rootfs).context("chdir to the rootfs")?;
    mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
        .context("move the rootfs to /")?;
    nix::unistd::chroot(".").context("chroot")?;
    nix::unistd::chdir("/").context("chdir /")
}

/// root.readonly: the root mount, with the flags it has plus MS_RDONLY.
fn remount_root_read_only() -> Result<()> {
    use nix::sys::statvfs::{statvfs, FsFlags};
    let kept = statvfs("/")?.flags();
    let mut flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
    for (has, keep) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
    ] {
        if kept.contains(has) {
            flags |= keep;
        }
    }
    mount(None::<&str>, "/", None::<&str>, flags, None::<&str>).context("remount / read-only")
}

/// Block opening the exec fifo for writing until `start` opens it for
/// reading, then write one byte: `start` knows we go on.
fn wait_for_start(fifo: &OwnedFd) -> Result<()> {
    // Through /proc/self/fd: the fifo's path is on the host, out of view now.
    let path = format!("/proc/self/fd/{}", fifo.as_raw_fd());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .context("open the exec fifo")?;
    file.write_all(b"0").context("write to the exec fifo")?;
    Ok(())
}

/// close every fd from `first` up, except `keep`.
pub fn close_all_but(keep: &[i32], first: i32) {
    let mut keep: Vec<i32> = keep.iter().copied().filter(|&fd| fd >= first).collect();
    keep.sort_unstable();
    let mut from = first;
    for fd in keep {
        if fd > from {
            close_range(from, fd - 1);
        }
        from = fd + 1;
    }
    close_range(from, i32::MAX);
}

fn close_range(first: i32, last: i32) {
    // SAFETY: closes descriptors only; the ones this process still uses as
    // objects are in `keep`.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first as u32, last as u32, 0u32) };
    if ret != 0 {
        for fd in first..=last.min(4096) {
            let _ = nix::unistd::close(fd);
        }
    }
}
