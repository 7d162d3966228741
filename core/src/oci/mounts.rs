//! config.json's `mounts`, applied in the container's mount namespace
//! before pivot_root (bind sources are host paths, reachable only then).
//! Each destination is resolved *inside* the rootfs (sys::at): a symlink in
//! an image cannot send a mount onto the host.

use std::path::Path;

use anyhow::{Context, Result};
use nix::mount::{mount, MsFlags};

use super::plan::MountPlan;
use crate::cgroups::CgroupFs;
use crate::sys::at::{self as inroot, Kind};
use crate::workshop::Steps;

/// One mount into `rootfs`.
pub fn apply(plan: &MountPlan, rootfs: &Path, bundle: &Path) -> Result<()> {
    let what = || format!("mount {}", plan.destination);
    if plan.bind {
        let source = plan
            .source
            .as_deref()
            .context("a bind mount without a source")?;
        let source = bundle.join(source); // relative sources are the bundle's
        let kind = if source.is_dir() {
            Kind::Dir
        } else {
            Kind::File
        };
        let target = inroot::ensure(rootfs, &plan.destination, kind)?;
        let mut flags = MsFlags::MS_BIND;
        if plan.recursive {
            flags |= MsFlags::MS_REC;
        }
        mount(
            Some(&source),
            &inroot::fd_path(&target),
            None::<&str>,
            flags,
            None::<&str>,
        )
        .with_context(|| format!("bind {} on {}", source.display(), plan.destination))?;
        if !plan.flags.is_empty() {
            // The flags of a bind mount come with a second, remounting call.
            let mounted = inroot::ensure(rootfs, &plan.destination, kind)?;
            let remount = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | plan.flags;
            mount(
                None::<&str>,
                &inroot::fd_path(&mounted),
                None::<&str>,
                remount,
                None::<&str>,
            )
            .with_context(|| format!("remount {} with its options", plan.destination))?;
        }
    } else {
        let fstype = plan.fstype.as_deref().context("a mount without a type")?;
        let target = inroot::ensure(rootfs, &plan.destination, Kind::Dir)?;
        let target_path = inroot::fd_path(&target);
        match fstype {
            // After the pivot (`cgroupfs` below): it mounts below its target.
            "cgroup" | "cgroup2" => return Ok(()),
            _ => {
                let source = plan
                    .source
                    .as_deref()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| fstype.to_string());
                // "tmpcopyup" (podman's --read-only /run, /tmp): the tmpfs starts
                // with what the image has there (runc's extension).
                let copy_up = plan.data.split(',').any(|o| o == "tmpcopyup");
                let data: Vec<&str> = plan
                    .data
                    .split(',')
                    .filter(|o| !o.is_empty() && *o != "tmpcopyup")
                    .collect();
                let data = data.join(",");
                let data = (!data.is_empty()).then_some(data.as_str());
                // Read-only from the first call (a remount of the filesystem
                // may be refused in a user namespace) — unless it is to be filled first.
                let writable = match copy_up {
                    true => plan.flags - MsFlags::MS_RDONLY,
                    false => plan.flags,
                };
                let mounted = mount(
                    Some(source.as_str()),
                    &target_path,
                    Some(fstype),
                    writable,
                    data,
                );
                // In a user namespace the kernel may refuse a new sysfs (the
                // host's /sys holds mounts it would reveal): bind the host's,
                // as runc does; the flags then come with a bind remount.
                let bound = match mounted {
                    Err(nix::errno::Errno::EPERM) if fstype == "sysfs" => {
                        let rbind = MsFlags::MS_BIND | MsFlags::MS_REC;
                        mount(
                            Some("/sys"),
                            &target_path,
                            None::<&str>,
                            rbind,
                            None::<&str>,
                        )
                        .with_context(|| format!("bind the host's /sys on {}", plan.destination))?;
                        true
                    }
                    other => other.map(|_| false).with_context(what)?,
                };
                let mounted = inroot::ensure(rootfs, &plan.destination, Kind::Dir)?;
                if copy_up && fstype == "tmpfs" {
                    // `target` still names the directory under the new mount.
                    copy_tree(&target_path, &inroot::fd_path(&mounted))
                        .with_context(|| format!("tmpcopyup {}", plan.destination))?;
                }
                if plan.flags.contains(MsFlags::MS_RDONLY) && (copy_up || bound) {
                    let mounted = inroot::fd_path(&mounted);
                    // A bind remount in a user namespace must keep the locked flags.
                    let bind = match bound {
                        true => MsFlags::MS_BIND | kept_flags(&mounted),
                        false => MsFlags::empty(),
                    };
                    let remount = MsFlags::MS_REMOUNT | bind | plan.flags;
                    mount(None::<&str>, &mounted, None::<&str>, remount, data)
                        .with_context(what)?;
                }
            }
        }
    }
    if !plan.propagation.is_empty() {
        let mounted = inroot::ensure(rootfs, &plan.destination, Kind::Dir)
            .or_else(|_| inroot::ensure(rootfs, &plan.destination, Kind::File))?;
        mount(
            None::<&str>,
            &inroot::fd_path(&mounted),
            None::<&str>,
            plan.propagation,
            None::<&str>,
        )
        .with_context(|| format!("propagation of {}", plan.destination))?;
    }
    Ok(())
}

