//! Mutant: the `volatile` flag is ignored: every unmount syncs the host's filesystem.
use std::path::Path;

use anyhow::{Context, Result};
use nix::mount::{mount, MsFlags};

pub fn mount_overlay(
    lowers: &[String],
    upper: &Path,
    work: &Path,
    target: &Path,
    in_user_namespace: bool,
    volatile: bool,
) -> Result<()> {
    let mut options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        upper.display(),
        work.display()
    );
    if in_user_namespace {
        options.push_str(",userxattr");
    }
    let _ = volatile;
    mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(options.as_str()),
    )
    .with_context(|| {
        format!(
            "mount overlay on {} ({} layers)",
            target.display(),
            lowers.len()
        )
    })
}
