//! Unpacking a layer, safely, once per diff_id, into a directory overlayfs can
//! use as a lower layer.
//!
//! A layer is untrusted input. Every entry is created with *at() syscalls
//! (`crate::sys::at`) relative to its parent directory, and the parent is
//! resolved with openat2(RESOLVE_IN_ROOT): `..` and symlinks (absolute ones
//! included) are clamped at the layer's root, so nothing can be written
//! outside it. A hardlink's target is resolved the same way. Nothing is ever
//! followed: an entry replaces a symlink in its place instead of writing
//! through it.
//! Whiteouts become what overlayfs reads: a 0/0 character device for a
//! deleted name, the xattr trusted.overlay.opaque=y for an opaque directory —
//! written by chapter 10's `apply_whiteout` step, in a parent directory this
//! file has resolved (and cleared the name in) first.
//! Device nodes are not created (a container gets its /dev from the runtime).
//! The layer is unpacked into a temporary directory and renamed when complete
//! and verified against its diff_id: a failure leaves nothing half-unpacked.

use std::ffi::{CStr, CString, OsStr};
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use nix::errno::Errno;
use sha2::{Digest, Sha256};

use super::digest::Digest as ContentDigest;
use super::store::Store;
use crate::sys::at;
use crate::sys::lock::FileLock;

/// Caps against decompression bombs (env MINI_DOCKER_MAX_LAYER_BYTES / _ENTRIES).
#[derive(Clone, Copy, Debug)]
pub struct Caps {
    pub max_bytes: u64,
    pub max_entries: u64,
    /// `--userns`: owners moved into the user namespace's range (docker's userns-remap).
    pub shift: Option<IdShift>,
    /// Which names are OCI whiteouts (chapter 10's `whiteout` step).
    pub whiteout: WhiteoutRule,
    /// How a whiteout is written in overlay's form (chapter 10's `apply_whiteout` step).
    pub apply_whiteout: ApplyWhiteout,
}

/// Tells whether a file name is an OCI whiteout, and which kind.
pub type WhiteoutRule = fn(&str) -> Result<Option<Whiteout>>;

/// Writes a whiteout in overlay's form in the directory `parent` (an O_PATH
/// fd, already resolved inside the layer); `true`: for a user namespace.
pub type ApplyWhiteout = fn(BorrowedFd<'_>, &Whiteout, bool) -> Result<()>;

/// Container ids 0..count are host ids uid.. / gid.. .
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdShift {
    pub uid: u32,
    pub gid: u32,
    pub count: u32,
}

impl Caps {
    pub fn from_env(whiteout: WhiteoutRule, apply_whiteout: ApplyWhiteout) -> Caps {
        let read = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        Caps {
            max_bytes: read("MINI_DOCKER_MAX_LAYER_BYTES", 16 << 30),
            max_entries: read("MINI_DOCKER_MAX_LAYER_ENTRIES", 1_000_000),
            shift: None,
            whiteout,
            apply_whiteout,
        }
    }

    /// The host owner of a file the layer says belongs to uid:gid.
    fn owner(&self, uid: u32, gid: u32) -> Result<(u32, u32)> {
        match self.shift {
            None => Ok((uid, gid)),
            Some(s) if uid < s.count && gid < s.count => Ok((s.uid + uid, s.gid + gid)),
            Some(s) => bail!(
                "owner {uid}:{gid} is outside the user namespace's {} ids",
                s.count
            ),
        }
    }
}

/// Inside a user namespace overlayfs keeps its metadata in user.overlay.*
/// (option userxattr): layers unpacked for one (`shift`) carry that name.
pub fn opaque_xattr(shift: Option<IdShift>) -> &'static std::ffi::CStr {
    match shift {
        None => c"trusted.overlay.opaque",
        Some(_) => c"user.overlay.opaque",
    }
}

/// What an OCI whiteout file name means (chapter 10's step decides).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Whiteout {
    /// `.wh..wh..opq`: hide everything lower layers have in this directory.
    Opaque,
    /// `.wh.NAME`: NAME is deleted.
    Remove(String),
}

pub fn layers_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("layers")
}

