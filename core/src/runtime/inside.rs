//! Inside the container: the container's first process (cloned by the
//! supervisor, run in place or re-executed as `mini-docker __inside FD`)
//! builds the container chapter by chapter, then becomes (or, with `--init`,
//! starts) the user's command.

use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sys::signal::SigSet;
use nix::unistd::{fork, ForkResult};

use super::channel::{self, Failed, ToInside};
use super::config::ContainerConfig;
use super::explain::step;
use super::signals::{stop_signals, unblock_stop_signals};
use super::{dev, tty};
use crate::net::{Netlink, NetworkMode};
use crate::selection::Selection;
use crate::sys::at::{self as inroot, Kind};
use crate::workshop::Steps;

/// Our end of the channel to the supervisor, where a failure is reported.
static CHANNEL: OnceLock<RawFd> = OnceLock::new();

/// Entry point of the inside. `channel_fd`: our end of the channel;
/// `steps_for`: the chapter steps for the selection the config names. Never returns.
pub fn main(channel_fd: RawFd, steps_for: &dyn Fn(Selection) -> Steps) -> ! {
    // SAFETY: the supervisor handed us this fd (by number, across exec, or in
    // place after clone); nothing else in this process owns it.
    let channel = unsafe { OwnedFd::from_raw_fd(channel_fd) };
    // The command must not inherit the channel: its exec closes our end, and
    // that EOF tells the supervisor "running".
    let _ = nix::fcntl::fcntl(
        channel_fd,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
    let _ = CHANNEL.set(channel_fd);
    let failure = match receive_config(&channel)
        .and_then(|config| start(&config, channel, &steps_for(config.selection)))
    {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let code = exit_code_for(&failure);
    report_failure(code, &format!("{failure:#}"));
    std::process::exit(code)
}

/// Tell the supervisor the start failed (or stderr, outside the inside).
pub fn report_failure(code: i32, message: &str) {
    let failed = Failed {
        code,
        message: message.to_string(),
    };
    match CHANNEL.get() {
        Some(&fd) => {
            // SAFETY: the channel stays open for the life of the process.
            let channel = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            let _ = channel::send(&channel, &failed);
        }
        None => eprintln!("mini-docker: {message}"),
    }
}

/// Is this the inside (so failures go to the supervisor)?
pub fn is_inside() -> bool {
    CHANNEL.get().is_some()
}

fn receive_config(channel: &OwnedFd) -> Result<ContainerConfig> {
    let mut config = match channel::receive(channel)? {
        Some(ToInside::Config(config)) => *config,
        _ => anyhow::bail!("the supervisor sent no container config"),
    };
    let program = channel::receive_program(channel)?;
    match (config.hardening.as_mut(), program) {
        (Some(hardening), program) => hardening.seccomp = program,
        (None, None) => {}
        (None, Some(_)) => anyhow::bail!("a seccomp program for a container without hardening"),
    }
    Ok(config)
}

/// The supervisor's "go": /etc files written, cgroup joined, network plugged
/// in. Waited for once, before the first thing that needs the host side.
struct HostReady(Option<OwnedFd>);

impl HostReady {
    fn wait(&mut self) -> Result<()> {
        let Some(channel) = self.0.take() else {
            return Ok(()); // already waited
        };
        match channel::receive(&channel)? {
            Some(ToInside::Go) => {
                std::mem::forget(channel); // stays open (close-on-exec) for a failure report
                Ok(())
            }
            _ => anyhow::bail!("the supervisor gave up before the container could start"),
        }
    }
}

fn start(config: &ContainerConfig, channel: OwnedFd, steps: &Steps) -> Result<Infallible> {
    // The filesystem first: most of it needs nothing from the host side,
    // which the supervisor is finishing meanwhile (/etc files, cgroup, veth).
    let mut host = HostReady(Some(channel));
    build_filesystem_and_names(config, &mut host, steps)?;
    // Nothing the command does may escape the cgroup's limits.
    host.wait()?;
    if config.has(6) && config.network != NetworkMode::Host {
        // Inside our own network namespace (which our user namespace owns).
        let inside = Netlink::open()?;
        let link = config.attachment.as_ref();
        steps.ch06_net.configure_inside(&inside, link)?;
        if config.explain {
            let eth0 = link.map(|l| l.container_end.as_str());
            let now = super::explain::inside_network(&inside, eth0);
            super::explain::observed(true, 6, &now);
        }
    }
    enter_workdir_and_stdin(config)?;
    // `run -t`: the pty comes from the container's own devpts, so after the pivot.
    let terminal = config.console_fd.map(tty::open_and_send).transpose()?;
    set_command_environment(config);
    mark_inherited_fds_cloexec();
    super::harden::drop_privileges(config, steps, || {
        let Some(user) = &config.user else {
            return Ok(());
        };
        step(
            config.explain,
            10,
            &format!("setgid/setuid for {user:?}"),
            "the image's User (or -u): the command runs unprivileged",
        );
        become_user(user)?;
        // The kernel clears the parent-death signal on a credential change:
        // set it again, so this container still dies with its keeper (the
        // supervisor, or `run -d`'s shim) even when that is SIGKILLed.
        // SAFETY: prctl(PR_SET_PDEATHSIG) only sets a flag of this process.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        Ok(())
    })?;
    if config.init {
        step(
            config.explain,
            4,
            "fork(); PID 1 runs init_loop",
            "--init: reap orphans, forward signals to the command",
        );
        run_as_init(config, terminal, steps)
    } else {
        if let Some(slave) = &terminal {
            tty::make_controlling(slave)?;
        }
        step(
            config.explain,
            1,
            &format!("execvp({:?})", config.argv[0]),
            "the command replaces us: it is the container now",
        );
        unblock_stop_signals()?;
        exec(&config.argv, steps)
    }
}

/// Chapters 2–5, in the order the kernel needs them.
fn build_filesystem_and_names(
    config: &ContainerConfig,
    host: &mut HostReady,
    steps: &Steps,
) -> Result<()> {
    let say = config.explain;
    if config.has(5) {
        step(
            say,
            5,
            "mount(\"/\", MS_REC | MS_SLAVE)",
            "our mounts must never propagate to the host",
        );
        let before = say.then(super::explain::root_propagation);
        steps.ch05_mount.make_mounts_private()?;
        if let Some(before) = before {
            let after = super::explain::root_propagation();
            super::explain::observed(say, 5, &format!("/ propagation was {before}; now {after}"));
        }
    } else if config.has(4) {
        step(
            say,
            4,
            "mount(\"/\", MS_REC | MS_PRIVATE)",
            "scaffold: keeps the /proc mount off the host",
        );
        scaffold_private_mounts()?;
    }
    if let Some(overlay) = &config.overlay {
        let mount_point_layer = overlay.lowers.iter().any(|l| l.starts_with("mountpoints-"));
        let what = format!(
            "mount overlay: {} image layers{} under {}",
            overlay.lowers.len() - mount_point_layer as usize,
            if mount_point_layer {
                " + mount-point layer"
            } else {
                ""
            },
            overlay.upper.display()
        );
        step(
            say,
            10,
            &what,
            "the image's layers, read-only, under the container's own writable one",
        );
        // The lowerdir paths are short and relative to the layers dir: mount options fit in a page.
        nix::unistd::chdir(&overlay.layers_dir).context("chdir to the layers")?;
        let in_userns = config.userns.is_some();
        steps.ch10_layers.mount_overlay(
            &overlay.lowers,
            &overlay.upper,
            &overlay.work,
            &overlay.merged,
            in_userns,
            overlay.volatile,
        )?;
        if say {
            let mounted = super::explain::overlay_at(&overlay.merged);
            super::explain::observed(say, 10, &mounted);
        }
        nix::unistd::chdir("/").context("chdir(/)")?;
    }
    if config.has(3) {
        step(
            say,
            3,
            &format!("sethostname({:?})", config.hostname),
            "only our UTS namespace changes",
        );
        steps.ch03_uts.set_hostname(&config.hostname)?;
        if say {
            let now = nix::unistd::gethostname().unwrap_or_default();
            super::explain::observed(say, 3, &format!("uname -n now says {now:?}"));
        }
    }
    let rootfs = config.rootfs.as_deref();
    if config.has(5) {
        let rootfs = rootfs.context("chapter 5 needs a rootfs")?;
        // Everything is mounted into the rootfs *before* the pivot: host
        // devices are only reachable then, and in a user namespace the kernel
        // lets us mount proc and sysfs only while a full one is still visible.
        step(
            say,
            5,
            "mount tmpfs on rootfs/dev + mknod null zero ...",
            "host devices are reachable only before the pivot",
        );
        dev::populate(rootfs, devpts_gid(config), config.userns.is_some())?;
        host.wait()?; // the supervisor has written /etc/hosts and resolv.conf
        bind_volumes_and_files(config, rootfs)?;
        step(
            say,
            4,
            "mount(\"proc\", rootfs/proc, \"proc\")",
            "procfs shows the PID namespace of whoever mounts it",
        );
        steps.ch04_pid.mount_proc(&inroot::fd_path(&inroot::ensure(
            rootfs,
            "/proc",
            Kind::Dir,
        )?))?;
        if say {
            // Looked up again: the fd above is the directory *under* the new mount.
            let proc = inroot::ensure(rootfs, "/proc", Kind::Dir)?;
            let lists = super::explain::proc_lists(&inroot::fd_path(&proc));
            super::explain::observed(say, 4, &lists);
        }
        step(
            say,
            5,
            "mount(\"sysfs\", rootfs/sys, MS_RDONLY)",
            "programs expect /sys; the host's devices stay safe",
        );
        steps
            .ch05_mount
            .mount_sys(&inroot::fd_path(&inroot::ensure(
                rootfs,
                "/sys",
                Kind::Dir,
            )?))?;
        step(
            say,
            5,
            "bind rootfs; pivot_root(\".\", \".\")",
            "pivot_root needs the new root to be a mount point",
        );
        step(
            say,
            5,
            "umount2(\".\", MNT_DETACH)",
            "detach the host's tree: nothing left to escape to",
        );
        steps.ch05_mount.pivot_into(rootfs)?;
        // Chapter 11: everything it mounts is the container's own (no host path).
        super::harden::filesystem(config, steps)?;
    } else if config.has(2) {
        let rootfs = rootfs.context("chapter 2 needs a rootfs")?;
        step(
            say,
            2,
            &format!("chroot({}); chdir(\"/\")", rootfs.display()),
            "absolute paths now start in the rootfs",
        );
        steps.ch02_chroot.enter_rootfs(rootfs)?;
        if config.has(4) {
            step(
                say,
                4,
                "mount(\"proc\", \"/proc\", \"proc\")",
                "procfs shows the PID namespace of whoever mounts it",
            );
            steps.ch04_pid.mount_proc(Path::new("/proc"))?;
            if say {
                let lists = super::explain::proc_lists(Path::new("/proc"));
                super::explain::observed(say, 4, &lists);
            }
        }
    }
    Ok(())
}

/// The image's WorkingDir (or -w), made if missing like docker does; stdin
/// from /dev/null unless `run -i`.
fn enter_workdir_and_stdin(config: &ContainerConfig) -> Result<()> {
    if let Some(dir) = &config.workdir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("create the working directory {dir}"))?;
        nix::unistd::chdir(dir.as_str()).with_context(|| format!("chdir({dir})"))?;
    }
    if config.stdin_null {
        let null = std::fs::File::open("/dev/null").context("open /dev/null")?;
        nix::unistd::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 0)
            .context("stdin from /dev/null")?;
    }
    Ok(())
}

