//! Chapter 5 — mount namespace and pivot_root: a filesystem tree of its own.
//! Lesson: chapters/05-mount.md   Check: mini-docker check 5

use std::path::Path;

use anyhow::{Context, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::unistd::{chdir, pivot_root};

/// The clone(2) flag this chapter adds: a private copy of the mount table.
pub fn namespaces() -> CloneFlags {
    // TODO(ch05): return the mount namespace flag (its name is older than the others).
    todo!("return CLONE_NEWNS")
}

/// The copy of the mount table still *shares* events with the host (systemd
/// makes `/` shared). Turn every mount into a slave, recursively: host mounts
/// still reach us, ours never reach the host — and pivot_root agrees to run.
pub fn make_mounts_private() -> Result<()> {
    // TODO(ch05): mount(None, "/", None, MS_REC | MS_SLAVE, None).
    todo!("make every mount rslave")
}

/// Make `rootfs` the root of this mount namespace and let go of the host's tree.
pub fn pivot_into(rootfs: &Path) -> Result<()> {
    // TODO(ch05): 1. bind-mount rootfs onto itself (MS_BIND | MS_REC): pivot_root needs a mount point
    //             2. chdir(rootfs)
    //             3. pivot_root(".", ".")  — the old root is now stacked on top of "."
    //             4. umount2(".", MNT_DETACH) — detach the host's tree
    //             5. chdir("/")
    todo!("bind, pivot_root and detach the old root")
}

/// sysfs on `target` (the container's /sys), read-only: programs expect /sys,
/// but the container must not change the host's devices.
pub fn mount_sys(target: &Path) -> Result<()> {
    // TODO(ch05): mount("sysfs", target, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, None).
    todo!("mount sysfs read-only on /sys")
}
