//! A minimal /dev for the container (what runc and docker give, too).
//!
//! Device nodes are made with mknod(2) in the container's own tmpfs, like
//! runc does. Inside a user namespace (chapter 7) mknod is forbidden, so
//! there the host's nodes are bind-mounted instead: the same devices, but six
//! more mounts to make at start and to tear down at exit.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use anyhow::{Context, Result};
use nix::mount::{mount, MsFlags};

use crate::sys::at::{self as inroot, Kind};

use crate::devices::{Device, DEFAULT_DEVICES};

/// Fill `rootfs/dev`: a tmpfs with device nodes, devpts, shm and the fd links.
/// Runs in the container's mount namespace, before pivot_root.
pub fn populate(rootfs: &Path, devpts_gid: Option<u32>, in_userns: bool) -> Result<()> {
    // Resolve /dev inside the rootfs (it may be a symlink in an image), mount
    // a fresh tmpfs there, then work in that tmpfs: nothing in it can mislead us.
    let under = inroot::ensure(rootfs, "/dev", Kind::Dir)?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME;
    mount_fs(
        "tmpfs",
        &inroot::fd_path(&under),
        "tmpfs",
        flags,
        "mode=755,size=65536k",
    )?;
    let fresh = inroot::ensure(rootfs, "/dev", Kind::Dir)?;
    let dev = inroot::fd_path(&fresh);
    for device in &DEFAULT_DEVICES {
        if in_userns {
            bind_device(&dev, device.name)?;
        } else {
            make_device(&dev, device)?;
        }
    }
    // devpts with newinstance: the container's ptys are its own, not the host's.
    let pts = dev.join("pts");
    fs::create_dir(&pts).context("mkdir /dev/pts")?;
    let noexec = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    let gid = devpts_gid.map(|g| format!(",gid={g}")).unwrap_or_default();
    mount_fs(
        "devpts",
        &pts,
        "devpts",
        noexec,
        &format!("newinstance,ptmxmode=0666,mode=0620{gid}"),
    )?;
    symlink("pts/ptmx", dev.join("ptmx")).context("symlink /dev/ptmx")?;
    let shm = dev.join("shm");
    fs::create_dir(&shm).context("mkdir /dev/shm")?;
    mount_fs(
        "shm",
        &shm,
        "tmpfs",
        noexec | MsFlags::MS_NODEV,
        "mode=1777,size=65536k",
    )?;
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        symlink(target, dev.join(link)).with_context(|| format!("symlink /dev/{link}"))?;
    }
    Ok(())
}

/// mknod(2) a character device, then chmod: mknod's mode passes through the umask.
fn make_device(dev: &Path, device: &Device) -> Result<()> {
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};
    let (name, major, minor) = (device.name, device.major, device.minor);
    let target = dev.join(name);
    let mode = Mode::from_bits_truncate(0o666);
    mknod(&target, SFlag::S_IFCHR, mode, makedev(major, minor))
        .with_context(|| format!("mknod /dev/{name}"))?;
    fs::set_permissions(&target, std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .with_context(|| format!("chmod /dev/{name}"))
}

fn bind_device(dev: &Path, name: &str) -> Result<()> {
    let target = dev.join(name);
    fs::write(&target, b"").with_context(|| format!("create /dev/{name}"))?;
    let host = Path::new("/dev").join(name);
    mount(
        Some(&host),
        &target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .with_context(|| format!("bind {} into the container", host.display()))
}

fn mount_fs(source: &str, target: &Path, fstype: &str, flags: MsFlags, data: &str) -> Result<()> {
    mount(Some(source), target, Some(fstype), flags, Some(data))
        .with_context(|| format!("mount {fstype} on {}", target.display()))
}
