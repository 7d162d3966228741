//! Mutant: chdir to the rootfs's host path after chroot — that path is now
//! looked up inside the new root, where it does not exist.
use std::path::Path;

use anyhow::{Context, Result};

pub fn enter_rootfs(rootfs: &Path) -> Result<()> {
    nix::unistd::chroot(rootfs).with_context(|| format!("chroot({})", rootfs.display()))?;
    nix::unistd::chdir(rootfs).with_context(|| format!("chdir({})", rootfs.display()))
}
