//! Malicious layers: `image::layer::unpack_archive` against hand-built tars
//! that try to escape the layer root (`..`, absolute and relative symlinks,
//! hardlinks to host files, links named `.`), to smuggle device nodes or
//! overlayfs xattrs in, to break whiteouts, or to exhaust the disk
//! (decompression and entry-count bombs). Every archive and every destination
//! lives in a fresh directory under `std::env::temp_dir()`; host files are only
//! ever read (to check they are unchanged), and the "must not appear" markers
//! are unique paths under /tmp, removed at the end.
//!
//! Runs as root (device nodes, chown, trusted.* xattrs).

use std::ffi::CString;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use mini_docker::image::layer::{unpack_archive, Caps};
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

// ---------------------------------------------------------------------------
// Scaffolding
// ---------------------------------------------------------------------------

/// Every test runs the reference chapter-10 whiteout rules.
#[path = "../solutions/ch10_layers.rs"]
#[allow(dead_code)]
mod reference_layers;

const CAPS: Caps = Caps {
    max_bytes: 1 << 30,
    max_entries: 100_000,
    shift: None,
    whiteout: reference_layers::whiteout,
    apply_whiteout: reference_layers::apply_whiteout,
};

/// A fresh directory per test, removed (without following symlinks) on drop.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("mdk-malicious-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch { dir }
    }

    /// Where a layer is unpacked (does not exist yet).
    fn dest(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Write an archive file and return its path.
    fn archive(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.join(name);
        fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // std's remove_dir_all never follows symlinks (escape -> / is safe).
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A unique host path under /tmp that must never appear; removed on drop
/// (whatever it turned out to be) so a failing test leaves no litter.
struct Marker(PathBuf);

impl Marker {
    fn new(tag: &str) -> Marker {
        let path = PathBuf::from(format!(
            "/tmp/mdk-malicious-marker-{}-{tag}",
            std::process::id()
        ));
        let _ = mini_docker::image::layer::remove_tree(&path);
        Marker(path)
    }

    fn name(&self) -> String {
        self.0.file_name().unwrap().to_string_lossy().into_owned()
    }

    fn assert_absent(&self) {
        assert!(
            fs::symlink_metadata(&self.0).is_err(),
            "host path {} was created by the unpack: the layer escaped its root",
            self.0.display()
        );
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        let _ = mini_docker::image::layer::remove_tree(&self.0);
    }
}

/// A tar built entry by entry from raw headers (names are written byte for
/// byte, so `..`, `/` and `.` get through where `set_path` would refuse).
struct Tar {
    builder: tar::Builder<Vec<u8>>,
}

const MTIME: u64 = 1_600_000_000;

impl Tar {
    fn new() -> Tar {
        Tar {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    fn header(kind: EntryType, name: &[u8], link: &[u8], size: u64, mode: u32) -> Header {
        let mut header = Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(MTIME);
        let old = header.as_old_mut();
        assert!(name.len() < old.name.len() && link.len() < old.linkname.len());
        old.name = [0; 100];
        old.name[..name.len()].copy_from_slice(name);
        old.linkname = [0; 100];
        old.linkname[..link.len()].copy_from_slice(link);
        header.set_cksum();
        header
    }

    /// Append a prepared header (its checksum is recomputed) and its data.
    fn raw(&mut self, mut header: Header, data: &[u8]) -> &mut Tar {
        header.set_size(data.len() as u64);
        header.set_cksum();
        self.builder.append(&header, data).unwrap();
        self
    }

    fn file(&mut self, name: &str, data: &[u8]) -> &mut Tar {
        let header = Tar::header(EntryType::Regular, name.as_bytes(), b"", 0, 0o644);
        self.raw(header, data)
    }

    fn dir(&mut self, name: &str) -> &mut Tar {
        let header = Tar::header(EntryType::Directory, name.as_bytes(), b"", 0, 0o755);
        self.raw(header, b"")
    }

    fn symlink(&mut self, name: &str, target: &str) -> &mut Tar {
        let header = Tar::header(
            EntryType::Symlink,
            name.as_bytes(),
            target.as_bytes(),
            0,
            0o777,
        );
        self.raw(header, b"")
    }

    fn hardlink(&mut self, name: &str, target: &str) -> &mut Tar {
        let header = Tar::header(
            EntryType::Link,
            name.as_bytes(),
            target.as_bytes(),
            0,
            0o644,
        );
        self.raw(header, b"")
    }

    fn device(&mut self, kind: EntryType, name: &str, major: u32, minor: u32) -> &mut Tar {
        let mut header = Tar::header(kind, name.as_bytes(), b"", 0, 0o666);
        header.set_device_major(major).unwrap();
        header.set_device_minor(minor).unwrap();
        self.raw(header, b"")
    }

    fn fifo(&mut self, name: &str) -> &mut Tar {
        let header = Tar::header(EntryType::Fifo, name.as_bytes(), b"", 0, 0o640);
        self.raw(header, b"")
    }

    /// A PAX 'x' extended header: applies to the entry appended next.
    fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Tar {
        let mut data = Vec::new();
        for (key, value) in records {
            // "LEN key=value\n", LEN counting its own digits too.
            let base = key.len() + value.len() + 3;
            let mut len = base + 1;
            while base + len.to_string().len() != len {
                len = base + len.to_string().len();
            }
            data.extend_from_slice(format!("{len} {key}=").as_bytes());
            data.extend_from_slice(value);
            data.push(b'\n');
        }
        let header = Tar::header(EntryType::XHeader, b"PaxHeaders/next", b"", 0, 0o644);
        self.raw(header, &data)
    }

    fn finish(&mut self) -> Vec<u8> {
        let builder = std::mem::replace(&mut self.builder, tar::Builder::new(Vec::new()));
        builder.into_inner().unwrap()
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A zstd frame made of raw (stored) blocks: valid zstd, no encoder needed.
fn zstd_raw_frame(bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![0x28, 0xb5, 0x2f, 0xfd]; // magic
    out.push(0x00); // frame header descriptor: no content size, no checksum, no dictionary
    out.push(7 << 3); // window descriptor: 2^(10+7) = 128 KiB
    let chunks: Vec<&[u8]> = bytes.chunks(128 << 10).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let last = (i + 1 == chunks.len()) as u32;
        let block_header = last | ((chunk.len() as u32) << 3); // block type 0 (bits 1-2): raw
        out.extend_from_slice(&block_header.to_le_bytes()[..3]);
        out.extend_from_slice(chunk);
    }
    out
}

fn diff_id(tar_bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(tar_bytes))
}

/// The error of a failed unpack, with its whole chain.
fn expect_err(result: anyhow::Result<String>, what: &str) -> String {
    match result {
        Ok(id) => panic!("{what}: the unpack succeeded ({id}) but must fail"),
        Err(e) => format!("{e:#}"),
    }
}

/// All or nothing: after a failure neither `dest` nor a `.partial-*` sibling exists.
fn assert_nothing_left(dest: &Path) {
    assert!(
        fs::symlink_metadata(dest).is_err(),
        "{} exists after a failed unpack",
        dest.display()
    );
    for entry in fs::read_dir(dest.parent().unwrap()).unwrap() {
        let name = entry.unwrap().file_name();
        assert!(
            !name.to_string_lossy().starts_with(".partial-"),
            "{name:?} left next to {} after a failed unpack",
            dest.display()
        );
    }
}

/// The host's /etc/passwd: (link count, inode, content).
fn host_passwd() -> (u64, u64, Vec<u8>) {
    let meta = fs::metadata("/etc/passwd").unwrap();
    (meta.nlink(), meta.ino(), fs::read("/etc/passwd").unwrap())
}

fn assert_host_passwd_unchanged(before: &(u64, u64, Vec<u8>)) {
    let after = host_passwd();
    assert_eq!(
        after.0, before.0,
        "/etc/passwd's link count changed: a layer hardlinked it"
    );
    assert_eq!(after.1, before.1, "/etc/passwd was replaced");
    assert!(after.2 == before.2, "/etc/passwd's content changed");
}

/// lgetxattr (never follows a symlink); None when absent.
fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
    let c_name = CString::new(name).unwrap();
    let mut buf = vec![0u8; 4096];
    // SAFETY: both C strings live across the call; the kernel writes at most buf.len() bytes into buf.
    let n = unsafe {
        libc::lgetxattr(
            c_path.as_ptr(),
            c_name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(buf)
}

/// Whether the filesystem under `dir` takes user.* xattrs.
fn user_xattrs_supported(dir: &Path) -> bool {
    let probe = dir.join("xattr-probe");
    fs::write(&probe, b"").unwrap();
    let c_path = CString::new(probe.as_os_str().as_bytes()).unwrap();
    // SAFETY: the C strings and the 1-byte value live across the call.
    let ok = unsafe {
        libc::lsetxattr(
            c_path.as_ptr(),
            c"user.mdkprobe".as_ptr(),
            b"1".as_ptr().cast(),
            1,
            0,
        )
    } == 0;
    fs::remove_file(&probe).unwrap();
    ok
}

/// Regular files under `root` (symlinks never followed) whose content is `data`.
fn files_with_content(root: &Path, data: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() && fs::read(&path).unwrap() == data {
                found.push(path);
            }
        }
    }
    found
}

fn is_whiteout_device(path: &Path) -> bool {
    fs::symlink_metadata(path)
        .map(|m| m.file_type().is_char_device() && m.rdev() == 0)
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------
// Path traversal
// ---------------------------------------------------------------------------

/// Classic tar-slip: a regular file whose path climbs out with `..`
/// (`../../../../tmp/x`, `a/../../x`, `a/b/../../../x`) to write on the host.
#[test]
fn dotdot_path_is_refused_and_leaves_nothing() {
    let scratch = Scratch::new("dotdot");
    let marker = Marker::new("dotdot");
    let name = marker.name();
    let paths = [
        format!("../../../../../../../../tmp/{name}"),
        format!("a/../../../../../../../../tmp/{name}"),
        format!("./a/b/../../../{name}"),
    ];
    for (i, path) in paths.iter().enumerate() {
        let tar = Tar::new()
            .file("ok-before", b"fine")
            .file(path, b"pwned")
            .finish();
        let archive = scratch.archive(&format!("layer{i}.tar"), &tar);
        let dest = scratch.dest(&format!("out{i}"));
        let err = expect_err(unpack_archive(&archive, &dest, CAPS), path);
        assert!(err.contains("\"..\""), "unclear error for {path:?}: {err}");
        assert_nothing_left(&dest);
        marker.assert_absent();
        assert!(fs::symlink_metadata(scratch.dir.join(&name)).is_err());
    }
}

/// An absolute entry path (`/tmp/x`) must be taken relative to the layer
/// root, not the host's `/`.
#[test]
fn absolute_entry_path_lands_inside_the_layer() {
    let scratch = Scratch::new("abspath");
    let marker = Marker::new("abspath");
    let name = marker.name();
    let tar = Tar::new().file(&format!("/tmp/{name}"), b"inside").finish();
    let archive = scratch.archive("layer.tar", &tar);
    let dest = scratch.dest("out");
    unpack_archive(&archive, &dest, CAPS).unwrap();
    assert_eq!(fs::read(dest.join("tmp").join(&name)).unwrap(), b"inside");
    marker.assert_absent();
}

/// `escape -> /` then `escape/tmp/x`: writing "through" an absolute symlink
/// must resolve it as if the layer root were `/` (x lands in <layer>/tmp/x,
/// and the symlink stays a symlink) — never on the host.
#[test]
fn absolute_symlink_is_resolved_inside_the_layer() {
    let scratch = Scratch::new("escape-root");
    let marker = Marker::new("escape-root");
    let name = marker.name();
    let tar = Tar::new()
        .symlink("escape", "/")
        .file(&format!("escape/tmp/{name}"), b"pwned?")
        .finish();
    let archive = scratch.archive("layer.tar", &tar);
    let dest = scratch.dest("out");
    let result = unpack_archive(&archive, &dest, CAPS);
    // The host first, whatever the outcome.
    marker.assert_absent();
    result.unwrap();
    // The contract: the symlink is created as a symlink and kept...
    let escape = fs::symlink_metadata(dest.join("escape")).unwrap();
    assert!(
        escape.file_type().is_symlink(),
        "dest/escape is no longer the layer's symlink (it is a {:?}): the symlink was replaced \
         instead of being resolved inside the layer root",
        escape.file_type()
    );
    assert_eq!(fs::read_link(dest.join("escape")).unwrap(), Path::new("/"));
    // ...and the file written through it lands at <layer>/tmp/x.
    let landed = dest.join("tmp").join(&name);
    assert!(
        fs::symlink_metadata(&landed)
            .map(|m| m.is_file())
            .unwrap_or(false),
        "escape/tmp/{name} did not land at <layer>/tmp/{name}; files with its content: {:?}",
        files_with_content(&dest, b"pwned?")
    );
    assert_eq!(fs::read(&landed).unwrap(), b"pwned?");
}

/// `etc -> /etc` then `etc/passwd`: the classic attempt to overwrite the
/// host's password file. The host file must be untouched; the entry either
/// lands inside the layer or the unpack fails cleanly (resolved inside the
/// layer root, `/etc` is the symlink itself: a loop).
#[test]
fn etc_symlink_then_etc_passwd_never_touches_the_host() {
    let before = host_passwd();
    let scratch = Scratch::new("etc-passwd");
    let payload = b"root::0:0:pwned by a layer:/root:/bin/sh\n";
    let tar = Tar::new()
        .symlink("etc", "/etc")
        .file("etc/passwd", payload)
        .finish();
    let archive = scratch.archive("layer.tar", &tar);
    let dest = scratch.dest("out");
    let result = unpack_archive(&archive, &dest, CAPS);
    assert_host_passwd_unchanged(&before);
    match result {
        Ok(_) => {
            let inside = files_with_content(&dest, payload);
            assert_eq!(
                inside.len(),
                1,
                "etc/passwd must land exactly once inside the layer: {inside:?}"
            );
        }
        Err(_) => assert_nothing_left(&dest),
    }
}

/// `up -> ../../../../../../tmp` then `up/x`: a relative symlink that climbs
/// out of the layer; x must never reach the host's /tmp.
#[test]
fn relative_symlink_escape_stays_inside_the_layer() {
    let scratch = Scratch::new("escape-rel");
    let marker = Marker::new("escape-rel");
    let name = marker.name();
    let tar = Tar::new()
        .symlink("up", "../../../../../../../../tmp")
        .file(&format!("up/{name}"), b"climbed")
        .finish();
    let archive = scratch.archive("layer.tar", &tar);
    let dest = scratch.dest("out");
    let result = unpack_archive(&archive, &dest, CAPS);
    marker.assert_absent();
    result.unwrap();
    let inside = files_with_content(&dest, b"climbed");
    assert_eq!(
        inside.len(),
        1,
        "up/{name} must land inside the layer: {inside:?}"
    );
}

/// A symlink `f -> /tmp/x` followed by a regular file `f`: the file entry
/// must replace the symlink, not write through it onto the host.
#[test]
fn file_entry_replaces_a_symlink_instead_of_following_it() {
    let scratch = Scratch::new("file-over-link");
    let marker = Marker::new("file-over-link");
    let tar = Tar::new()
        .symlink("f", &marker.0.to_string_lossy())
        .file("f", b"replaced")
        .finish();
    let archive = scratch.archive("layer.tar", &tar);
    let dest = scratch.dest("out");
    let result = unpack_archive(&archive, &dest, CAPS);
    marker.assert_absent();
    result.unwrap();
    let meta = fs::symlink_metadata(dest.join("f")).unwrap();
    assert!(
        meta.is_file(),
        "dest/f is a {:?}, not a regular file",
        meta.file_type()
    );
    assert_eq!(fs::read(dest.join("f")).unwrap(), b"replaced");
}

/// `link -> /tmp/somewhere`, then a directory entry `link/`, then
/// `link/file`: the directory replaces the symlink; nothing is created on
/// the host.
#[test]
fn dir_entry_replaces_a_symlink_to_the_host() {
    let scratch = Scratch::new("dir-over-link");
    let marker = Marker::new("dir-over-link");
    let tar = Tar::new()
        .symlink("link", &marker.0.to_string_lossy())
        .dir("link/")
        .file("link/file", b"in the layer")
        .finish();
    let archive = scratch.archive("layer.tar", &tar);
    let dest = scratch.dest("out");
    let result = unpack_archive(&archive, &dest, CAPS);
    marker.assert_absent();
    result.unwrap();
    let meta = fs::symlink_metadata(dest.join("link")).unwrap();
    assert!(
        meta.is_dir(),
        "dest/link is a {:?}, not a directory",
        meta.file_type()
    );
    assert_eq!(fs::read(dest.join("link/file")).unwrap(), b"in the layer");
}

// ---------------------------------------------------------------------------
// Hardlinks
// ---------------------------------------------------------------------------

/// A hardlink to `../../etc/passwd`: would give the container (and its
/// writable upper layer) a link to the host's password file.
#[test]
fn hardlink_with_dotdot_target_is_refused() {
    let before = host_passwd();
    let scratch = Scratch::new("hardlink-dotdot");
    let tar = Tar::new()
        .hardlink("passwd", "../../../../../../../../etc/passwd")
        .finish();
    let archive = scratch.archive("layer.tar", &tar);
    let dest = scratch.dest("out");
    let err = expect_err(
        unpack_archive(&archive, &dest, CAPS),
        "hardlink to ../etc/passwd",
    );
    assert!(err.contains("\"..\""), "unclear error: {err}");
    assert_host_passwd_unchanged(&before);
    assert_nothing_left(&dest);
}

/// A hardlink to the absolute `/etc/passwd`: resolved inside the layer root,
/// where this layer has no etc/passwd, so the unpack fails.
#[test]
fn hardlink_with_absolute_target_resolves_inside_the_layer() {
    let before = host_passwd();
    let scratch = Scratch::new("hardlink-abs");
    let tar = Tar::new().hardlink("passwd", "/etc/passwd").finish();
    let archive = scratch.archive("layer.tar", &tar);
    let dest = scratch.dest("out");
    expect_err(
        unpack_archive(&archive, &dest, CAPS),
        "hardlink to /etc/passwd",
    );
    assert_host_passwd_unchanged(&before);
    assert_nothing_left(&dest);

    // With an etc/passwd of its own, the same hardlink links the layer's file.
    let tar = Tar::new()
        .file("etc/passwd", b"layer's own\n")
        .hardlink("passwd", "/etc/passwd")
        .finish();
    let archive = scratch.archive("layer2.tar", &tar);
    let dest = scratch.dest("out2");
    unpack_archive(&archive, &dest, CAPS).unwrap();
    assert_host_passwd_unchanged(&before);
    let link = fs::metadata(dest.join("passwd")).unwrap();
    assert_eq!(
        link.ino(),
        fs::metadata(dest.join("etc/passwd")).unwrap().ino()
    );
    assert_eq!(link.nlink(), 2);
    assert_eq!(fs::read(dest.join("passwd")).unwrap(), b"layer's own\n");
}

/// `etc -> /etc` then a hardlink to `etc/passwd`: the hardlink target is
/// resolved through the layer's symlink — it must stay inside the layer.
#[test]
fn hardlink_through_an_absolute_symlink_never_reaches_the_host() {
    let before = host_passwd();
    let scratch = Scratch::new("hardlink-via-symlink");
    let tar = Tar::new()
        .symlink("etc", "/etc")
        .hardlink("passwd", "etc/passwd")
        .finish();
    let archive = scratch.archive("layer.tar", &tar);
    let dest = scratch.dest("out");
    expect_err(
        unpack_archive(&archive, &dest, CAPS),
        "hardlink to etc/passwd via etc -> /etc",
    );
    assert_host_passwd_unchanged(&before);
    assert_nothing_left(&dest);
}

/// A hardlink to an in-layer symlink `s -> /etc/passwd`: links the symlink
/// itself (never dereferenced), so the host file gains no link.
#[test]
fn hardlink_to_a_symlink_links_the_symlink_not_the_host_file() {
    let before = host_passwd();
    let scratch = Scratch::new("hardlink-to-symlink");
    let tar = Tar::new()
        .symlink("s", "/etc/passwd")
        .hardlink("h", "s")
        .finish();
    let archive = scratch.archive("layer.tar", &tar);
    let dest = scratch.dest("out");
    let result = unpack_archive(&archive, &dest, CAPS);
    assert_host_passwd_unchanged(&before);
    result.unwrap();
    let h = fs::symlink_metadata(dest.join("h")).unwrap();
    assert!(
        h.file_type().is_symlink(),
        "dest/h is a {:?}",
        h.file_type()
    );
    assert_eq!(h.ino(), fs::symlink_metadata(dest.join("s")).unwrap().ino());
    assert_eq!(
        fs::read_link(dest.join("h")).unwrap(),
        Path::new("/etc/passwd")
    );
}

/// A symlink or hardlink named `.`, `/` or `./` would replace the layer's
/// root itself (e.g. root -> / makes the whole layer the host).
#[test]
fn link_named_dot_or_root_is_refused() {
    let scratch = Scratch::new("dot-link");
    let mut i = 0;
    for name in [".", "/", "./"] {
        for hard in [false, true] {
            let mut tar = Tar::new();
            tar.file("target", b"x");
            if hard {
                tar.hardlink(name, "target");
            } else {
                tar.symlink(name, "/");
            }
            let tar = tar.finish();
            let archive = scratch.archive(&format!("layer{i}.tar"), &tar);
            let dest = scratch.dest(&format!("out{i}"));
            let what = format!(
                "{} named {name:?}",
                if hard { "hardlink" } else { "symlink" }
            );
            let err = expect_err(unpack_archive(&archive, &dest, CAPS), &what);
            assert!(err.contains("refused"), "unclear error for {what}: {err}");
            assert_nothing_left(&dest);
            i += 1;
        }
    }
    // A plain "./" directory entry (what `tar -C dir .` writes first) is fine.
    let tar = Tar::new().dir("./").file("./a", b"a").finish();
    let archive = scratch.archive("dot-dir.tar", &tar);
    let dest = scratch.dest("dot-dir");
    unpack_archive(&archive, &dest, CAPS).unwrap();
    assert_eq!(fs::read(dest.join("a")).unwrap(), b"a");
}

// ---------------------------------------------------------------------------
// Special files, metadata
// ---------------------------------------------------------------------------

/// A layer shipping device nodes (`/dev/sda`, `/dev/mem`…) would give the
/// container raw access to host hardware: they are skipped. A 0/0 character
/// device (overlay's whiteout form) is kept; FIFOs are created.
#[test]
fn device_nodes_are_skipped_fifos_and_whiteout_devices_kept() {
    let scratch = Scratch::new("devices");
    let tar = Tar::new()
        .dir("dev/")
        .device(EntryType::Block, "dev/sda", 8, 0)
        .device(EntryType::Char, "dev/mem", 1, 1)
        .device(EntryType::Char, "dev/null", 1, 3)
        .device(EntryType::Char, "gone", 0, 0)
        .fifo("pipe")
        .finish();
    let archive = scratch.archive("layer.tar", &tar);
    let dest = scratch.dest("out");
    unpack_archive(&archive, &dest, CAPS).unwrap();
    for node in ["dev/sda", "dev/mem", "dev/null"] {
        assert!(
            fs::symlink_metadata(dest.join(node)).is_err(),
            "device node {node} was created"
        );
    }
    assert!(dest.join("dev").is_dir());
    assert!(
        is_whiteout_device(&dest.join("gone")),
        "the 0/0 char device was not kept"
    );
    let pipe = fs::symlink_metadata(dest.join("pipe")).unwrap();
    assert!(
        pipe.file_type().is_fifo(),
        "pipe is a {:?}",
        pipe.file_type()
    );
    assert_eq!(pipe.mode() & 0o7777, 0o640);
}

/// Metadata an image relies on (a setuid `passwd`-like binary owned by a
/// non-root user, a sticky world-writable `/tmp`) must survive unpacking —
/// in particular chown must not clear setuid after chmod set it.
#[test]
fn modes_owners_special_bits_and_mtimes_are_preserved() {
    let scratch = Scratch::new("metadata");
    let mut tar = Tar::new();
    let mut suid = Tar::header(EntryType::Regular, b"bin/suid", b"", 0, 0o4755);
    suid.set_uid(1234);
    suid.set_gid(5678);
    suid.set_mtime(1_000_000_000);
    tar.raw(suid, b"#!/bin/true\n");
    let mut sgid = Tar::header(EntryType::Regular, b"bin/sgid", b"", 0, 0o2711);
    sgid.set_uid(0);
    sgid.set_gid(42);
    tar.raw(sgid, b"x");
    let mut sticky = Tar::header(EntryType::Directory, b"tmp/", b"", 0, 0o1777);
    sticky.set_mtime(1_100_000_000);
    tar.raw(sticky, b"");
    // A child written after the directory must not leave the directory's mtime "now".
    tar.file("tmp/child", b"c");
    let tar = tar.finish();
    let archive = scratch.archive("layer.tar", &tar);
    let dest = scratch.dest("out");
    unpack_archive(&archive, &dest, CAPS).unwrap();

    let m = fs::symlink_metadata(dest.join("bin/suid")).unwrap();
    assert_eq!(
        m.mode() & 0o7777,
        0o4755,
        "setuid file mode {:o}",
        m.mode() & 0o7777
    );
    assert_eq!((m.uid(), m.gid()), (1234, 5678));
    assert_eq!(m.mtime(), 1_000_000_000);
    assert_eq!(fs::read(dest.join("bin/suid")).unwrap(), b"#!/bin/true\n");

    let m = fs::symlink_metadata(dest.join("bin/sgid")).unwrap();
    assert_eq!(
        m.mode() & 0o7777,
        0o2711,
        "setgid file mode {:o}",
        m.mode() & 0o7777
    );
    assert_eq!((m.uid(), m.gid()), (0, 42));

    let m = fs::symlink_metadata(dest.join("tmp")).unwrap();
    assert!(m.is_dir());
    assert_eq!(
        m.mode() & 0o7777,
        0o1777,
        "sticky dir mode {:o}",
        m.mode() & 0o7777
    );
    assert_eq!(m.mtime(), 1_100_000_000);
    assert_eq!(
        fs::symlink_metadata(dest.join("tmp/child"))
            .unwrap()
            .mtime(),
        MTIME as i64
    );
}

/// PAX `SCHILY.xattr.*` records: ordinary xattrs (`user.foo`) are applied, but
/// an image must not steer overlayfs itself with `trusted.overlay.*`
/// (e.g. a forged `opaque` or `redirect`): those are ignored.
#[test]
fn pax_xattrs_are_set_but_trusted_overlay_ones_ignored() {
    let scratch = Scratch::new("xattrs");
    let user = user_xattrs_supported(&scratch.dir);
    let mut tar = Tar::new();
    if user {
        tar.pax(&[("SCHILY.xattr.user.foo", b"bar")]);
        tar.file("with-user", b"u");
    }
    tar.pax(&[
        ("SCHILY.xattr.trusted.overlay.redirect", b"/etc"),
        ("SCHILY.xattr.trusted.overlay.metacopy", b""),
    ]);
    tar.file("forged-file", b"f");
    tar.pax(&[("SCHILY.xattr.trusted.overlay.opaque", b"y")]);
    tar.dir("forged-dir/");
    tar.file("forged-dir/keep", b"k");
    let tar = tar.finish();
    let archive = scratch.archive("layer.tar", &tar);
    let dest = scratch.dest("out");
    unpack_archive(&archive, &dest, CAPS).unwrap();

    if user {
        assert_eq!(
            xattr(&dest.join("with-user"), "user.foo").as_deref(),
            Some(&b"bar"[..])
        );
        assert_eq!(fs::read(dest.join("with-user")).unwrap(), b"u");
    } else {
        eprintln!(
            "user.* xattrs unsupported under {}: that part skipped",
            scratch.dir.display()
        );
    }
    assert_eq!(
        xattr(&dest.join("forged-file"), "trusted.overlay.redirect"),
        None
    );
    assert_eq!(
        xattr(&dest.join("forged-file"), "trusted.overlay.metacopy"),
        None
    );
    assert_eq!(fs::read(dest.join("forged-file")).unwrap(), b"f");
    assert_eq!(
        xattr(&dest.join("forged-dir"), "trusted.overlay.opaque"),
        None
    );
    assert_eq!(fs::read(dest.join("forged-dir/keep")).unwrap(), b"k");
}

// ---------------------------------------------------------------------------
// Whiteouts
// ---------------------------------------------------------------------------

/// `.wh.NAME` becomes what overlayfs reads as a deletion (a 0/0 character
/// device NAME), replacing whatever NAME was; the marker file never appears.
#[test]
fn whiteout_becomes_a_character_device() {
    let scratch = Scratch::new("whiteout");
    let tar = Tar::new()
        .file(".wh.gone", b"")
        .dir("dir/")
        .file("dir/victim", b"was here")
        .file("dir/.wh.victim", b"")
        .file("dir/.wh.subdir-from-below", b"")
        .file("dir/keep", b"kept")
        .finish();
    let archive = scratch.archive("layer.tar", &tar);
    let dest = scratch.dest("out");
    unpack_archive(&archive, &dest, CAPS).unwrap();
    for name in ["gone", "dir/victim", "dir/subdir-from-below"] {
        assert!(
            is_whiteout_device(&dest.join(name)),
            "{name} is not a 0/0 char device"
        );
    }
    for name in [".wh.gone", "dir/.wh.victim", "dir/.wh.subdir-from-below"] {
        assert!(
            fs::symlink_metadata(dest.join(name)).is_err(),
            "marker {name} appeared"
        );
    }
    assert_eq!(fs::read(dest.join("dir/keep")).unwrap(), b"kept");
}

/// `evil -> /tmp/<host dir>` then `evil/.wh.victim`, `evil/.wh..wh..opq`, and
/// `link -> /tmp/<host dir>/victim` then `.wh.link`: whiteouts are written
/// relative to a parent resolved inside the layer (apply_whiteout gets that
/// fd), so the host directory keeps its file and gets no opaque xattr; the
/// link itself is replaced, its target untouched.
#[test]
fn whiteouts_through_symlinks_never_touch_the_host() {
    let scratch = Scratch::new("whiteout-link");
    let host = Marker::new("whiteout-link");
    fs::create_dir(&host.0).unwrap();
    fs::write(host.0.join("victim"), b"host file").unwrap();
    let host_dir = host.0.to_string_lossy().into_owned();
    let tar = Tar::new()
        .symlink("evil", &host_dir)
        .file("evil/.wh.victim", b"")
        .file("evil/.wh..wh..opq", b"")
        .symlink("link", &format!("{host_dir}/victim"))
        .file(".wh.link", b"")
        .finish();
    let archive = scratch.archive("layer.tar", &tar);
    let dest = scratch.dest("out");
    let result = unpack_archive(&archive, &dest, CAPS);
    let meta = fs::symlink_metadata(host.0.join("victim")).unwrap();
    assert!(
        meta.is_file(),
        "the host's victim became {:?}",
        meta.file_type()
    );
    assert_eq!(fs::read(host.0.join("victim")).unwrap(), b"host file");
    assert_eq!(
        xattr(&host.0, "trusted.overlay.opaque"),
        None,
        "the host directory was made opaque"
    );
    result.unwrap();
    let inside = dest.join(host_dir.trim_start_matches('/'));
    assert!(
        is_whiteout_device(&inside.join("victim")),
        "evil/.wh.victim did not become a whiteout inside the layer"
    );
    assert_eq!(
        xattr(&inside, "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..]),
        "evil/ (inside the layer) is not opaque"
    );
    assert!(
        is_whiteout_device(&dest.join("link")),
        ".wh.link did not replace the symlink with a whiteout"
    );
}

/// `.wh..wh..opq` makes its directory opaque (trusted.overlay.opaque=y),
/// whether it comes before or after the directory's other entries, which stay.
#[test]
fn opaque_whiteout_sets_the_xattr_wherever_it_stands() {
    let scratch = Scratch::new("opaque");
    let tar = Tar::new()
        .dir("before/")
        .file("before/.wh..wh..opq", b"")
        .file("before/keep", b"1")
        .dir("after/")
        .file("after/keep", b"2")
        .file("after/.wh..wh..opq", b"")
        .file("implicit/.wh..wh..opq", b"") // directory never listed
        .dir("plain/")
        .file("plain/keep", b"3")
        .finish();
    let archive = scratch.archive("layer.tar", &tar);
    let dest = scratch.dest("out");
    unpack_archive(&archive, &dest, CAPS).unwrap();
    for dir in ["before", "after", "implicit"] {
        assert_eq!(
            xattr(&dest.join(dir), "trusted.overlay.opaque").as_deref(),
            Some(&b"y"[..]),
            "{dir} is not opaque"
        );
        assert!(
            fs::symlink_metadata(dest.join(dir).join(".wh..wh..opq")).is_err(),
            "the opaque marker appeared in {dir}"
        );
    }
    assert_eq!(fs::read(dest.join("before/keep")).unwrap(), b"1");
    assert_eq!(fs::read(dest.join("after/keep")).unwrap(), b"2");
    assert_eq!(xattr(&dest.join("plain"), "trusted.overlay.opaque"), None);
    assert_eq!(fs::read(dest.join("plain/keep")).unwrap(), b"3");
}

/// Malformed whiteouts (`.wh.` alone, `.wh..`, `.wh..wh.x`) would make
/// overlayfs delete `.`/`..` or undefined names: the unpack fails, cleanly.
#[test]
fn malformed_whiteouts_are_refused() {
    let scratch = Scratch::new("bad-whiteout");
    for (i, name) in [".wh.", ".wh..", "dir/.wh.", "dir/.wh..", ".wh..wh.x"]
        .iter()
        .enumerate()
    {
        let tar = Tar::new().file("ok", b"ok").file(name, b"").finish();
        let archive = scratch.archive(&format!("layer{i}.tar"), &tar);
        let dest = scratch.dest(&format!("out{i}"));
        let err = expect_err(unpack_archive(&archive, &dest, CAPS), name);
        assert!(
            err.contains("whiteout"),
            "unclear error for {name:?}: {err}"
        );
        assert_nothing_left(&dest);
    }
}

// ---------------------------------------------------------------------------
// Bombs
// ---------------------------------------------------------------------------

/// A decompression bomb: 64 MiB of zeros gzip to ~64 KiB; with a 16 MiB cap
/// the unpack stops, says which limit, and leaves nothing behind.
#[test]
fn gzip_bomb_is_stopped_at_the_byte_cap() {
    let scratch = Scratch::new("gzip-bomb");
    let archive = scratch.dir.join("bomb.tar.gz");
    {
        let file = fs::File::create(&archive).unwrap();
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        let mut builder = tar::Builder::new(gz);
        let size = 64u64 << 20;
        let header = Tar::header(EntryType::Regular, b"zeros", b"", size, 0o644);
        builder.append(&header, io::repeat(0).take(size)).unwrap();
        builder.into_inner().unwrap().finish().unwrap();
    }
    assert!(
        fs::metadata(&archive).unwrap().len() < 4 << 20,
        "the bomb is not compact"
    );
    let dest = scratch.dest("out");
    let caps = Caps {
        max_bytes: 16 << 20,
        max_entries: 1000,
        ..CAPS
    };
    let err = expect_err(
        unpack_archive(&archive, &dest, caps),
        "64 MiB under a 16 MiB cap",
    );
    assert!(
        err.contains(&(16u64 << 20).to_string()),
        "the error does not name the byte limit: {err}"
    );
    assert_nothing_left(&dest);
}

/// An entry-count bomb: 2000 tiny files (inode exhaustion) against a cap
/// of 1000 entries.
#[test]
fn entry_count_bomb_is_stopped() {
    let scratch = Scratch::new("entry-bomb");
    let mut tar = Tar::new();
    for i in 0..2000 {
        tar.file(&format!("f{i}"), b"x");
    }
    let tar = tar.finish();
    let archive = scratch.archive("many.tar", &tar);
    let dest = scratch.dest("out");
    let caps = Caps {
        max_bytes: 1 << 30,
        max_entries: 1000,
        ..CAPS
    };
    let err = expect_err(
        unpack_archive(&archive, &dest, caps),
        "2000 entries under a cap of 1000",
    );
    assert!(
        err.contains("1000"),
        "the error does not name the entry limit: {err}"
    );
    assert!(
        err.contains("entries"),
        "the error does not say what limit: {err}"
    );
    assert_nothing_left(&dest);
}

// ---------------------------------------------------------------------------
// diff_id, and all-or-nothing
// ---------------------------------------------------------------------------

fn sample_tar() -> Vec<u8> {
    Tar::new()
        .dir("etc/")
        .file("etc/hostname", b"layer\n")
        .symlink("etc/localtime", "/usr/share/zoneinfo/UTC")
        .file("big", &vec![7u8; 300 << 10]) // spans several zstd blocks
        .finish()
}

fn check_sample(dest: &Path) {
    assert_eq!(fs::read(dest.join("etc/hostname")).unwrap(), b"layer\n");
    assert_eq!(
        fs::read_link(dest.join("etc/localtime")).unwrap(),
        Path::new("/usr/share/zoneinfo/UTC")
    );
    assert_eq!(fs::read(dest.join("big")).unwrap(), vec![7u8; 300 << 10]);
}

/// diff_id of a plain tar: a forged diff_id would let a tampered layer pass
/// verification, so it must be the sha256 of exactly the tar's bytes.
#[test]
fn diff_id_of_a_plain_tar() {
    let scratch = Scratch::new("diffid-tar");
    let tar = sample_tar();
    let archive = scratch.archive("layer.tar", &tar);
    let dest = scratch.dest("out");
    assert_eq!(
        unpack_archive(&archive, &dest, CAPS).unwrap(),
        diff_id(&tar)
    );
    check_sample(&dest);
}

/// diff_id of a .tar.gz: the hash of the *uncompressed* tar, not of the blob.
#[test]
fn diff_id_of_a_gzipped_tar() {
    let scratch = Scratch::new("diffid-gz");
    let tar = sample_tar();
    let gz = gzip(&tar);
    let archive = scratch.archive("layer.tar.gz", &gz);
    let dest = scratch.dest("out");
    let id = unpack_archive(&archive, &dest, CAPS).unwrap();
    assert_eq!(id, diff_id(&tar));
    assert_ne!(id, diff_id(&gz));
    check_sample(&dest);
}

/// diff_id of a .tar.zst (a frame of raw zstd blocks, written by hand: there
/// is no zstd encoder among the dependencies).
#[test]
fn diff_id_of_a_zstd_tar() {
    let scratch = Scratch::new("diffid-zst");
    let tar = sample_tar();
    let zst = zstd_raw_frame(&tar);
    let archive = scratch.archive("layer.tar.zst", &zst);
    let dest = scratch.dest("out");
    let id = unpack_archive(&archive, &dest, CAPS).unwrap();
    assert_eq!(id, diff_id(&tar));
    check_sample(&dest);
}

/// A layer that fails half-way (a `..` entry after good ones) leaves no
/// half-unpacked tree, and an existing destination is never overwritten.
#[test]
fn failure_half_way_leaves_nothing_and_dest_is_never_reused() {
    let scratch = Scratch::new("all-or-nothing");
    let tar = Tar::new()
        .dir("usr/")
        .file("usr/a", b"a")
        .file("usr/../../oops", b"x")
        .finish();
    let archive = scratch.archive("layer.tar", &tar);
    let dest = scratch.dest("out");
    expect_err(
        unpack_archive(&archive, &dest, CAPS),
        "a .. entry after good ones",
    );
    assert_nothing_left(&dest);
    assert!(fs::symlink_metadata(scratch.dir.join("oops")).is_err());

    // An existing dest is refused and left as it was.
    fs::create_dir(&dest).unwrap();
    fs::write(dest.join("mine"), b"mine").unwrap();
    let good = scratch.archive("good.tar", &sample_tar());
    expect_err(unpack_archive(&good, &dest, CAPS), "an existing dest");
    assert_eq!(fs::read(dest.join("mine")).unwrap(), b"mine");
    assert!(fs::symlink_metadata(dest.join("etc")).is_err());
}
