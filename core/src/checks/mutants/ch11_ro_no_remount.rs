//! Mutant: MS_BIND | MS_RDONLY in one call — the kernel ignores MS_RDONLY
//! on a new bind mount: /proc/sys stays writable.
use std::path::Path;

use anyhow::{Context, Result};
use nix::mount::{mount, MsFlags};

pub fn make_read_only(path: &Path) -> Result<()> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    let flags = MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY;
    mount(Some(path), path, None::<&str>, flags, None::<&str>)
        .with_context(|| format!("bind {} read-only", path.display()))
}