/// `uid[:gid]` or `name[:group]`, names looked up in the container's own /etc files.
pub(crate) fn become_user(spec: &str) -> Result<()> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let lookup = |file: &str, name: &str, field: usize| -> Option<u32> {
        let text = std::fs::read_to_string(file).ok()?;
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&name))
                .then(|| f.get(field)?.parse().ok())
                .flatten()
        })
    };
    let uid = user
        .parse()
        .ok()
        .or_else(|| lookup("/etc/passwd", user, 2))
        .with_context(|| format!("no user {user:?} in the container's /etc/passwd"))?;
    let gid = match group {
        Some(g) => g
            .parse()
            .ok()
            .or_else(|| lookup("/etc/group", g, 2))
            .with_context(|| format!("no group {g:?} in the container's /etc/group"))?,
        None => lookup("/etc/passwd", user, 3).unwrap_or(uid),
    };
    let gid = nix::unistd::Gid::from_raw(gid);
    // A rootless user namespace has setgroups "deny" (the kernel's rule for
    // an unprivileged gid map): the groups we have are the only ones we may
    // keep, as the container's own first process did (spawn.rs).
    if !setgroups_denied() {
        nix::unistd::setgroups(&[gid]).context("setgroups")?;
    }
    nix::unistd::setresgid(gid, gid, gid).context("setresgid")?;
    let uid = nix::unistd::Uid::from_raw(uid);
    nix::unistd::setresuid(uid, uid, uid).context("setresuid")?;
    Ok(())
}

