//! Chapter 10 — layers: whiteouts and the overlay that stacks them.
//! Lesson: chapters/10-layers.md

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::Path;

use anyhow::{bail, Context, Result};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{mknodat, Mode, SFlag};

use mini_docker::image::layer::Whiteout;
use mini_docker::sys::at;

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

/// Write a whiteout the way overlayfs reads one, in the directory `parent`
/// (already resolved inside the layer; whatever was at the name is gone):
/// `Remove(NAME)` = a character device 0/0 named NAME; `Opaque` = the xattr
/// trusted.overlay.opaque=y on `parent` — user.overlay.opaque in a user
/// namespace, where overlayfs (option userxattr) reads only user.* names.
/// Relative to `parent` only: nothing is looked up by path, nothing followed.
pub fn apply_whiteout(
    parent: BorrowedFd<'_>,
    whiteout: &Whiteout,
    in_user_namespace: bool,
) -> Result<()> {
    match whiteout {
        Whiteout::Remove(name) => {
            let c_name = CString::new(name.as_str())?;
            // mknodat(2) never follows: it fails if anything is at the name.
            mknodat(
                Some(parent.as_raw_fd()),
                c_name.as_c_str(),
                SFlag::S_IFCHR,
                Mode::empty(),
                0,
            )
            .with_context(|| format!("mknod the whiteout {name:?}"))
        }
        Whiteout::Opaque => {
            let key: &CStr = if in_user_namespace {
                c"user.overlay.opaque"
            } else {
                c"trusted.overlay.opaque"
            };
            // `parent` is an O_PATH fd, which fsetxattr(2) refuses: setxattr(2)
            // on its /proc/self/fd path, which names exactly this directory.
            at::set_xattr_fd_path(parent, key, b"y")
                .with_context(|| format!("set {key:?} on the opaque directory"))
        }
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
