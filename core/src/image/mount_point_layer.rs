//! The mount-point layer: the mount points every container of an image needs
//! (/dev, /proc, /sys, /etc/hosts, /etc/resolv.conf), made once per image in a
//! read-only layer on top of the image's own. Docker has one too ("-init").
//!
//! Why: without it, each container's init creates whichever of them the image
//! lacks inside the container's writable layer (a copy-up of /etc, up to five
//! new inodes), and the supervisor deletes them again at exit. On ext4 that was
//! about 1 ms of a 6 ms start. With it, a container that writes nothing leaves
//! its writable layer empty.
//!
//! Only what the image *lacks* goes in, and only under directories the image
//! has as directories: an image whose /etc is a symlink keeps it (a directory
//! in a higher layer would hide the link), and its init resolves the mount
//! point at start, inside the root, as before.

use std::ffi::CStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use super::layer::{opaque_xattr, IdShift};

/// What the runtime mounts on: (path from the root, is it a directory).
pub const MOUNT_POINTS: [(&str, bool); 5] = [
    ("dev", true),
    ("proc", true),
    ("sys", true),
    ("etc/hosts", false),
    ("etc/resolv.conf", false),
];

/// The mount-point layer over `lowers` (short paths relative to `layers_dir`, top
/// layer first), made if missing. Returns its path relative to `layers_dir`.
pub fn ensure(layers_dir: &Path, lowers: &[String], shift: Option<IdShift>) -> Result<String> {
    let name = format!("mountpoints-{}", &hex_of(&lowers.join(":"))[..12]);
    if layers_dir.join(&name).is_dir() {
        return Ok(name); // the usual case: one stat
    }
    let layers: Vec<PathBuf> = lowers.iter().map(|l| layers_dir.join(l)).collect();
    // A random part too: pids repeat across PID namespaces (a check's sandbox).
    let partial = layers_dir.join(format!(
        ".partial-{name}-{}-{}",
        std::process::id(),
        crate::sys::random_hex(4)?
    ));
    let _ = fs::remove_dir_all(&partial);
    let made =
        fill(&partial, &layers, shift).and_then(|_| publish(&partial, &layers_dir.join(&name)));
    if made.is_err() {
        let _ = fs::remove_dir_all(&partial);
    }
    made.with_context(|| format!("make the mount-point layer {name}"))?;
    Ok(name)
}

/// Create in `dir` the mount points the image lacks.
fn fill(dir: &Path, layers: &[PathBuf], shift: Option<IdShift>) -> Result<()> {
    let xattr = opaque_xattr(shift);
    let (uid, gid) = shift.map(|s| (s.uid, s.gid)).unwrap_or((0, 0));
    make_dir(dir, 0o755, uid, gid)?;
    for (path, is_dir) in MOUNT_POINTS {
        if lookup(layers, path, xattr) != Found::Missing {
            continue; // the image has it (or has something else there): leave it
        }
        let target = dir.join(path);
        let parent = Path::new(path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty());
        if let Some(parent) = parent {
            let parent_str = parent.to_str().context("mount point path")?;
            match lookup(layers, parent_str, xattr) {
                // Same owner and mode as the image's: the top layer's directory wins in overlayfs.
                Found::Dir(top) => copy_dir_if_missing(&top, &dir.join(parent))?,
                Found::Missing => {
                    if !dir.join(parent).exists() {
                        make_dir(&dir.join(parent), 0o755, uid, gid)?;
                    }
                }
                Found::Other => continue, // e.g. /etc is a symlink: resolved at start instead
            }
        }
        if is_dir {
            make_dir(&target, 0o755, uid, gid)?;
        } else {
            fs::write(&target, b"").with_context(|| format!("create {}", target.display()))?;
            chown_mode(&target, 0o644, uid, gid)?;
        }
    }
    Ok(())
}

/// rename(2) into place; a concurrent container may have been first.
fn publish(partial: &Path, dest: &Path) -> Result<()> {
    match fs::rename(partial, dest) {
        Ok(()) => Ok(()),
        Err(_) if dest.is_dir() => {
            fs::remove_dir_all(partial)?;
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("rename to {}", dest.display())),
    }
}

/// What a path is in the image, as overlayfs will show it.
#[derive(Debug, PartialEq, Eq)]
enum Found {
    Missing,
    /// A directory; the top layer's copy of it (its owner and mode are shown).
    Dir(PathBuf),
    /// A file, symlink or device.
    Other,
}

