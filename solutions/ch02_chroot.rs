//! Chapter 2 — chroot: give the process another `/`.
//! Lesson: chapters/02-chroot.md

use std::path::Path;

use anyhow::{Context, Result};
use nix::unistd::{chdir, chroot};

/// Make `rootfs` this process's `/`, and stand inside it.
///
/// chroot(2) only changes how absolute paths are resolved; the current
/// directory stays where it was — outside the new root — until we chdir.
pub fn enter_rootfs(rootfs: &Path) -> Result<()> {
    chroot(rootfs).with_context(|| format!("chroot({})", rootfs.display()))?;
    chdir("/").context("chdir(/) after chroot")?;
    Ok(())
}