/// /proc/self/setgroups of our user namespace says "deny".
fn setgroups_denied() -> bool {
    std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny")
}

/// devpts's gid=5 (tty) only if that gid exists in the container.
fn devpts_gid(config: &ContainerConfig) -> Option<u32> {
    match &config.userns {
        Some(map) if !map.maps_gid(5) => None,
        _ => Some(5),
    }
}

/// `-v` volumes and the per-container /etc files, bound into the rootfs
/// before the pivot (their sources are host paths). Targets are resolved
/// inside the rootfs, so a symlink in it cannot redirect a mount to the host.
fn bind_volumes_and_files(config: &ContainerConfig, rootfs: &Path) -> Result<()> {
    for volume in &config.volumes {
        let kind = if volume.host.is_dir() {
            Kind::Dir
        } else {
            Kind::File
        };
        let target = inroot::ensure(rootfs, &volume.container, kind)?;
        step(
            config.explain,
            5,
            &format!("bind {} on {}", volume.host.display(), volume.container),
            "a host directory shared with the container",
        );
        bind(&volume.host, &inroot::fd_path(&target))?;
        if volume.read_only {
            // `target` is the directory *under* the new mount, not a mount
            // point: the same path looked up again now finds the mount's root.
            let mounted = inroot::ensure(rootfs, &volume.container, kind)?;
            remount_read_only(&inroot::fd_path(&mounted))
                .with_context(|| format!("make {} read-only", volume.container))?;
        }
    }
    if config.has(6) {
        for (source, target) in &config.etc_files {
            let target_fd = inroot::ensure(rootfs, target, Kind::File)?;
            bind(source, &inroot::fd_path(&target_fd))?;
        }
    }
    Ok(())
}

