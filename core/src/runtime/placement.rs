//! Where on disk STATE_DIR/containers goes. ext4 puts a new directory in its
//! parent's block group, unless the parent is a "top directory" (`chattr +T`,
//! as /home is): then it picks a lightly used group, starting its search from
//! a hash of the new directory's name.
//!
//! Why it matters: on an ext4 without a journal (this project's CI VM) the
//! kernel will not reuse an inode freed in the last minutes, and every new
//! inode walks past all those freed in its group. A start makes a dozen. With
//! an image deleted next door (thousands of files in STATE_DIR/layers), each
//! cost ~1 ms instead of ~50 µs: a start took 15.1 ms instead of 4.5.

use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::path::Path;

const FS_TOPDIR_FL: libc::c_int = 0x0002_0000;

/// Create `dir` in a block group of its own: with the top-directory flag set
/// on its parent for this one mkdir, and under a name of its own, renamed
/// after. Every state dir's `containers` has the same name, so its hash
/// alone would send them all (the test suite's, the benchmark's) to one group,
/// to share each other's freed inodes. Best effort: other filesystems have no
/// such flag, and there it is a plain mkdir.
pub fn create_dir_apart(dir: &Path) -> std::io::Result<()> {
    let parent = dir.parent().expect("a directory to create has a parent");
    std::fs::create_dir_all(parent)?;
    let unique = parent.join(format!(
        ".new-{}",
        crate::sys::random_hex(6).map_err(std::io::Error::other)?
    ));
    let restore = add_flag(parent, FS_TOPDIR_FL);
    let made = std::fs::create_dir(&unique);
    if let Some((file, flags)) = restore {
        set_flags(&file, flags);
    }
    made?;
    // NOREPLACE: another mini-docker may have made `dir` meanwhile; use theirs.
    let renamed = nix::fcntl::renameat2(
        None,
        &unique,
        None,
        dir,
        nix::fcntl::RenameFlags::RENAME_NOREPLACE,
    );
    if renamed.is_ok() {
        return Ok(());
    }
    let _ = std::fs::remove_dir(&unique); // `cleanup` may have taken it: see below
    match std::fs::create_dir(dir) {
        Err(e) if e.kind() != ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

/// The empty directories a mini-docker killed between its mkdir and rename
/// above left in `parent` (`mini-docker cleanup`).
pub fn remove_leftovers(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(".new-") {
            let _ = std::fs::remove_dir(entry.path()); // only if empty
        }
    }
}

/// FS_IOC_GETFLAGS then FS_IOC_SETFLAGS (what `lsattr` and `chattr` use): add
/// `flag` to `path`'s inode flags. The file and its flags from before, if they changed.
fn add_flag(path: &Path, flag: libc::c_int) -> Option<(std::fs::File, libc::c_int)> {
    let file = std::fs::File::open(path).ok()?;
    let mut flags: libc::c_int = 0;
    // SAFETY: the kernel writes one int at a valid address.
    let read = unsafe { libc::ioctl(file.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) };
    if read != 0 || flags & flag != 0 || !set_flags(&file, flags | flag) {
        return None;
    }
    Some((file, flags))
}

fn set_flags(file: &std::fs::File, flags: libc::c_int) -> bool {
    // SAFETY: the kernel reads one int at a valid address.
    unsafe { libc::ioctl(file.as_raw_fd(), libc::FS_IOC_SETFLAGS, &flags) == 0 }
}