/// The unpacked directory of the layer with this diff_id (a separate copy per id shift).
pub fn unpacked(state_dir: &Path, diff_id: &ContentDigest, shift: Option<IdShift>) -> PathBuf {
    let hex = diff_id.hex();
    match shift {
        None => layers_dir(state_dir).join(hex),
        Some(s) => layers_dir(state_dir).join(format!("{hex}-u{}", s.uid)),
    }
}

/// Unpack `blob` (compressed as `media_type` or by its magic bytes) unless
/// already there; its uncompressed bytes must hash to `diff_id`.
pub fn unpack(
    state_dir: &Path,
    store: &Store,
    blob_digest: &ContentDigest,
    media_type: &str,
    diff_id: &ContentDigest,
    caps: Caps,
) -> Result<PathBuf> {
    let target = unpacked(state_dir, diff_id, caps.shift);
    if target.is_dir() {
        return Ok(target);
    }
    let hex = diff_id.hex();
    let _lock = FileLock::exclusive(&layers_dir(state_dir).join(format!(".lock-{hex}")))?;
    if target.is_dir() {
        return Ok(target); // another mini-docker unpacked it while we waited
    }
    let temp = Partial::create(
        layers_dir(state_dir).join(format!(".partial-{hex}-{}", std::process::id())),
    )?;
    if let Some(s) = caps.shift {
        std::os::unix::fs::chown(&temp.0, Some(s.uid), Some(s.gid))?; // the layer's root dir, too
    }
    let file = File::open(store.blob_path(blob_digest)?)
        .with_context(|| format!("open layer {blob_digest}"))?;
    let actual = extract(
        decompress(file, media_type)?,
        &temp.0,
        caps,
        &blob_digest.to_string(),
    )?;
    if *diff_id != *actual {
        bail!(
            "layer {blob_digest} unpacks to {actual}, but the image config says {diff_id}: refused"
        );
    }
    temp.commit(&target)?;
    Ok(target)
}

/// A half-unpacked layer: removed when dropped — on errors and on panics
/// alike — unless committed (renamed into place).
struct Partial(PathBuf);

impl Partial {
    fn create(path: PathBuf) -> Result<Partial> {
        let _ = remove_tree(&path);
        fs::create_dir_all(&path).with_context(|| format!("create {}", path.display()))?;
        Ok(Partial(path))
    }

    fn commit(self, target: &Path) -> Result<()> {
        fs::rename(&self.0, target).context("move the unpacked layer into place")
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        let _ = remove_tree(&self.0);
    }
}

/// Unpack a layer file (tar, tar.gz or tar.zst) into `dest`, which must not
/// exist: all or nothing, as for a pulled layer. Returns the diff_id.
/// (What the malicious-layer tests drive.)
pub fn unpack_archive(archive: &Path, dest: &Path, caps: Caps) -> Result<String> {
    if dest.exists() {
        bail!("{} already exists", dest.display());
    }
    // A random part too: pids repeat across PID namespaces (a check's sandbox).
    let temp = Partial::create(dest.with_file_name(format!(
        ".partial-{}-{}",
        std::process::id(),
        crate::sys::random_hex(4)?
    )))?;
    let file = File::open(archive).with_context(|| format!("open {}", archive.display()))?;
    let diff_id = extract(
        decompress(file, "")?,
        &temp.0,
        caps,
        &archive.display().to_string(),
    )?;
    temp.commit(dest)?;
    Ok(diff_id)
}

/// gzip, zstd or plain tar: by media type, else by magic bytes.
fn decompress(mut file: File, media_type: &str) -> Result<Box<dyn Read>> {
    let mut magic = [0u8; 4];
    let n = file.read(&mut magic)?;
    let head = io::Cursor::new(magic[..n].to_vec());
    let stream = head.chain(file);
    let gzip = media_type.ends_with("gzip") || magic[..2] == [0x1f, 0x8b];
    let zstd = media_type.ends_with("zstd") || magic == [0x28, 0xb5, 0x2f, 0xfd];
    Ok(if gzip {
        Box::new(flate2::read::GzDecoder::new(stream))
    } else if zstd {
        Box::new(
            ruzstd::streaming_decoder::StreamingDecoder::new(stream)
                .map_err(|e| anyhow!("zstd: {e}"))?,
        )
    } else {
        Box::new(stream)
    })
}