fn bind(source: &Path, target: &Path) -> Result<()> {
    let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
    mount(Some(source), target, None::<&str>, flags, None::<&str>)
        .with_context(|| format!("bind mount {}", source.display()))
}

/// A bind mount takes its flags only on a second, remounting call, which
/// sets them all: the ones it already has (nosuid, nodev... inherited from
/// the source, and locked in a user namespace) must be asked for again.
fn remount_read_only(mount_root: &Path) -> Result<()> {
    use nix::sys::statvfs::{statvfs, FsFlags};
    let kept = statvfs(mount_root)?.flags();
    let mut flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
    for (has, keep) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if kept.contains(has) {
            flags |= keep;
        }
    }
    mount(None::<&str>, mount_root, None::<&str>, flags, None::<&str>)?;
    Ok(())
}

/// Chapter 4 without chapter 5: keep our /proc mount out of the host's table.
fn scaffold_private_mounts() -> Result<()> {
    let flags = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
    mount(None::<&str>, "/", None::<&str>, flags, None::<&str>).context("make / private")
}

/// Only what the image and `-e` define (and docker's defaults): nothing of
/// the caller's environment, which the inside inherited.
fn set_command_environment(config: &ContainerConfig) {
    for (key, _) in std::env::vars_os() {
        std::env::remove_var(key);
    }
    for (key, value) in &config.env {
        std::env::set_var(key, value);
    }
    if std::env::var_os("HOME").is_none() {
        std::env::set_var("HOME", home_of(config.user.as_deref()));
    }
}