/// The `cgroup` mounts with a cgroup namespace, after pivot_root: the
/// container's own hierarchy, read-only (chapter 11's step) — its cgroup is its "/".
pub fn cgroupfs_in_namespace(
    plans: &[MountPlan],
    cgroupfs: &CgroupFs,
    steps: &Steps,
) -> Result<()> {
    for plan in plans.iter().filter(|p| is_cgroup(p)) {
        let target = Path::new(&plan.destination);
        std::fs::create_dir_all(target).ok();
        super::create::step_ch11("isolate_cgroupfs", || {
            steps.ch11_hardening.isolate_cgroupfs(target, cgroupfs)
        })?;
    }
    Ok(())
}

/// The `cgroup` mounts without a cgroup namespace (podman on v1), before
/// the pivot, as runc does: the container's own directory of each
/// hierarchy, bound read-only (v1: under a tmpfs, one per hierarchy).
pub fn cgroupfs_host_view(
    plans: &[MountPlan],
    rootfs: &Path,
    cgroupfs: &CgroupFs,
    relative: &Path,
) -> Result<()> {
    let locked = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    for plan in plans.iter().filter(|p| is_cgroup(p)) {
        let target = inroot::ensure(rootfs, &plan.destination, Kind::Dir)?;
        match cgroupfs {
            CgroupFs::V2 => {
                let own = Path::new("/sys/fs/cgroup").join(relative);
                bind_read_only(&own, rootfs, &plan.destination)?;
            }
            CgroupFs::V1 { .. } => {
                let target = inroot::fd_path(&target);
                mount(
                    Some("tmpfs"),
                    &target,
                    Some("tmpfs"),
                    locked,
                    Some("mode=755"),
                )
                .context("mount a tmpfs for the cgroup hierarchies")?;
                for (name, point) in v1_mounts() {
                    let own = point.join(relative);
                    if own.is_dir() {
                        bind_read_only(&own, rootfs, &format!("{}/{name}", plan.destination))?;
                    }
                }
                let mounted = inroot::ensure(rootfs, &plan.destination, Kind::Dir)?;
                let remount = MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | locked;
                mount(
                    None::<&str>,
                    &inroot::fd_path(&mounted),
                    None::<&str>,
                    remount,
                    Some("mode=755"),
                )
                .context("remount the cgroup tmpfs read-only")?;
            }
        }
    }
    Ok(())
}

/// Every v1 hierarchy under /sys/fs/cgroup: (its name there, its mount point).
fn v1_mounts() -> Vec<(String, std::path::PathBuf)> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut found = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        if !right.starts_with("cgroup ") {
            continue;
        }
        let Some(point) = left.split(' ').nth(4) else {
            continue;
        };
        if let Some(name) = point.strip_prefix("/sys/fs/cgroup/") {
            found.push((name.to_string(), std::path::PathBuf::from(point)));
        }
    }
    found
}

fn is_cgroup(plan: &MountPlan) -> bool {
    matches!(plan.fstype.as_deref(), Some("cgroup" | "cgroup2")) && !plan.bind
}

