//! Chapter 10 — layers: whiteouts and the overlay that stacks them.
//! Lesson: chapters/10-layers.md   Check: mini-docker check 10

use std::path::Path;

use anyhow::{bail, Context, Result};
use nix::mount::{mount, MsFlags};

use mini_docker::image::layer::Whiteout;

/// What an OCI whiteout file name means (image-spec "Whiteouts"):
/// `.wh..wh..opq` = the directory is opaque; `.wh.NAME` = NAME is deleted;
/// any other name is a normal file. `.wh.` alone, `.wh..` and `.wh..wh.X` are malformed.
pub fn whiteout(name: &str) -> Result<Option<Whiteout>> {
    // TODO(ch10): no ".wh." prefix -> Ok(None); ".wh..wh..opq" -> Opaque;
    //   ".wh." + "" / "." / ".." / ".wh.…" -> an error; ".wh.NAME" -> Remove(NAME).
    todo!("decode the whiteout name")
}

/// Stack the layers: `lowers` (top first, read-only) under `upper`, where the
/// container's writes go; `work` is overlayfs's scratch space on upper's filesystem.
/// In a user namespace overlayfs may not use trusted.* xattrs: add the option
/// `userxattr` so it keeps its metadata (opaque dirs) in user.overlay.*.
pub fn mount_overlay(
    lowers: &[String],
    upper: &Path,
    work: &Path,
    target: &Path,
    in_user_namespace: bool,
    volatile: bool,
) -> Result<()> {
    // TODO(ch10): mount("overlay", target, "overlay", no flags,
    //   "lowerdir=L1:L2:…,upperdir=UPPER,workdir=WORK"), plus ",userxattr" if in_user_namespace
    //   and ",volatile" if volatile.
    todo!("mount the overlay")
}
