//! Mutant: pivot_root(new, put_old) and no chdir("/") — the cwd stays in the host's old tree.
use std::path::Path;

use anyhow::{Context, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::unistd::pivot_root;

pub fn pivot_into(rootfs: &Path) -> Result<()> {
    let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
    mount(Some(rootfs), rootfs, None::<&str>, bind, None::<&str>).context("bind rootfs")?;
    let old = rootfs.join(".old-root");
    std::fs::create_dir_all(&old).context("mkdir .old-root")?;
    pivot_root(rootfs, &old).context("pivot_root")?;
    umount2("/.old-root", MntFlags::MNT_DETACH).context("detach the old root")?;
    let _ = std::fs::remove_dir("/.old-root");
    Ok(())
}
