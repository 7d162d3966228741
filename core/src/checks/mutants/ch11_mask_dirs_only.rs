//! Mutant: only directories masked (a tmpfs cannot be mounted on a file, so
//! files were skipped) — /proc/keys and /proc/timer_list stay readable.
use std::path::Path;

use anyhow::{Context, Result};
use nix::mount::{mount, MsFlags};

pub fn mask_paths(paths: &[&Path]) -> Result<()> {
    for path in paths.iter().filter(|p| p.is_dir()) {
        let flags =
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        mount(Some("tmpfs"), *path, Some("tmpfs"), flags, Some("size=0"))
            .with_context(|| format!("mask {}", path.display()))?;
    }
    Ok(())
}
