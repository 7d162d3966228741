//! Mutant: only chdir into the rootfs — "/" is still the host's.
use std::path::Path;

use anyhow::{Context, Result};

pub fn enter_rootfs(rootfs: &Path) -> Result<()> {
    nix::unistd::chdir(rootfs).with_context(|| format!("chdir({})", rootfs.display()))
}