/// Counts and hashes the uncompressed stream, and stops it at the cap.
struct Metered<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
    cap: u64,
}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        if self.bytes > self.cap {
            return Err(io::Error::other(format!(
                "more than {} bytes uncompressed",
                self.cap
            )));
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Extract every entry under `root`; returns the diff_id (sha256 of the tar).
fn extract(stream: Box<dyn Read>, root: &Path, caps: Caps, name: &str) -> Result<String> {
    let metered = Metered {
        inner: stream,
        hasher: Sha256::new(),
        bytes: 0,
        cap: caps.max_bytes,
    };
    let mut archive = tar::Archive::new(metered);
    let root_fd = File::open(root)?;
    let mut dir_times = Vec::new();
    let mut count = 0u64;
    let bomb = |e: &dyn std::fmt::Display| {
        anyhow!("layer {name}: {e} (decompression bomb? raise MINI_DOCKER_MAX_LAYER_BYTES if it is real)")
    };
    for entry in archive.entries().map_err(|e| bomb(&e))? {
        let mut entry = entry.map_err(|e| bomb(&e))?;
        count += 1;
        if count > caps.max_entries {
            bail!("layer {name}: more than {} entries (raise MINI_DOCKER_MAX_LAYER_ENTRIES if it is real)", caps.max_entries);
        }
        let path = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&path).into_owned();
        place(&root_fd, &mut entry, &path, &mut dir_times, &caps)
            .with_context(|| format!("layer {name}: entry {shown:?}"))?;
    }
    let mut metered = archive.into_inner();
    io::copy(&mut metered, &mut io::sink()).map_err(|e| bomb(&e))?; // hash the padding too
    for (path, mtime) in dir_times.into_iter().rev() {
        if let Ok(fd) = open_in_root(&root_fd, &path, libc::O_PATH | libc::O_DIRECTORY) {
            let _ = at::set_times_fd_path(&fd, mtime as libc::time_t);
        }
    }
    Ok(format!("sha256:{:x}", metered.hasher.finalize()))
}

/// A layer path as clean components; `..` is refused outright.
fn clean(raw: &[u8]) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for component in Path::new(OsStr::from_bytes(raw)).components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => bail!("\"..\" in a layer path could leave the layer: refused"),
            Component::Prefix(_) => bail!("bad path"),
        }
    }
    Ok(out)
}

fn place<R: Read>(
    root: &File,
    entry: &mut tar::Entry<R>,
    raw: &[u8],
    dir_times: &mut Vec<(PathBuf, u64)>,
    caps: &Caps,
) -> Result<()> {
    let path = clean(raw)?;
    let kind = entry.header().entry_type();
    let Some(name) = path.file_name().map(|n| n.to_os_string()) else {
        if kind.is_symlink() || kind.is_hard_link() {
            bail!("a link named \".\" or \"/\" would replace the layer's root: refused");
        }
        return Ok(()); // "./" itself: the root exists
    };
    let parent = path.parent().unwrap_or(Path::new(""));
    if let Some(whiteout) = (caps.whiteout)(&name.to_string_lossy())? {
        return apply_whiteout(root, parent, whiteout, caps);
    }
    let parent_fd = ensure_dir(root, parent, caps.owner(0, 0)?)?;
    let c_name = CString::new(name.as_bytes())?;
    let header = entry.header().clone();
    let mode = header.mode()? & 0o7777;
    let (uid, gid) = caps.owner(header.uid()? as u32, header.gid()? as u32)?;
    let mtime = header.mtime().unwrap_or(0);
    if kind.is_dir() {
        if !is_dir_at(&parent_fd, &c_name) {
            remove_at(&parent_fd, &c_name)?; // whatever was there, a symlink included: replaced, never followed
            at::mkdir_at(&parent_fd, &c_name, 0o700)?;
        }
        let fd = at::open_at(&parent_fd, &c_name, libc::O_DIRECTORY | libc::O_NOFOLLOW)?;
        finish(&fd, entry, uid, gid, mode)?;
        dir_times.push((path.clone(), mtime));
        return Ok(());
    }
    remove_at(&parent_fd, &c_name)?;
    if kind.is_file() || kind == tar::EntryType::Continuous {
        let fd = at::create_at(
            &parent_fd,
            &c_name,
            libc::O_WRONLY | libc::O_NOFOLLOW,
            0o600,
        )?;
        io::copy(entry, &mut File::from(fd.try_clone()?))?;
        finish(&fd, entry, uid, gid, mode)?;
        let _ = at::set_times_fd_path(&fd, mtime as libc::time_t);
    } else if kind.is_symlink() {
        let target = entry
            .link_name_bytes()
            .context("a symlink without a target")?;
        let c_target = CString::new(target.as_ref())?;
        at::symlink_at(&c_target, &parent_fd, &c_name)?;
        at::lchown_at(&parent_fd, &c_name, uid, gid)?;
    } else if kind.is_hard_link() {
        let target = clean(
            &entry
                .link_name_bytes()
                .context("a hardlink without a target")?,
        )?;
        // Resolved inside the layer: a hardlink can never reach a host file.
        let target_fd =
            open_in_root(root, &target, libc::O_PATH | libc::O_NOFOLLOW).map_err(|e| {
                anyhow!(
                    "hardlink target {} is not in this layer: {e}",
                    target.display()
                )
            })?;
        at::hardlink_fd_at(&target_fd, &parent_fd, &c_name)?;
    } else if kind == tar::EntryType::Fifo {
        at::mkfifo_at(&parent_fd, &c_name, 0o600)?;
        let fd = at::open_at(&parent_fd, &c_name, libc::O_PATH | libc::O_NOFOLLOW)?;
        chown_chmod_path(&fd, uid, gid, mode)?;
    } else if kind.is_character_special() || kind.is_block_special() {
        let whiteout = kind.is_character_special()
            && header.device_major()? == Some(0)
            && header.device_minor()? == Some(0);
        if whiteout {
            // Already in overlay's form (some tools write layers this way).
            at::whiteout_at(&parent_fd, &c_name)?;
        }
        // Other device nodes are skipped: the runtime gives the container its /dev.
    }
    Ok(())
}

