//! Chapter 5 — mount namespace and pivot_root: a filesystem tree of its own.
//! Lesson: chapters/05-mount.md

use std::path::Path;

use anyhow::{Context, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::unistd::{chdir, pivot_root};

/// The clone(2) flag this chapter adds: a private copy of the mount table.
pub fn namespaces() -> CloneFlags {
    CloneFlags::CLONE_NEWNS
}

/// The copy of the mount table still *shares* events with the host (systemd
/// makes `/` shared). Turn every mount into a slave, recursively: host mounts
/// still reach us, ours never reach the host — and pivot_root agrees to run.
pub fn make_mounts_private() -> Result<()> {
    let flags = MsFlags::MS_REC | MsFlags::MS_SLAVE;
    mount(None::<&str>, "/", None::<&str>, flags, None::<&str>).context("make / rslave")
}

/// Make `rootfs` the root of this mount namespace and let go of the host's tree.
pub fn pivot_into(rootfs: &Path) -> Result<()> {
    // pivot_root needs the new root to be a mount point: bind it onto itself.
    let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
    mount(Some(rootfs), rootfs, None::<&str>, bind, None::<&str>)
        .with_context(|| format!("bind mount {} on itself", rootfs.display()))?;
    chdir(rootfs).with_context(|| format!("chdir({})", rootfs.display()))?;
    // pivot_root(".", "."): the old root ends up stacked on top of the new one...
    pivot_root(".", ".").context("pivot_root")?;
    // ...so unmounting "." detaches the host's whole tree, and rootfs shows again.
    umount2(".", MntFlags::MNT_DETACH).context("detach the old root")?;
    chdir("/").context("chdir(/)")?;
    Ok(())
}

/// sysfs on `target` (the container's /sys), read-only: programs expect /sys,
/// but the container must not change the host's devices.
pub fn mount_sys(target: &Path) -> Result<()> {
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("sysfs"), target, Some("sysfs"), flags, None::<&str>).context("mount sysfs on /sys")
}
