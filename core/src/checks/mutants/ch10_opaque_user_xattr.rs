//! Mutant: the opaque marker always written as user.overlay.opaque, as if
//! every container ran in a user namespace: as root, overlayfs (without
//! userxattr) reads only trusted.overlay.opaque, and the lower directory shows.
use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd};

use anyhow::Result;
use mini_docker::image::layer::Whiteout;
use mini_docker::sys::at;
use nix::sys::stat::{mknodat, Mode, SFlag};

pub fn apply_whiteout(
    parent: BorrowedFd<'_>,
    whiteout: &Whiteout,
    _in_user_namespace: bool,
) -> Result<()> {
    match whiteout {
        Whiteout::Remove(name) => {
            let c_name = CString::new(name.as_str())?;
            mknodat(
                Some(parent.as_raw_fd()),
                c_name.as_c_str(),
                SFlag::S_IFCHR,
                Mode::empty(),
                0,
            )?;
            Ok(())
        }
        Whiteout::Opaque => Ok(at::set_xattr_fd_path(parent, c"user.overlay.opaque", b"y")?),
    }
}