/// Owner, then mode (chown clears setuid/setgid), then xattrs.
fn finish<R: Read>(
    fd: &OwnedFd,
    entry: &mut tar::Entry<R>,
    uid: u32,
    gid: u32,
    mode: u32,
) -> Result<()> {
    at::chown_fd(fd, uid, gid)?;
    at::chmod_fd(fd, mode)?;
    if let Some(extensions) = entry.pax_extensions()? {
        for extension in extensions {
            let extension = extension?;
            let Some(key) = extension
                .key()
                .ok()
                .and_then(|k| k.strip_prefix("SCHILY.xattr."))
            else {
                continue;
            };
            if key.starts_with("trusted.overlay.") {
                continue; // an image must not steer overlayfs itself
            }
            let c_key = CString::new(key)?;
            at::set_xattr_fd_path(fd, &c_key, extension.value_bytes())?;
        }
    }
    Ok(())
}

/// Owner, then mode, of an entry only an O_PATH fd can hold (a FIFO: opening
/// it for real would block).
fn chown_chmod_path(fd: &OwnedFd, uid: u32, gid: u32, mode: u32) -> Result<()> {
    at::chown_fd_path(fd, uid, gid)?;
    at::chmod_fd_path(fd, mode)?;
    Ok(())
}

/// Chapter 10's `apply_whiteout` step writes the marker; here, the safety
/// around it: the parent resolved inside the layer, the name checked, and
/// whatever was in its place removed (never followed).
fn apply_whiteout(root: &File, parent: &Path, whiteout: Whiteout, caps: &Caps) -> Result<()> {
    let parent_fd = ensure_dir(root, parent, caps.owner(0, 0)?)?;
    if let Whiteout::Remove(name) = &whiteout {
        // Chapter 10's whiteout() decides the name: "", "." or ".." would
        // make remove_at empty `parent` itself, or the directory above it.
        if matches!(name.as_str(), "" | "." | "..") || name.contains('/') {
            bail!(
                "whiteout() returned Remove({name:?}) in {:?}: not the name of one entry",
                parent
            );
        }
        remove_at(&parent_fd, &CString::new(name.as_str())?)?;
    }
    (caps.apply_whiteout)(parent_fd.as_fd(), &whiteout, caps.shift.is_some())
        .with_context(|| format!("apply_whiteout({whiteout:?}) in {parent:?}"))
}