fn bind_read_only(source: &Path, rootfs: &Path, destination: &str) -> Result<()> {
    let target = inroot::ensure(rootfs, destination, Kind::Dir)?;
    mount(
        Some(source),
        &inroot::fd_path(&target),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .with_context(|| format!("bind {} on {destination}", source.display()))?;
    let mounted = inroot::ensure(rootfs, destination, Kind::Dir)?;
    let flags = MsFlags::MS_REMOUNT
        | MsFlags::MS_BIND
        | MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV
        | MsFlags::MS_NOEXEC;
    mount(
        None::<&str>,
        &inroot::fd_path(&mounted),
        None::<&str>,
        flags,
        None::<&str>,
    )
    .with_context(|| format!("make {destination} read-only"))
}

/// runc's default devices in the container's /dev (a tmpfs the mounts made),
/// the links programs expect, and `linux.devices`.
/// `in_userns`: mknod is forbidden there, so the host's nodes are bound
/// instead (as runc does, and chapter 7's dev.rs).
pub fn populate_dev(
    rootfs: &Path,
    devices: &[oci_spec::runtime::LinuxDevice],
    in_userns: bool,
) -> Result<()> {
    let dev = inroot::ensure(rootfs, "/dev", Kind::Dir)?;
    let dev = inroot::fd_path(&dev);
    for device in &crate::devices::DEFAULT_DEVICES {
        if in_userns {
            let target = inroot::ensure(rootfs, &format!("/dev/{}", device.name), Kind::File)?;
            let host = Path::new("/dev").join(device.name);
            mount(
                Some(&host),
                &inroot::fd_path(&target),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .with_context(|| format!("bind {}", host.display()))?;
            continue;
        }
        make_node(
            &dev.join(device.name),
            libc::S_IFCHR,
            device.major,
            device.minor,
            0o666,
            0,
            0,
        )?;
    }
    if in_userns && !devices.is_empty() {
        anyhow::bail!(
            "linux.devices in a user namespace are not supported (mknod is not allowed there)"
        );
    }
    for device in devices {
        let relative = device
            .path()
            .strip_prefix("/dev")
            .with_context(|| format!("device {} is not under /dev", device.path().display()))?;
        let kind = match device.typ() {
            oci_spec::runtime::LinuxDeviceType::B => libc::S_IFBLK,
            oci_spec::runtime::LinuxDeviceType::P => libc::S_IFIFO,
            _ => libc::S_IFCHR,
        };
        let node = inroot::ensure(rootfs, &device.path().to_string_lossy(), Kind::File)?;
        drop(node); // made as a file, replaced by the node below
        let path = dev.join(relative);
        let _ = std::fs::remove_file(&path);
        make_node(
            &path,
            kind,
            device.major() as u64,
            device.minor() as u64,
            device.file_mode().unwrap_or(0o666),
            device.uid().unwrap_or(0),
            device.gid().unwrap_or(0),
        )?;
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let _ = std::os::unix::fs::symlink(target, dev.join(link));
    }
    if dev.join("pts/ptmx").exists() || dev.join("pts").is_dir() {
        let _ = std::fs::remove_file(dev.join("ptmx"));
        std::os::unix::fs::symlink("pts/ptmx", dev.join("ptmx")).context("symlink /dev/ptmx")?;
    }
    Ok(())
}

fn make_node(
    path: &Path,
    kind: libc::mode_t,
    major: u64,
    minor: u64,
    mode: u32,
    uid: u32,
    gid: u32,
) -> Result<()> {
    let _ = std::fs::remove_file(path);
    nix::sys::stat::mknod(
        path,
        nix::sys::stat::SFlag::from_bits_truncate(kind),
        nix::sys::stat::Mode::from_bits_truncate(mode),
        nix::sys::stat::makedev(major, minor),
    )
    .with_context(|| format!("mknod {}", path.display()))?;
    // mknod honours the umask: the mode the spec asked for, exactly.
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))?;
    nix::unistd::chown(path, Some(uid.into()), Some(gid.into()))
        .with_context(|| format!("chown {}", path.display()))
}

/// The flags a mount has now (nosuid, nodev, noexec, the atime ones).
fn kept_flags(path: &Path) -> MsFlags {
    use nix::sys::statvfs::{statvfs, FsFlags};
    let Ok(stat) = statvfs(path) else {
        return MsFlags::empty();
    };
    let mut flags = MsFlags::empty();
    for (has, keep) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if stat.flags().contains(has) {
            flags |= keep;
        }
    }
    flags
}

/// Copy a directory tree (files, directories, symlinks; modes and owners).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        let dest = to.join(entry.file_name());
        if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &dest)?;
        } else if meta.is_dir() {
            std::fs::create_dir(&dest)?;
            copy_tree(&entry.path(), &dest)?;
        } else if meta.is_file() {
            std::fs::copy(entry.path(), &dest)?;
        } else {
            continue; // sockets, fifos, devices: not copied
        }
        if !meta.file_type().is_symlink() {
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(meta.mode()))?;
        }
        nix::unistd::fchownat(
            None,
            &dest,
            Some(meta.uid().into()),
            Some(meta.gid().into()),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )?;
    }
    // The directory itself: tmpfs's root takes the image directory's mode.
    let meta = std::fs::metadata(from)?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode()))?;
    Ok(())
}
