//! Mutant: mount_proc does nothing — /proc is an empty directory of the rootfs.
use std::path::Path;

use anyhow::Result;

pub fn mount_proc(_target: &Path) -> Result<()> {
    Ok(())
}