/// openat2(root, path, RESOLVE_IN_ROOT): `..` and symlinks stay inside root.
fn open_in_root(root: &File, path: &Path, flags: i32) -> Result<OwnedFd, Errno> {
    if path.as_os_str().is_empty() {
        return root
            .try_clone()
            .map(OwnedFd::from)
            .map_err(|_| Errno::EBADF);
    }
    at::openat2(root, path, flags)
}

/// The directory `path`, resolved inside the layer (a symlink among its parents
/// is followed *as if the layer root were /*), with missing parts made (0755,
/// like tar). A regular file in the way is replaced; a link that points
/// nowhere inside the layer is refused.
/// `owner`: who directories made here belong to (the layer's root, shifted for --userns).
fn ensure_dir(root: &File, path: &Path, owner: (u32, u32)) -> Result<OwnedFd> {
    ensure_dir_following(root, path, owner, 0)
}

/// Symlinks followed so far, against loops (the kernel's limit is 40 too).
const MAX_LINKS: usize = 40;

fn ensure_dir_following(
    root: &File,
    path: &Path,
    owner: (u32, u32),
    links: usize,
) -> Result<OwnedFd> {
    let dir_flags = libc::O_PATH | libc::O_DIRECTORY;
    if let Ok(fd) = open_in_root(root, path, dir_flags) {
        return Ok(fd);
    }
    let mut parent: OwnedFd = root.try_clone()?.into();
    let mut prefix = PathBuf::new();
    for component in path.components() {
        prefix.push(component);
        match open_in_root(root, &prefix, dir_flags) {
            Ok(fd) => parent = fd,
            Err(Errno::ENOENT | Errno::ENOTDIR) => {
                let c_name = CString::new(component.as_os_str().as_bytes())?;
                if is_symlink_at(&parent, &c_name) {
                    // A link to a directory this layer has not made yet: make it
                    // where the link points — inside the layer, as if its root were /.
                    if links >= MAX_LINKS {
                        bail!("too many levels of symlinks at {}", prefix.display());
                    }
                    let target = at::read_link_at(&parent, &c_name)?;
                    let base = if target.is_absolute() {
                        PathBuf::new()
                    } else {
                        prefix.parent().unwrap_or(Path::new("")).to_path_buf()
                    };
                    parent =
                        ensure_dir_following(root, &clamp(&base.join(target)), owner, links + 1)?;
                    continue;
                }
                remove_at(&parent, &c_name)?; // a regular file in the way
                at::mkdir_at(&parent, &c_name, 0o755)?;
                parent = at::open_at(&parent, &c_name, dir_flags | libc::O_NOFOLLOW)?;
                chown_chmod_path(&parent, owner.0, owner.1, 0o755)?;
            }
            Err(e) => bail!("cannot resolve {} inside the layer: {e}", prefix.display()),
        }
    }
    Ok(parent)
}

/// A path made relative to the layer root, with `..` clamped at the root.
fn clamp(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Is dir/name a symlink (itself, not followed)?
fn is_symlink_at(dir: &OwnedFd, name: &CStr) -> bool {
    at::file_type_at(dir, name).ok() == Some(libc::S_IFLNK)
}

/// Is dir/name a directory (a symlink to one is not)?
fn is_dir_at(dir: &OwnedFd, name: &CStr) -> bool {
    at::file_type_at(dir, name).ok() == Some(libc::S_IFDIR)
}

/// Remove whatever is at dir/name (a directory with its contents); absent is fine.
fn remove_at(dir: &OwnedFd, name: &CStr) -> Result<()> {
    match at::unlink_at(dir, name) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(Errno::EISDIR) => {
            if at::rmdir_at(dir, name).is_ok() {
                return Ok(());
            }
            // Not empty: the directory's real path (inside our layer), removed without following links.
            let here = fs::read_link(at::fd_path(dir))?;
            remove_tree(&here.join(OsStr::from_bytes(name.to_bytes())))
        }
        Err(e) => Err(e.into()),
    }
}

/// rm -rf without following symlinks (std's remove_dir_all does not follow them).
pub fn remove_tree(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            fs::remove_dir_all(path).with_context(|| format!("remove {}", path.display()))
        }
        Ok(_) => fs::remove_file(path).with_context(|| format!("remove {}", path.display())),
        Err(_) => Ok(()),
    }
}