/// HOME as docker sets it: the user's home in the container's /etc/passwd,
/// /root for root, / when the user has no entry.
pub(crate) fn home_of(user: Option<&str>) -> String {
    let user = user.map(|spec| spec.split(':').next().unwrap_or(spec));
    let Some(user) = user.filter(|u| *u != "root" && *u != "0") else {
        return "/root".into();
    };
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 5 && (f[0] == user || f[2] == user))
        .map(|f| f[5].to_string())
        .unwrap_or_else(|| "/".into())
}

/// Nothing but stdin/stdout/stderr may leak into the container's command.
pub(crate) fn mark_inherited_fds_cloexec() {
    // close_range(3, ~0, CLOSE_RANGE_CLOEXEC): one syscall instead of a loop over /proc/self/fd.
    // SAFETY: only sets flags on descriptors.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if ret != 0 {
        for fd in 3..1024 {
            let _ = nix::fcntl::fcntl(
                fd,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            );
        }
    }
}

/// `--init`: stay PID 1, start the command as our child, reap and forward.
fn run_as_init(
    config: &ContainerConfig,
    terminal: Option<std::os::fd::OwnedFd>,
    steps: &Steps,
) -> Result<Infallible> {
    let mut signals = stop_signals();
    signals.add(nix::sys::signal::Signal::SIGCHLD);
    signals.add(nix::sys::signal::Signal::SIGUSR1);
    signals.add(nix::sys::signal::Signal::SIGUSR2);
    signals.thread_block().context("block signals")?;
    // SAFETY: the init is single-threaded (fresh exec), so fork is safe.
    match unsafe { fork() }.context("fork the command")? {
        ForkResult::Child => {
            let attached = match &terminal {
                Some(slave) => tty::make_controlling(slave),
                None => Ok(()),
            };
            let unblocked =
                attached.and_then(|_| SigSet::all().thread_unblock().context("unblock signals"));
            let err = unblocked
                .and_then(|_| exec(&config.argv, steps))
                .unwrap_err();
            report_failure(exit_code_for(&err), &format!("{err:#}"));
            std::process::exit(exit_code_for(&err))
        }
        ForkResult::Parent { child } => {
            // PID 1 keeps nothing but its stdio: the command can reach its
            // fds through /proc/1/fd.
            drop(terminal);
            close_channel();
            close_all_from_3();
            let status = steps.ch04_pid.init_loop(child, &signals)?;
            std::process::exit(steps.ch01_process.exit_code(status))
        }
    }
}

/// close_range(3, ~0): no fd but stdin, stdout and stderr stays open.
fn close_all_from_3() {
    // SAFETY: closes descriptors only; the fds this process still owns as
    // objects (the channel, the terminal) were closed or dropped before.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if ret != 0 {
        for fd in 3..1024 {
            let _ = nix::unistd::close(fd);
        }
    }
}

fn close_channel() {
    if let Some(&fd) = CHANNEL.get() {
        let _ = nix::unistd::close(fd);
    }
}

/// exec the command; on failure say why, with docker's exit codes.
pub(crate) fn exec(argv: &[String], steps: &Steps) -> Result<Infallible> {
    let args: Vec<CString> = argv
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()
        .context("command contains a NUL byte")?;
    let program = &argv[0];
    let errno = match steps.ch01_process.exec_command(&args) {
        Ok(never) => match never {},
        Err(errno) => errno,
    };
    Err(ExecFailed {
        program: program.clone(),
        errno,
    }
    .into())
}

#[derive(Debug)]
struct ExecFailed {
    program: String,
    errno: Errno,
}

impl std::fmt::Display for ExecFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why = match self.errno {
            Errno::ENOENT if !self.program.contains('/') => {
                "executable file not found in $PATH".to_string()
            }
            Errno::ENOENT => "no such file or directory".to_string(),
            e => e.desc().to_lowercase(),
        };
        write!(f, "exec {:?}: {why}", self.program)
    }
}
impl std::error::Error for ExecFailed {}

/// docker's convention: 127 not found, 126 found but not executable, 125 our own failure.
pub(crate) fn exit_code_for(err: &anyhow::Error) -> i32 {
    match err.downcast_ref::<ExecFailed>().map(|e| e.errno) {
        Some(Errno::ENOENT) | Some(Errno::ENOTDIR) => 127,
        Some(_) => 126,
        None => 125,
    }
}
