//! Mutant: chdir("/") before chroot — the cwd is the host's /, outside the new root.
use std::path::Path;

use anyhow::{Context, Result};

pub fn enter_rootfs(rootfs: &Path) -> Result<()> {
    nix::unistd::chdir("/").context("chdir(/)")?;
    nix::unistd::chroot(rootfs).with_context(|| format!("chroot({})", rootfs.display()))
}
