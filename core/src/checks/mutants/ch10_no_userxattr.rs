//! Mutant: `userxattr` never added: in a user namespace overlayfs cannot
//! write trusted.* xattrs.
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
    let _ = in_user_namespace;
    if volatile {
        options.push_str(",volatile"); // no syncfs(2) of upper's filesystem at unmount
    }
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
