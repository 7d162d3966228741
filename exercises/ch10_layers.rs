//! Chapter 10 — layers: whiteouts and the overlay that stacks them.
//! Lesson: chapters/10-layers.md   Check: mini-docker check 10

use std::os::fd::BorrowedFd;
use std::path::Path;

use anyhow::{bail, Context, Result};
use nix::mount::{mount, MsFlags};

use mini_docker::image::layer::Whiteout;

/// What an OCI whiteout file name means (image-spec "Whiteouts"):
/// `.wh..wh..opq` = the directory is opaque; `.wh.NAME` = NAME is deleted;
/// any other name is a normal file. `.wh.` alone, `.wh..` and `.wh..wh.X` are malformed.
pub fn whiteout(name: &str) -> Result<Option<Whiteout>> {
    // TODO(ch10): is this file name an OCI whiteout, and of which kind? A name
    //             that would delete nothing sensible (or escape) is an error.
    //             Lesson: "Whiteouts, translated"; the OCI image layer spec.
    todo!("whiteout — chapters/10-layers.md, \"Whiteouts, translated\"")
}

/// Write a whiteout the way overlayfs reads one, in the directory `parent`
/// (already resolved inside the layer; whatever was at the name is gone).
/// `in_user_namespace`: the layer is for a `--userns` container.
pub fn apply_whiteout(
    parent: BorrowedFd<'_>,
    whiteout: &Whiteout,
    in_user_namespace: bool,
) -> Result<()> {
    // TODO(ch10): afterwards overlayfs must hide what the marker says: for
    //             Remove(NAME), NAME in `parent` is overlay's whiteout (which
    //             kind of file, which device number?); for Opaque, `parent`
    //             carries overlay's opaque marker, under the xattr name overlayfs
    //             reads as root, or in a user namespace. Only relative to
    //             `parent`, following nothing: mknodat(2); setxattr(2) /
    //             fsetxattr(2) (an O_PATH fd: see mini_docker::sys::at).
    //             Lesson: "Whiteouts, translated".
    todo!("apply_whiteout — chapters/10-layers.md, \"Whiteouts, translated\"")
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
    // TODO(ch10): stack the layers at `target`: the image's read-only, in the
    //             right order, under the container's writable one. In a user
    //             namespace and for throw-away containers overlayfs needs an option
    //             each. Documentation/filesystems/overlayfs.rst; lesson: "The stack".
    todo!("mount_overlay — chapters/10-layers.md, \"The stack\"")
}
