//! Resolving a path *inside* a root directory, as the container will see it,
//! and the `*at()` calls that create and change files relative to a
//! directory fd.
//!
//! Before pivot_root we still stand in the host's tree: a symlink in the
//! rootfs (`/etc -> /host-etc`, `/data -> ../../..`) would send a plain mount
//! onto a host path. openat2(2) with RESOLVE_IN_ROOT resolves every symlink
//! and ".." as if `root` were "/", so the result is always inside it.
//!
//! The layer extractor (`image::layer`) writes untrusted tar entries with the
//! calls below only. Each names one entry `name` in an already resolved
//! directory `dir` and does not follow a symlink there, except where the
//! function's name says `_fd_path`: those act on the inode an fd already
//! holds, through its `/proc/self/fd/N` magic link (which also works for an
//! O_PATH fd, where fchown/fchmod/fsetxattr would fail with EBADF).
//! Most are nix's safe wrappers; what nix 0.29 lacks (openat2, setxattr)
//! is libc, with a SAFETY note on each `unsafe` block.

use std::ffi::{CStr, CString, OsStr};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FchmodatFlags, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags};
use nix::NixPath;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

/// openat2(2) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, close-on-exec:
/// `path` (symlinks and ".." in it included) never leaves `root`.
pub fn openat2(root: impl AsFd, path: &Path, flags: i32) -> nix::Result<OwnedFd> {
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: open_how is a plain C struct of integers, for which all-zero
    // bytes are a valid value (and the "no options" the kernel expects).
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: `root` is borrowed, so its fd stays open for the call; c_path is
    // a NUL-terminated string and `how` an open_how of exactly the size we
    // pass, both alive until the syscall returns; the kernel only reads them.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_fd().as_raw_fd(),
            c_path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: openat2 just returned this fd: it is open and nothing else owns
    // it, so the OwnedFd is its only owner and closes it exactly once.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// openat(2) of the existing `name` in `dir`, close-on-exec.
/// Pass O_NOFOLLOW unless `name` may be a symlink to follow.
pub fn open_at(dir: impl AsFd, name: &CStr, flags: i32) -> nix::Result<OwnedFd> {
    openat_mode(dir, name, flags, 0) // no O_CREAT: the kernel ignores the mode
}

/// openat(2) with O_CREAT | O_EXCL: a new file `name` in `dir` (`mode`, less
/// the umask), close-on-exec; EEXIST if anything, a symlink included, is there.
pub fn create_at(
    dir: impl AsFd,
    name: &CStr,
    flags: i32,
    mode: libc::mode_t,
) -> nix::Result<OwnedFd> {
    openat_mode(dir, name, flags | libc::O_CREAT | libc::O_EXCL, mode)
}

/// openat(2) as nix has it, with O_CLOEXEC added, as an OwnedFd.
fn openat_mode(
    dir: impl AsFd,
    name: &CStr,
    flags: i32,
    mode: libc::mode_t,
) -> nix::Result<OwnedFd> {
    let fd = nix::fcntl::openat(
        Some(dir.as_fd().as_raw_fd()),
        name,
        OFlag::from_bits_retain(flags | libc::O_CLOEXEC),
        Mode::from_bits_retain(mode),
    )?;
    // SAFETY: openat just returned this fd: it is open and nothing else owns
    // it, so the OwnedFd is its only owner and closes it exactly once.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// mkdirat(2): the directory `name` in `dir` (`mode`, less the umask).
pub fn mkdir_at(dir: impl AsFd, name: &CStr, mode: libc::mode_t) -> nix::Result<()> {
    nix::sys::stat::mkdirat(
        Some(dir.as_fd().as_raw_fd()),
        name,
        Mode::from_bits_retain(mode),
    )
}

/// symlinkat(2): `name` in `dir`, a symlink whose content is `target`
/// (stored as is, never resolved here).
pub fn symlink_at(target: &CStr, dir: impl AsFd, name: &CStr) -> nix::Result<()> {
    nix::unistd::symlinkat(target, Some(dir.as_fd().as_raw_fd()), name)
}

/// hardlink `name` in `dir` to the inode `target` holds (an O_PATH fd will
/// do): linkat(AT_FDCWD, "/proc/self/fd/N", dir, name, AT_SYMLINK_FOLLOW),
/// which follows only the magic link, to that very inode.
pub fn hardlink_fd_at(target: impl AsFd, dir: impl AsFd, name: &CStr) -> nix::Result<()> {
    nix::unistd::linkat(
        None,
        fd_path(target).as_path(),
        Some(dir.as_fd().as_raw_fd()),
        Path::new(OsStr::from_bytes(name.to_bytes())),
        AtFlags::AT_SYMLINK_FOLLOW,
    )
}

/// mknodat(2): a FIFO `name` in `dir`.
pub fn mkfifo_at(dir: impl AsFd, name: &CStr, mode: libc::mode_t) -> nix::Result<()> {
    nix::sys::stat::mknodat(
        Some(dir.as_fd().as_raw_fd()),
        name,
        SFlag::S_IFIFO,
        Mode::from_bits_retain(mode),
        0,
    )
}

/// mknodat(2): `name` in `dir` as a character device 0/0 with mode 0,
/// which is how overlayfs marks a deleted name (a whiteout).
pub fn whiteout_at(dir: impl AsFd, name: &CStr) -> nix::Result<()> {
    nix::sys::stat::mknodat(
        Some(dir.as_fd().as_raw_fd()),
        name,
        SFlag::S_IFCHR,
        Mode::empty(),
        0,
    )
}

/// fchownat(2) with AT_SYMLINK_NOFOLLOW: `name` in `dir` itself (a symlink
/// included) gets the owner uid:gid.
pub fn lchown_at(dir: impl AsFd, name: &CStr, uid: u32, gid: u32) -> nix::Result<()> {
    nix::unistd::fchownat(
        Some(dir.as_fd().as_raw_fd()),
        name,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
}

/// readlinkat(2): the content of the symlink `name` in `dir`.
pub fn read_link_at(dir: impl AsFd, name: &CStr) -> nix::Result<PathBuf> {
    nix::fcntl::readlinkat(Some(dir.as_fd().as_raw_fd()), name).map(PathBuf::from)
}

/// The file type (S_IFDIR, S_IFLNK, ...) of `name` in `dir`, from
/// fstatat(2) with AT_SYMLINK_NOFOLLOW: a symlink is reported, not followed.
pub fn file_type_at(dir: impl AsFd, name: &CStr) -> nix::Result<libc::mode_t> {
    nix::sys::stat::fstatat(
        Some(dir.as_fd().as_raw_fd()),
        name,
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map(|st| st.st_mode & libc::S_IFMT)
}

/// unlinkat(2): removes `name` in `dir` (a symlink itself, never its
/// target); EISDIR for a directory.
pub fn unlink_at(dir: impl AsFd, name: &CStr) -> nix::Result<()> {
    nix::unistd::unlinkat(
        Some(dir.as_fd().as_raw_fd()),
        name,
        UnlinkatFlags::NoRemoveDir,
    )
}

/// unlinkat(2) with AT_REMOVEDIR: removes the empty directory `name` in `dir`.
pub fn rmdir_at(dir: impl AsFd, name: &CStr) -> nix::Result<()> {
    nix::unistd::unlinkat(
        Some(dir.as_fd().as_raw_fd()),
        name,
        UnlinkatFlags::RemoveDir,
    )
}

/// fchown(2): the file open as `fd` gets the owner uid:gid.
pub fn chown_fd(fd: impl AsFd, uid: u32, gid: u32) -> nix::Result<()> {
    nix::unistd::fchown(
        fd.as_fd().as_raw_fd(),
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
    )
}

/// fchmod(2): the file open as `fd` gets the mode bits `mode` (setuid,
/// setgid and sticky included).
pub fn chmod_fd(fd: impl AsFd, mode: libc::mode_t) -> nix::Result<()> {
    nix::sys::stat::fchmod(fd.as_fd().as_raw_fd(), Mode::from_bits_retain(mode))
}

/// chown(2) of `/proc/self/fd/N`: as [`chown_fd`], for an O_PATH fd too.
pub fn chown_fd_path(fd: impl AsFd, uid: u32, gid: u32) -> nix::Result<()> {
    nix::unistd::fchownat(
        None,
        fd_path(fd).as_path(),
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        AtFlags::empty(),
    )
}

/// chmod(2) of `/proc/self/fd/N`: as [`chmod_fd`], for an O_PATH fd too.
pub fn chmod_fd_path(fd: impl AsFd, mode: libc::mode_t) -> nix::Result<()> {
    nix::sys::stat::fchmodat(
        None,
        fd_path(fd).as_path(),
        Mode::from_bits_retain(mode),
        FchmodatFlags::FollowSymlink,
    )
}

/// utimensat(2) of `/proc/self/fd/N`: the access and modification times of
/// the inode `fd` holds (an O_PATH fd will do) become `secs`.
pub fn set_times_fd_path(fd: impl AsFd, secs: libc::time_t) -> nix::Result<()> {
    let time = TimeSpec::new(secs, 0);
    nix::sys::stat::utimensat(
        None,
        fd_path(fd).as_path(),
        &time,
        &time,
        UtimensatFlags::FollowSymlink,
    )
}

/// setxattr(2) of `/proc/self/fd/N`: the extended attribute `key` = `value`
/// on the inode `fd` holds (an O_PATH fd will do; fsetxattr would refuse it).
pub fn set_xattr_fd_path(fd: impl AsFd, key: &CStr, value: &[u8]) -> nix::Result<()> {
    let ret = fd_path(fd).with_nix_path(|path| {
        // SAFETY: path and key are NUL-terminated strings and value.as_ptr()
        // is valid for value.len() bytes, all borrowed for the whole call;
        // the kernel only reads them, and copies what it keeps.
        unsafe {
            libc::setxattr(
                path.as_ptr(),
                key.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        }
    })?;
    Errno::result(ret).map(drop)
}

/// `path` inside `root`, made (as a directory or empty file) if missing;
/// returns an O_PATH fd of it, to be used as `/proc/self/fd/N`.
pub fn ensure(root: &Path, path: &str, kind: Kind) -> Result<OwnedFd> {
    let relative = clean(path)?;
    let root_fd = File::open(root).with_context(|| format!("open {}", root.display()))?;
    let mut done = PathBuf::new();
    let components: Vec<_> = relative.components().collect();
    for (i, component) in components.iter().enumerate() {
        done.push(component);
        let last = i + 1 == components.len();
        let want = if last { kind } else { Kind::Dir };
        if openat2(&root_fd, &done, libc::O_PATH).is_err() {
            create(&root_fd, &done, want)
                .with_context(|| format!("create {path} in {}", root.display()))?;
        }
    }
    openat2(&root_fd, &relative, libc::O_PATH)
        .map_err(|e| anyhow::anyhow!("open {path} in {}: {e}", root.display()))
}

/// Create the last component of `path` inside its (in-root resolved) parent.
fn create(root_fd: &File, path: &Path, kind: Kind) -> Result<()> {
    let parent = path.parent().unwrap_or(Path::new(""));
    let parent_fd = if parent.as_os_str().is_empty() {
        root_fd.try_clone()?.into()
    } else {
        openat2(root_fd, parent, libc::O_PATH | libc::O_DIRECTORY)?
    };
    let name = CString::new(path.file_name().context("no file name")?.as_bytes())?;
    let made = match kind {
        Kind::Dir => mkdir_at(&parent_fd, &name, 0o755),
        Kind::File => {
            create_at(&parent_fd, &name, libc::O_WRONLY | libc::O_NOFOLLOW, 0o644).map(drop)
        }
    };
    match made {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A container path as a clean relative path: no "..", no empty result.
fn clean(path: &str) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for component in Path::new(path).components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => out.push(part),
            Component::ParentDir => bail!("container path {path:?} must not contain \"..\""),
            Component::Prefix(_) => bail!("bad container path {path:?}"),
        }
    }
    if out.as_os_str().is_empty() {
        bail!("container path {path:?} names the root itself");
    }
    Ok(out)
}

/// The `/proc/self/fd/N` path of an fd: mount(2) and the `_fd_path` calls
/// above follow it to the very inode.
pub fn fd_path(fd: impl AsFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_cannot_leave_the_root() {
        let base = std::env::temp_dir().join(format!("inroot-test-{}", std::process::id()));
        let root = base.join("root");
        for dir in [
            root.join("outside"),
            root.join("outside-abs"),
            base.join("outside"),
            base.join("outside-abs"),
        ] {
            std::fs::create_dir_all(dir).unwrap();
        }
        symlink("../../outside", root.join("escape")).unwrap();
        symlink("/outside-abs", root.join("abs")).unwrap();
        symlink("../../../nowhere", root.join("dangling")).unwrap();
        ensure(&root, "/escape/data", Kind::Dir).unwrap();
        ensure(&root, "/abs/file", Kind::File).unwrap();
        assert!(
            root.join("outside/data").is_dir(),
            "../.. is clamped at the root"
        );
        assert!(
            root.join("outside-abs/file").is_file(),
            "an absolute link points into the root"
        );
        assert!(
            !base.join("outside/data").exists() && !base.join("outside-abs/file").exists(),
            "nothing made outside"
        );
        assert!(
            ensure(&root, "/dangling/x", Kind::Dir).is_err(),
            "a dangling link is an error"
        );
        assert!(!base.join("nowhere").exists() && !Path::new("/nowhere").exists());
        assert!(ensure(&root, "/a/../../x", Kind::Dir).is_err());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
