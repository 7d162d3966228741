//! Resolving a path *inside* a root directory, as the container will see it.
//!
//! Before pivot_root we still stand in the host's tree: a symlink in the
//! rootfs (`/etc -> /host-etc`, `/data -> ../../..`) would send a plain mount
//! onto a host path. openat2(2) with RESOLVE_IN_ROOT resolves every symlink
//! and ".." as if `root` were "/", so the result is always inside it.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::errno::Errno;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

/// openat2(2) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, close-on-exec.
pub fn openat2(dirfd: RawFd, path: &Path, flags: i32) -> Result<OwnedFd, Errno> {
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: open_how is plain data; zeroed then filled.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: valid pointers for the duration of the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dirfd,
            c_path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just gave us this fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
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
        if openat2(root_fd.as_raw_fd(), &done, libc::O_PATH).is_err() {
            create(&root_fd, &done, want)
                .with_context(|| format!("create {path} in {}", root.display()))?;
        }
    }
    openat2(root_fd.as_raw_fd(), &relative, libc::O_PATH)
        .map_err(|e| anyhow::anyhow!("open {path} in {}: {e}", root.display()))
}

/// Create the last component of `path` inside its (in-root resolved) parent.
fn create(root_fd: &File, path: &Path, kind: Kind) -> Result<()> {
    let parent = path.parent().unwrap_or(Path::new(""));
    let parent_fd = if parent.as_os_str().is_empty() {
        root_fd.try_clone()?.into()
    } else {
        openat2(
            root_fd.as_raw_fd(),
            parent,
            libc::O_PATH | libc::O_DIRECTORY,
        )?
    };
    let name = CString::new(path.file_name().context("no file name")?.as_bytes())?;
    // SAFETY: valid fd and C string.
    let ret = unsafe {
        match kind {
            Kind::Dir => libc::mkdirat(parent_fd.as_raw_fd(), name.as_ptr(), 0o755),
            Kind::File => {
                let fd = libc::openat(
                    parent_fd.as_raw_fd(),
                    name.as_ptr(),
                    libc::O_CREAT
                        | libc::O_EXCL
                        | libc::O_WRONLY
                        | libc::O_CLOEXEC
                        | libc::O_NOFOLLOW,
                    0o644,
                );
                if fd >= 0 {
                    libc::close(fd);
                }
                fd.min(0)
            }
        }
    };
    if ret < 0 && Errno::last() != Errno::EEXIST {
        return Err(Errno::last().into());
    }
    Ok(())
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

/// The `/proc/self/fd/N` path of an fd: mount(2) follows it to the very inode.
pub fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
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
