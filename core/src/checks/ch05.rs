//! Chapter 5 — mount namespace and pivot_root.

use std::collections::BTreeSet;
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use nix::unistd::Pid;

use super::ch02::{breakout_command, breakout_setup};
use super::probe::{expect_own_namespace, mountinfo, Mount};
use super::{random_hex, Check, Ctx};

pub fn checks() -> Vec<Check> {
    vec![
        Check { id: "5.1", title: "/proc/PID/ns/mnt differs from mini-docker's (and the host's)", points: 1,
            hint: "add CloneFlags::CLONE_NEWNS to the clone flags", run: mnt_ns },
        Check { id: "5.2", title: "the container's mountinfo: root is the rootfs, no host mount", points: 3,
            hint: "bind-mount rootfs on itself, pivot_root(\".\", \".\"), then umount2(\".\", MNT_DETACH)", run: no_host_mounts },
        Check { id: "5.3", title: "propagation one way: a mount made outside after the start shows inside; a mount made inside never shows outside", points: 2,
            hint: "make_mounts_private: mount(None, \"/\", None, MS_REC | MS_SLAVE, None) — not MS_PRIVATE (the host's later mounts must still reach the container), and not left out (a shared / leaks the container's mounts, and pivot_root refuses it)", run: mount_stays_inside },
        Check { id: "5.4", title: "/proc is proc, /sys is read-only sysfs, /dev is minimal", points: 2,
            hint: "mount sysfs with MS_RDONLY; mount proc after pivot_root", run: pseudo_filesystems },
        Check { id: "5.5", title: "the chroot breakout from chapter 2 now fails", points: 2,
            hint: "after pivot_root the old root must be detached (umount2 MNT_DETACH), not just hidden", run: breakout_fails },
        Check { id: "5.6", title: "the container's working directory is its new root", points: 1,
            hint: "chdir(\"/\") after pivot_root: the cwd still points into the host's old tree otherwise", run: cwd_is_root },
    ]
}

fn mnt_ns(ctx: &Ctx) -> Result<()> {
    let running = ctx.start(5, &[], ":")?;
    expect_own_namespace(running.container_pid()?, running.supervisor(), "mnt", "CLONE_NEWNS")?;
    running.finish()?;
    Ok(())
}

/// Mount points the container is meant to have.
fn expected_mount_point(path: &str) -> bool {
    matches!(
        path,
        "/" | "/proc" | "/sys" | "/dev" | "/dev/pts" | "/dev/shm"
    ) || crate::devices::DEFAULT_DEVICES
        .iter()
        .any(|d| path == format!("/dev/{}", d.name))
}

fn no_host_mounts(ctx: &Ctx) -> Result<()> {
    let running = ctx.start(5, &[], ":")?;
    let mounts = mountinfo(Some(running.container_pid()?))?;
    running.finish()?;
    let rootfs = ctx.rootfs()?.to_string_lossy().into_owned();
    let root = mounts.iter().find(|m| m.mount_point == "/");
    match root {
        None => bail!("no mount at \"/\" in the container's mountinfo: its root is a plain directory (chroot?), not a pivoted mount"),
        Some(m) if m.root == "/" || !rootfs.ends_with(&m.root) => {
            bail!("the container's \"/\" is {} from {} — not the rootfs {rootfs}", m.root, m.source)
        }
        Some(_) => {}
    }
    let strays: Vec<&Mount> = mounts
        .iter()
        .filter(|m| !expected_mount_point(&m.mount_point))
        .collect();
    if !strays.is_empty() {
        let list: Vec<String> = strays
            .iter()
            .take(5)
            .map(|m| format!("{} ({})", m.mount_point, m.fstype))
            .collect();
        bail!(
            "{} host mount(s) still visible inside, e.g. {}",
            strays.len(),
            list.join(", ")
        );
    }
    Ok(())
}

/// Where the check mounts, outside, after the container started: a directory
/// of the rootfs, so the container sees it (as /home) if propagation reaches it.
const OUTSIDE_MOUNT_DIR: &str = "home";

/// The sandbox (sandbox.rs) makes mini-docker's mounts shared, as systemd does
/// on most hosts: so MS_PRIVATE (nothing comes in) and a missing
/// make_mounts_private (things go out; pivot_root fails) both show, on any host.
fn mount_stays_inside(ctx: &Ctx) -> Result<()> {
    let inside_tag = format!("md-inside-{}", random_hex(4)?);
    let outside_tag = format!("md-outside-{}", random_hex(4)?);
    let script = format!("mount -t tmpfs -o size=1m {inside_tag} /mnt");
    let running = ctx.start(5, &[], &script)?;
    let (pid, supervisor) = (running.container_pid()?, running.supervisor());
    let target = ctx.rootfs()?.join(OUTSIDE_MOUNT_DIR);
    mount_in_namespace_of(supervisor, &outside_tag, &target)?;
    let inside = mountinfo(Some(pid))?;
    let outside = mountinfo(Some(supervisor))?;
    running.finish()?;
    if !inside.iter().any(|m| m.source == inside_tag) {
        bail!("the container could not mount a tmpfs on /mnt (is it root in its own mount namespace?)");
    }
    if outside.iter().any(|m| m.source == inside_tag) {
        bail!("the tmpfs {inside_tag} mounted inside the container appeared in mini-docker's mount table (shared propagation: make / rslave first)");
    }
    if !inside.iter().any(|m| m.source == outside_tag) {
        bail!("a tmpfs mounted outside on {} after the start never reached the container's /{OUTSIDE_MOUNT_DIR}: its mounts are private, not slaves (MS_PRIVATE instead of MS_SLAVE?)", target.display());
    }
    Ok(())
}

