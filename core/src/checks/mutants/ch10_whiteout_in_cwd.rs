//! Mutant: mknod(2) instead of mknodat(2). The whiteout's bare name is looked
//! up from the unpacker's working directory, not from `parent`: the marker
//! lands outside the layer (on whatever has that name there), and the layer
//! deletes nothing.
use std::os::fd::BorrowedFd;

use anyhow::{Context, Result};
use mini_docker::image::layer::Whiteout;
use mini_docker::sys::at;
use nix::sys::stat::{mknod, Mode, SFlag};

pub fn apply_whiteout(
    parent: BorrowedFd<'_>,
    whiteout: &Whiteout,
    in_user_namespace: bool,
) -> Result<()> {
    match whiteout {
        Whiteout::Remove(name) => mknod(name.as_str(), SFlag::S_IFCHR, Mode::empty(), 0)
            .with_context(|| format!("mknod the whiteout {name:?}")),
        Whiteout::Opaque => {
            let key = if in_user_namespace {
                c"user.overlay.opaque"
            } else {
                c"trusted.overlay.opaque"
            };
            Ok(at::set_xattr_fd_path(parent, key, b"y")?)
        }
    }
}
