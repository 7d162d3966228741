//! Mutant: chroot(".") as in pivot_root(".", ".") or the breakout — but the
//! current directory was never the rootfs, so "." is wherever mini-docker ran.
use std::path::Path;

use anyhow::{Context, Result};

pub fn enter_rootfs(_rootfs: &Path) -> Result<()> {
    nix::unistd::chroot(".").context("chroot(.)")?;
    nix::unistd::chdir("/").context("chdir(/) after chroot")
}
