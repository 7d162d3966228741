//! Mutant: chroot without chdir("/") — the cwd stays outside the new root.
use std::path::Path;

use anyhow::{Context, Result};

pub fn enter_rootfs(rootfs: &Path) -> Result<()> {
    nix::unistd::chroot(rootfs).with_context(|| format!("chroot({})", rootfs.display()))
}
