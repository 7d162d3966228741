//! Chapter 2 — chroot: give the process another `/`.
//! Lesson: chapters/02-chroot.md   Check: mini-docker check 2

use std::path::Path;

use anyhow::{Context, Result};
use nix::unistd::{chdir, chroot};

/// Make `rootfs` this process's `/`, and stand inside it.
///
/// chroot(2) only changes how absolute paths are resolved; the current
/// directory stays where it was — outside the new root — until we chdir.
pub fn enter_rootfs(rootfs: &Path) -> Result<()> {
    // TODO(ch02): make `rootfs` this process's "/", and make sure the current
    //             directory is inside it too. man 2 chroot (its NOTES);
    //             lesson: "Another root directory" and the pitfall.
    todo!("enter_rootfs — chapters/02-chroot.md, \"Another root directory\"")
}
