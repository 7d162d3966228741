//! Chapter 5 — mount namespace and pivot_root.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use anyhow::{bail, Result};

use super::ch02::{breakout_command, breakout_setup};
use super::probe::{expect_own_namespace, mountinfo, Mount};
use super::{random_hex, Check, Ctx};

pub fn checks() -> Vec<Check> {
    vec![
        Check { id: "5.1", title: "/proc/PID/ns/mnt differs from the host's", points: 1,
            hint: "add CloneFlags::CLONE_NEWNS to the clone flags", run: mnt_ns },
        Check { id: "5.2", title: "the container's mountinfo: root is the rootfs, no host mount", points: 3,
            hint: "bind-mount rootfs on itself, pivot_root(\".\", \".\"), then umount2(\".\", MNT_DETACH)", run: no_host_mounts },
        Check { id: "5.3", title: "a mount made inside never appears on the host", points: 2,
            hint: "mount(None, \"/\", None, MS_REC | MS_SLAVE, None) before any other mount", run: mount_stays_inside },
        Check { id: "5.4", title: "/proc is proc, /sys is read-only sysfs, /dev is minimal", points: 2,
            hint: "mount sysfs with MS_RDONLY; mount proc after pivot_root", run: pseudo_filesystems },
        Check { id: "5.5", title: "the chroot breakout from chapter 2 now fails", points: 2,
            hint: "after pivot_root the old root must be detached (umount2 MNT_DETACH), not just hidden", run: breakout_fails },
    ]
}

fn mnt_ns(ctx: &Ctx) -> Result<()> {
    let running = ctx.start(5, &[], ":")?;
    expect_own_namespace(running.container_pid()?, "mnt", "CLONE_NEWNS")?;
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

fn mount_stays_inside(ctx: &Ctx) -> Result<()> {
    let tag = format!("md-probe-{}", random_hex(4)?);
    let running = ctx.start(5, &[], &format!("mount -t tmpfs -o size=1m {tag} /mnt"))?;
    let inside = mountinfo(Some(running.container_pid()?))?
        .iter()
        .any(|m| m.source == tag);
    let on_host = mountinfo(None)?.iter().any(|m| m.source == tag);
    running.finish()?;
    if !inside {
        bail!("the container could not mount a tmpfs on /mnt (is it root in its own mount namespace?)");
    }
    if on_host {
        bail!("the tmpfs {tag} mounted inside the container appeared in the host's mountinfo (shared propagation)");
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
