//! Mutant: pivot_root(".", ".") without umount2 — the host's root stays stacked on top.
use std::path::Path;

use anyhow::{Context, Result};
use nix::mount::{mount, MsFlags};
use nix::unistd::{chdir, pivot_root};

pub fn pivot_into(rootfs: &Path) -> Result<()> {
    let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
    mount(Some(rootfs), rootfs, None::<&str>, bind, None::<&str>).context("bind rootfs")?;
    chdir(rootfs).context("chdir(rootfs)")?;
    pivot_root(".", ".").context("pivot_root")?;
    chdir("/").context("chdir(/)")?;
    Ok(())
}