/// Look `path` up through `layers` (top first) as overlayfs merges them: the
/// first layer with an entry decides; a whiteout (a 0/0 char device) hides
/// the layers below; a directory merges with directories below it until a
/// non-directory or an opaque directory (xattr `opaque`=y) ends the merge.
fn lookup(layers: &[PathBuf], path: &str, opaque: &CStr) -> Found {
    let mut merged: Vec<PathBuf> = layers.to_vec();
    for name in path.split('/') {
        let mut below = Vec::new();
        for dir in &merged {
            let entry = dir.join(name);
            let Ok(meta) = fs::symlink_metadata(&entry) else {
                continue;
            };
            let whiteout = meta.file_type().is_char_device() && meta.rdev() == 0;
            if whiteout {
                break;
            }
            if !meta.is_dir() {
                if below.is_empty() {
                    return Found::Other;
                }
                break;
            }
            below.push(entry.clone());
            if has_xattr_y(&entry, opaque) {
                break;
            }
        }
        if below.is_empty() {
            return Found::Missing;
        }
        merged = below;
    }
    Found::Dir(merged.swap_remove(0))
}

fn has_xattr_y(path: &Path, name: &CStr) -> bool {
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    let mut value = [0u8; 1];
    // SAFETY: valid C strings and a 1-byte buffer of that length.
    let n = unsafe {
        libc::lgetxattr(
            c_path.as_ptr(),
            name.as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    n == 1 && value[0] == b'y'
}

fn copy_dir_if_missing(image_dir: &Path, dest: &Path) -> Result<()> {
    if dest.exists() {
        return Ok(());
    }
    let meta = fs::symlink_metadata(image_dir)?;
    make_dir(dest, meta.mode() & 0o7777, meta.uid(), meta.gid())
}

fn make_dir(path: &Path, mode: u32, uid: u32, gid: u32) -> Result<()> {
    fs::DirBuilder::new()
        .mode(mode)
        .create(path)
        .with_context(|| format!("mkdir {}", path.display()))?;
    chown_mode(path, mode, uid, gid)
}

/// Owner first, then the mode: chown(2) clears setuid/setgid bits.
fn chown_mode(path: &Path, mode: u32, uid: u32, gid: u32) -> Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
        .with_context(|| format!("chown {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))
}

fn hex_of(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(root: &Path, name: &str, dirs: &[&str], files: &[&str]) -> PathBuf {
        let dir = root.join(name);
        fs::create_dir_all(&dir).unwrap();
        for d in dirs {
            fs::create_dir_all(dir.join(d)).unwrap();
        }
        for f in files {
            fs::write(dir.join(f), b"x").unwrap();
        }
        dir
    }

    fn temp() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "mini-docker-initlayer-{}-{}",
            std::process::id(),
            crate::sys::random_hex(6).expect("getrandom")
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn lookup_merges_layers_like_overlayfs() {
        let root = temp();
        let opaque = opaque_xattr(None);
        let top = layer(&root, "top", &["etc"], &["etc/hosts"]);
        let bottom = layer(&root, "bottom", &["etc", "dev"], &["etc/passwd", "sys"]);
        let layers = [top.clone(), bottom];
        assert_eq!(lookup(&layers, "etc", opaque), Found::Dir(top.join("etc")));
        assert_eq!(lookup(&layers, "etc/passwd", opaque), Found::Other);
        assert_eq!(
            lookup(&layers, "dev", opaque),
            Found::Dir(root.join("bottom/dev"))
        );
        assert_eq!(lookup(&layers, "sys", opaque), Found::Other);
        assert_eq!(lookup(&layers, "proc", opaque), Found::Missing);
        assert_eq!(lookup(&layers, "etc/resolv.conf", opaque), Found::Missing);
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_file_above_hides_a_directory_below() {
        let root = temp();
        let opaque = opaque_xattr(None);
        let top = layer(&root, "top", &[], &["etc"]);
        let bottom = layer(&root, "bottom", &["etc"], &["etc/hosts"]);
        let layers = [top, bottom];
        assert_eq!(lookup(&layers, "etc", opaque), Found::Other);
        assert_eq!(lookup(&layers, "etc/hosts", opaque), Found::Other);
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn the_layer_holds_only_what_the_image_lacks() {
        let root = temp();
        let image = layer(&root, "image", &["etc", "proc"], &["etc/hosts"]);
        fs::set_permissions(image.join("etc"), fs::Permissions::from_mode(0o750)).unwrap();
        ensure(&root, &["image".to_string()], None).unwrap();
        let init = fs::read_dir(&root)
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with("mountpoints-"))
            .unwrap()
            .path();
        let mut made: Vec<String> = ["dev", "proc", "sys", "etc", "etc/hosts", "etc/resolv.conf"]
            .iter()
            .filter(|p| fs::symlink_metadata(init.join(p)).is_ok())
            .map(|p| p.to_string())
            .collect();
        made.sort();
        assert_eq!(made, ["dev", "etc", "etc/resolv.conf", "sys"]);
        // The image's /etc mode survives the merge.
        let mode = fs::metadata(init.join("etc")).unwrap().mode() & 0o7777;
        assert_eq!(mode, 0o750);
        fs::remove_dir_all(root).unwrap();
    }
}
