//! Chapter 5 — mount namespace and pivot_root: a filesystem tree of its own.
//! Lesson: chapters/05-mount.md   Check: mini-docker check 5

use std::path::Path;

use anyhow::{Context, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::unistd::{chdir, pivot_root};

/// The clone(2) flag this chapter adds: a private copy of the mount table.
pub fn namespaces() -> CloneFlags {
    // TODO(ch05): return the flag for a mount table of the child's own (its
    //             name is older than the others'). man 7 mount_namespaces.
    todo!("namespaces — chapters/05-mount.md, \"Why chroot was not enough\"")
}

/// The copy of the mount table still *shares* events with the host (systemd
/// makes `/` shared). Turn every mount into a slave, recursively: host mounts
/// still reach us, ours never reach the host — and pivot_root agrees to run.
pub fn make_mounts_private() -> Result<()> {
    // TODO(ch05): change the propagation of every mount in our copy of the
    //             table so that nothing we mount reaches the host, while the
    //             host's new mounts may still reach us. man 7 mount_namespaces
    //             ("Shared subtrees"); lesson: "Step by step", step 1.
    todo!("make_mounts_private — chapters/05-mount.md, \"Step by step\"")
}

/// Make `rootfs` the root of this mount namespace and let go of the host's tree.
pub fn pivot_into(rootfs: &Path) -> Result<()> {
    // TODO(ch05): make `rootfs` the root of this mount namespace and get rid of
    //             the host's tree entirely, leaving the current directory at the
    //             new "/". pivot_root has preconditions (man 2 pivot_root, NOTES:
    //             the "." "." trick); lesson: "Step by step" and the pitfall.
    todo!("pivot_into — chapters/05-mount.md, \"Step by step\"")
}

/// sysfs on `target` (the container's /sys), read-only: programs expect /sys,
/// but the container must not change the host's devices.
pub fn mount_sys(target: &Path) -> Result<()> {
    // TODO(ch05): mount a sysfs at `target` that the container can read but not
    //             change (and that runs nothing). man 5 sysfs, man 2 mount.
    todo!("mount_sys — chapters/05-mount.md, \"Step by step\"")
}