/// `mount -t tmpfs TAG TARGET` in `pid`'s mount namespace (mini-docker's, in
/// the check's sandbox: it vanishes with the sandbox). A child process, because
/// a multithreaded process cannot setns into a mount namespace.
fn mount_in_namespace_of(pid: Pid, tag: &str, target: &Path) -> Result<()> {
    let ns = fs::File::open(format!("/proc/{pid}/ns/mnt"))?;
    let fd = ns.as_raw_fd();
    let mut command = Command::new("mount");
    command.args(["-t", "tmpfs", "-o", "size=64k", tag]).arg(target);
    // SAFETY: the closure runs between fork and exec; it only calls setns(2),
    // which is async-signal-safe, on a descriptor opened before the fork.
    unsafe {
        command.pre_exec(move || match libc::setns(fd, libc::CLONE_NEWNS) {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        });
    }
    let output = command.output().context("run mount")?;
    if !output.status.success() {
        bail!(
            "mount a tmpfs on {} in mini-docker's mount namespace: {}",
            target.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// A pivot_root without chdir("/") leaves the cwd where mini-docker started:
/// the checks start it outside / (`Ctx::command`), so the mistake shows.
fn cwd_is_root(ctx: &Ctx) -> Result<()> {
    let running = ctx.start(5, &[], ":")?;
    let pid = running.container_pid()?;
    let cwd = fs::metadata(format!("/proc/{pid}/cwd"))?;
    let root = fs::metadata(format!("/proc/{pid}/root"))?;
    let shown = fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
    running.finish()?;
    if (cwd.dev(), cwd.ino()) != (root.dev(), root.ino()) {
        bail!(
            "the container's working directory is {} (outside its root): no chdir(\"/\") after pivot_root",
            shown.display()
        );
    }
    Ok(())
}

fn pseudo_filesystems(ctx: &Ctx) -> Result<()> {
    let running = ctx.start(5, &[], ":")?;
    let pid = running.container_pid()?;
    let mounts = mountinfo(Some(pid))?;
    let dev: BTreeSet<String> = fs::read_dir(format!("/proc/{pid}/root/dev"))?
        .filter_map(|e| e.ok()?.file_name().to_str().map(str::to_string))
        .collect();
    let null = fs::metadata(format!("/proc/{pid}/root/dev/null"))?;
    running.finish()?;
    let find = |point: &str| mounts.iter().find(|m| m.mount_point == point);
    for (point, fstype) in [
        ("/proc", "proc"),
        ("/sys", "sysfs"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
    ] {
        match find(point) {
            Some(m) if m.fstype == fstype => {}
            Some(m) => bail!("{point} is {}, expected {fstype}", m.fstype),
            None => bail!("nothing mounted on {point}"),
        }
    }
    if !find("/sys").is_some_and(|m| m.options.split(',').any(|o| o == "ro")) {
        bail!("/sys is mounted read-write: the container could change the host's devices");
    }
    let expected: BTreeSet<String> = crate::devices::DEFAULT_DEVICES
        .iter()
        .map(|d| d.name)
        .chain(["pts", "shm", "ptmx", "fd", "stdin", "stdout", "stderr"])
        .map(|s| s.to_string())
        .collect();
    if dev != expected {
        bail!("/dev holds {dev:?}, expected exactly {expected:?}");
    }
    if !(null.file_type().is_char_device() && null.rdev() == libc::makedev(1, 3)) {
        bail!("/dev/null is not the 1:3 character device");
    }
    Ok(())
}

fn breakout_fails(ctx: &Ctx) -> Result<()> {
    let (helper, marker, secret) = breakout_setup(ctx)?;
    let cmd = breakout_command(&helper, &marker);
    let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let o = ctx.output(5, &[], &args, b"")?;
    let seen = String::from_utf8_lossy(&o.stdout);
    if seen.contains(&secret) {
        bail!(
            "the breakout read the host's {} from inside the container",
            marker.0.display()
        );
    }
    if o.status.code() != Some(3) {
        bail!(
            "the breakout helper did not run to its end (exit {:?}){}",
            o.status.code(),
            super::stderr_suffix(&String::from_utf8_lossy(&o.stderr))
        );
    }
    Ok(())
}
