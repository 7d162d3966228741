//! Mutant: a deleted name written as an empty regular file instead of
//! overlay's 0/0 character device: the "deleted" file shows, empty.
use std::ffi::CString;
use std::os::fd::BorrowedFd;

use anyhow::Result;
use mini_docker::image::layer::Whiteout;
use mini_docker::sys::at;

pub fn apply_whiteout(
    parent: BorrowedFd<'_>,
    whiteout: &Whiteout,
    in_user_namespace: bool,
) -> Result<()> {
    match whiteout {
        Whiteout::Remove(name) => {
            let c_name = CString::new(name.as_str())?;
            at::create_at(parent, &c_name, libc::O_WRONLY | libc::O_NOFOLLOW, 0o644)?;
            Ok(())
        }
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
