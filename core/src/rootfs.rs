//! The starter rootfs: a tiny root filesystem made offline from busybox-static.
//!
//! Chapters 2–8 run in it. It is made once per state dir, into a temporary
//! directory that is renamed into place, so a crash never leaves half a rootfs.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Where busybox-static puts its binary on Debian and Ubuntu.
const BUSYBOX_CANDIDATES: [&str; 3] = [
    "/bin/busybox",
    "/usr/bin/busybox",
    "/usr/lib/busybox/busybox",
];

const DIRS: [(&str, u32); 16] = [
    ("bin", 0o755),
    ("sbin", 0o755),
    ("usr", 0o755),
    ("usr/bin", 0o755),
    ("usr/sbin", 0o755),
    ("etc", 0o755),
    ("proc", 0o555),
    ("sys", 0o555),
    ("dev", 0o755),
    ("tmp", 0o1777),
    ("root", 0o700),
    ("mnt", 0o755),
    ("var", 0o755),
    ("var/tmp", 0o1777),
    ("run", 0o755),
    ("home", 0o755),
];

const FILES: [(&str, &str); 6] = [
    ("etc/resolv.conf", ""),
    ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"),
    ("etc/group", "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n"),
    ("etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"),
    ("etc/os-release", "NAME=\"mini-docker starter rootfs\"\nID=busybox\nPRETTY_NAME=\"busybox (mini-docker starter)\"\n"),
    ("etc/profile", "export PS1='\\h:\\w\\$ '\n"),
];

/// The starter rootfs under `state_dir`, made on first use.
pub fn starter(state_dir: &Path) -> Result<PathBuf> {
    let dest = state_dir.join("rootfs").join("busybox");
    if dest.is_dir() {
        return Ok(dest);
    }
    let parent = dest.parent().expect("has a parent");
    fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    let _lock = lock(&parent.join(".lock"))?;
    if !dest.is_dir() {
        build(&dest)?;
    }
    Ok(dest)
}

/// Hold an exclusive flock for as long as the returned file lives.
fn lock(path: &Path) -> Result<fs::File> {
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("open {}", path.display()))?;
    // SAFETY: flock on a valid fd.
    if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX) } != 0 {
        bail!(
            "lock {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
    }
    Ok(file)
}

fn build(dest: &Path) -> Result<()> {
    let busybox = find_static_busybox()?;
    let tmp = dest.with_file_name(format!(".busybox.tmp-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fill(&tmp, &busybox).inspect_err(|_| {
        let _ = fs::remove_dir_all(&tmp);
    })?;
    fs::rename(&tmp, dest).with_context(|| format!("rename into {}", dest.display()))
}

fn fill(root: &Path, busybox: &Path) -> Result<()> {
    fs::create_dir(root).with_context(|| format!("mkdir {}", root.display()))?;
    for (dir, mode) in DIRS {
        let path = root.join(dir);
        fs::create_dir(&path).with_context(|| format!("mkdir {}", path.display()))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
    }
    fs::copy(busybox, root.join("bin/busybox")).context("copy busybox")?;
    for (file, text) in FILES {
        fs::write(root.join(file), text).with_context(|| format!("write {file}"))?;
    }
    make_static_device_nodes(root);
    for applet in applets(busybox)? {
        let link = root.join(&applet);
        if link.symlink_metadata().is_err() {
            symlink("/bin/busybox", &link).with_context(|| format!("symlink {applet}"))?;
        }
    }
    Ok(())
}

/// /dev/null and /dev/zero as plain device nodes in the rootfs, like debootstrap
/// makes: chapters 2–4 have no /dev mount yet, and `sh` opens /dev/null for `cmd &`.
/// Chapter 5 mounts a tmpfs over /dev, hiding them. Best effort: mknod needs root.
fn make_static_device_nodes(root: &Path) {
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};
    for (name, minor) in [("null", 3), ("zero", 5)] {
        let mode = Mode::from_bits_truncate(0o666);
        let _ = mknod(
            &root.join("dev").join(name),
            SFlag::S_IFCHR,
            mode,
            makedev(1, minor),
        );
        let _ = fs::set_permissions(
            root.join("dev").join(name),
            fs::Permissions::from_mode(0o666),
        );
    }
}

/// `busybox --list-full`: every applet with its usual path (bin/sh, usr/bin/wc, ...).
fn applets(busybox: &Path) -> Result<Vec<String>> {
    let out = Command::new(busybox)
        .arg("--list-full")
        .output()
        .with_context(|| format!("run {} --list-full", busybox.display()))?;
    let list = String::from_utf8_lossy(&out.stdout);
    Ok(list
        .lines()
        .filter(|l| !l.is_empty() && !l.contains(".."))
        .map(str::to_string)
        .collect())
}

/// A *static* busybox: it must run inside a rootfs that has no libc.
pub fn find_static_busybox() -> Result<PathBuf> {
    for candidate in BUSYBOX_CANDIDATES {
        let path = Path::new(candidate);
        if path.is_file() && is_static_elf(path)? {
            return Ok(path.to_path_buf());
        }
    }
    bail!("no static busybox found (looked in {}): install it with `sudo apt-get install busybox-static`, or pass --rootfs DIR",
        BUSYBOX_CANDIDATES.join(", "))
}

/// An ELF file without a PT_INTERP program header needs no dynamic loader.
fn is_static_elf(path: &Path) -> Result<bool> {
    let mut head = vec![0u8; 4096];
    let n = fs::File::open(path)?.read(&mut head)?;
    head.truncate(n);
    if head.len() < 64 || &head[..4] != b"\x7fELF" || head[4] != 2 {
        return Ok(false); // not a 64-bit ELF
    }
    let u16_at = |o: usize| u16::from_le_bytes([head[o], head[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(head[32..40].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    const PT_INTERP: u32 = 3;
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        if at + 4 > head.len() {
            break;
        }
        if u32::from_le_bytes(head[at..at + 4].try_into().unwrap()) == PT_INTERP {
            return Ok(false);
        }
    }
    Ok(true)
}
