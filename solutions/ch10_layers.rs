//! Chapter 10 — layers: whiteouts and the overlay that stacks them.
//! Lesson: chapters/10-layers.md

use std::path::Path;

use anyhow::{bail, Context, Result};
use nix::mount::{mount, MsFlags};

use mini_docker::image::layer::Whiteout;

/// What an OCI whiteout file name means (image-spec "Whiteouts"):
/// `.wh..wh..opq` = the directory is opaque; `.wh.NAME` = NAME is deleted;
/// any other name is a normal file. `.wh.` alone, `.wh..` and `.wh..wh.X` are malformed.
pub fn whiteout(name: &str) -> Result<Option<Whiteout>> {
    let Some(rest) = name.strip_prefix(".wh.") else {
        return Ok(None);
    };
    match rest {
        ".wh..opq" => Ok(Some(Whiteout::Opaque)),
        "" | "." | ".." => bail!("malformed whiteout {name:?}"),
        _ if rest.starts_with(".wh.") => bail!("malformed whiteout {name:?}"),
        _ => Ok(Some(Whiteout::Remove(rest.to_string()))),
    }
}

/// Stack the layers: `lowers` (top first, read-only) under `upper`, where the
/// container's writes go; `work` is overlayfs's scratch space on upper's filesystem.
/// In a user namespace overlayfs may not use trusted.* xattrs: add the option
/// `userxattr` so it keeps its metadata (opaque dirs) in user.overlay.*.
/// `volatile` (a --rm container, whose upper is thrown away at exit): add the
/// option `volatile`, or every unmount syncs the host's whole filesystem.
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
