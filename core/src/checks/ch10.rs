//! Chapter 10 — layers. A real registry (fixture.rs) serves images built to
//! exercise whiteouts; `chapter 10 run IMAGE` runs them on an overlay.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use anyhow::{bail, Context, Result};

use super::fixture::{
    build_image, busybox_layer, whiteout_layers, Auth, LayerEntry, Layout, Registry,
};
use super::probe::mountinfo;
use super::{
    random_hex, status_text, stderr_suffix, wait_output, Check, Ctx, OUTPUT_TIMEOUT,
};

pub fn checks() -> Vec<Check> {
    vec![
        Check { id: "10.1", title: "the container's / is an overlay of the image's layers, volatile as it is thrown away (mountinfo)", points: 3,
            hint: "mount_overlay: mount(\"overlay\", target, \"overlay\", \"lowerdir=A:B,upperdir=U,workdir=W\"), \",volatile\" if volatile", run: overlay_root },
        Check { id: "10.2", title: "a .wh. file deletes, .wh..wh..opq hides the lower directory, markers never show", points: 3,
            hint: "whiteout: \".wh..wh..opq\" -> Opaque, \".wh.NAME\" -> Remove(NAME), anything else -> None; apply_whiteout: Remove = a character device 0/0 (mknodat), Opaque = trusted.overlay.opaque=y on the directory (user.overlay.opaque in a user namespace); mount_overlay: lowerdir lists the top layer first, \",userxattr\" in a user namespace", run: whiteouts },
        Check { id: "10.3", title: "copy-on-write: a write in one container reaches neither another one nor the layer", points: 2,
            hint: "upperdir takes the writes; the lowerdirs stay read-only", run: copy_on_write },
        Check { id: "10.4", title: "a malformed whiteout (.wh. alone) is refused in one line, nothing half-unpacked", points: 2,
            hint: "whiteout: \".wh.\" followed by nothing, \".\" or \"..\" is an error", run: malformed_whiteout },
        Check { id: "10.5", title: "whiteouts through symlinks out of the layer stay in it: a canary outside is untouched", points: 2,
            hint: "apply_whiteout: write relative to `parent` only (mknodat(parent, name), the xattr through parent's fd), never by a path: a bare name is looked up from the working directory", run: whiteouts_stay_in_the_layer },
    ]
}

/// A directory of the check's own under the temp dir, removed on drop: every
/// container of this chapter runs from one, so an apply_whiteout that writes
/// by a relative path (from the working directory, not `parent`) drops its
/// files there, never in the learner's repository.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch> {
        let dir = std::env::temp_dir().join(format!("mini-docker-check10-{}", random_hex(6)?));
        fs::create_dir(&dir).with_context(|| format!("create {}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `chapter 10 run ARGS -- CMD`, started in `cwd`, its output once it ended.
fn output_in(ctx: &Ctx, cwd: &Path, run_args: &[&str], cmd: &[&str]) -> Result<Output> {
    let child = ctx
        .command(10, run_args, cmd)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("start mini-docker")?;
    wait_output(child, OUTPUT_TIMEOUT)
}

/// `chapter 10 run ARGS -- CMD` from a scratch working directory.
fn output(ctx: &Ctx, run_args: &[&str], cmd: &[&str]) -> Result<Output> {
    let scratch = Scratch::new()?;
    output_in(ctx, &scratch.0, run_args, cmd)
}

fn file(path: &str, text: &str) -> (String, LayerEntry) {
    (
        path.to_string(),
        LayerEntry::File(text.as_bytes().to_vec(), 0o644),
    )
}

/// A registry with one image pushed; both live while the returned pair lives.
fn serve(layers: Vec<Vec<(String, LayerEntry)>>) -> Result<(Registry, Layout, String)> {
    let mut all = vec![busybox_layer()?];
    all.extend(layers);
    let layout = build_image(&all, serde_json::json!({}))?;
    let registry = Registry::start(Auth::Token)?;
    let repo = format!("check/layers-{}:1", random_hex(3)?);
    registry.push(&layout.dir, "single", &repo, None)?;
    let image = format!("{}/{repo}", registry.address());
    Ok((registry, layout, image))
}

fn overlay_root(ctx: &Ctx) -> Result<()> {
    let (_registry, _layout, image) = serve(vec![vec![file("hello", "hi")]])?;
    let mut command = ctx.command(
        10,
        &["--network", "none", &image],
        &["sh", "-c", "echo __ready__; read x"],
    );
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("piped")),
        &mut line,
    )?;
    // None if mini-docker already ended (its error comes with the output below).
    let pid = super::mini_docker_in(nix::unistd::Pid::from_raw(child.id() as i32))
        .ok()
        .and_then(|supervisor| super::probe::children_of(supervisor).ok()?.into_iter().next());
    let mounts = match pid {
        Some(pid) => mountinfo(Some(pid))?,
        None => Vec::new(),
    };
    drop(child.stdin.take());
    let output = child.wait_with_output()?;
    let root = mounts.iter().find(|m| m.mount_point == "/");
    // Shown as "volatile", or "fsync=volatile" by kernels 6.6 and later.
    let volatile = |m: &super::probe::Mount| {
        m.super_options
            .split(',')
            .any(|o| o == "volatile" || o == "fsync=volatile")
    };
    match root {
        // `chapter 10 run` throws the container away like --rm: nothing to sync.
        Some(m) if m.fstype == "overlay" && volatile(m) => Ok(()),
        Some(m) if m.fstype == "overlay" => bail!(
            "the overlay is not volatile ({}): its unmount will syncfs(2) the host's filesystem",
            m.super_options
        ),
        Some(m) => bail!(
            "the container's / is {} ({}), not an overlay",
            m.fstype,
            m.source
        ),
        None => bail!(
            "the container did not start{}",
            stderr_suffix(&String::from_utf8_lossy(&output.stderr))
        ),
    }
}

fn whiteouts(ctx: &Ctx) -> Result<()> {
    let (_registry, _layout, image) = serve(whiteout_layers())?;
    // Twice: as root, and in a user namespace, where overlayfs reads the
    // opaque marker from user.overlay.* only with the option userxattr.
    for userns in [false, true] {
        let mut args = vec!["--network", "none", image.as_str()];
        if userns {
            args.insert(0, "--userns");
        }
        let o = output(ctx, &args,
            &["sh", "-c", "ls -a /data; echo --; ls -a /opaque"])?;
        let seen = String::from_utf8_lossy(&o.stdout);
        let want = ".\n..\nkeep\n--\n.\n..\nnew\n";
        if seen != want {
            let with = if userns {
                " with --userns (is userxattr set in a user namespace?)"
            } else {
                ""
            };
            bail!(
                "inside{with}: {seen:?}, expected {want:?} (exit {}){}",
                status_text(&o),
                stderr_suffix(&String::from_utf8_lossy(&o.stderr))
            );
        }
    }
    Ok(())
}

fn copy_on_write(ctx: &Ctx) -> Result<()> {
    let (_registry, _layout, image) = serve(vec![vec![file("shared", "original")]])?;
    let args = ["--network", "none", image.as_str()];
    let a = output(ctx, &args,
        &["sh", "-c", "echo changed > /shared; cat /shared"])?;
    if String::from_utf8_lossy(&a.stdout) != "changed\n" {
        bail!(
            "container A could not change /shared{}",
            stderr_suffix(&String::from_utf8_lossy(&a.stderr))
        );
    }
    let b = output(ctx, &args, &["cat", "/shared"])?;
    if String::from_utf8_lossy(&b.stdout) != "original" {
        bail!(
            "container B sees {:?} in /shared: A's write leaked",
            String::from_utf8_lossy(&b.stdout)
        );
    }
    let layers = ctx.state_dir.join("layers");
    for entry in fs::read_dir(&layers)?.flatten() {
        if let Ok(text) = fs::read_to_string(entry.path().join("shared")) {
            if text != "original" {
                bail!("the unpacked layer itself was changed: {text:?}");
            }
        }
    }
    Ok(())
}

fn malformed_whiteout(ctx: &Ctx) -> Result<()> {
    // First a good image with a real whiteout must run: refusing everything is no answer.
    let (_good_registry, _good_layout, good) =
        serve(vec![vec![file("a", "a")], vec![file(".wh.a", "")]])?;
    let o = output(ctx, &["--network", "none", &good],
        &["sh", "-c", "test ! -e /a"])?;
    if !o.status.success() {
        bail!(
            "an image with a valid whiteout did not run (exit {}){}",
            status_text(&o),
            stderr_suffix(&String::from_utf8_lossy(&o.stderr))
        );
    }
    // Then Remove(".") and Remove(".."): the scaffold refuses those names
    // too (they would empty a directory), but without saying "malformed".
    for bad in [".wh.", ".wh..", ".wh..."] {
        refused(ctx, bad)?;
    }
    Ok(())
}

/// An image with the malformed whiteout `bad` is refused in one line, and
/// leaves no half-unpacked layer behind.
fn refused(ctx: &Ctx, bad: &str) -> Result<()> {
    let (_registry, layout, image) = serve(vec![vec![file(bad, "")]])?;
    let o = output(ctx, &["--network", "none", &image], &["true"])?;
    let err = String::from_utf8_lossy(&o.stderr);
    let last = err.lines().last().unwrap_or("").to_string();
    if o.status.success() || !last.contains("malformed whiteout") {
        bail!(
            "an image with a {bad:?} entry gave exit {} and {last:?}; expected a clear refusal",
            status_text(&o)
        );
    }
    let bad_layer = layout.first_layers.last().cloned().unwrap_or_default();
    let leftovers: Vec<String> = fs::read_dir(ctx.state_dir.join("layers"))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".partial"))
        .collect();
    if !leftovers.is_empty() {
        bail!("half-unpacked layers left behind: {leftovers:?} (layer {bad_layer})");
    }
    Ok(())
}

/// A layer whose whiteouts reach out of it through symlinks: `evil` points at
/// a directory outside (absolute), then `evil/.wh.victim` and
/// `evil/.wh..wh..opq`; `link` points at the canary there, then `.wh.link`.
/// mini-docker unpacks it started in that very directory, so a whiteout
/// written by a path — through the symlink, or from the working directory —
/// lands on the canary. In the layer, `evil` resolves *inside* it (as if the
/// layer were /): the whiteouts belong there.
fn whiteouts_stay_in_the_layer(ctx: &Ctx) -> Result<()> {
    let scratch = Scratch::new()?;
    let outside = scratch.0.join("outside");
    fs::create_dir(&outside)?;
    let canary = outside.join("victim");
    fs::write(&canary, "canary")?;
    let target = outside.to_string_lossy().into_owned();
    let layer = vec![
        ("evil".to_string(), LayerEntry::Symlink(target.clone())),
        ("link".to_string(), LayerEntry::Symlink(format!("{target}/victim"))),
        file(".wh.link", ""),
        file("evil/.wh.victim", ""),
        file("evil/.wh..wh..opq", ""),
    ];
    let (_registry, _layout, image) = serve(vec![layer])?;
    let o = output_in(ctx, &outside, &["--network", "none", &image], &["true"])?;

    let kept = fs::symlink_metadata(&canary).is_ok_and(|m| m.is_file())
        && fs::read_to_string(&canary).is_ok_and(|text| text == "canary");
    if !kept {
        bail!(
            "the canary {} outside the layer was replaced or changed: a whiteout went out of the \
             layer (through a symlink, or by a path); apply_whiteout must use mknodat on `parent`",
            canary.display()
        );
    }
    let mut appeared: Vec<String> = fs::read_dir(&outside)?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name != "victim")
        .collect();
    appeared.sort();
    if !appeared.is_empty() {
        bail!(
            "{appeared:?} appeared in {}, mini-docker's working directory, outside the layer: \
             mknod(name) looks a bare name up from there — mknodat(parent, name) writes in the layer",
            outside.display()
        );
    }
    if has_xattr(&outside, c"trusted.overlay.opaque") || has_xattr(&outside, c"user.overlay.opaque")
    {
        bail!(
            "{} outside the layer was made opaque: the opaque marker goes on `parent` (its fd), \
             never on a path",
            outside.display()
        );
    }
    if !o.status.success() {
        bail!(
            "the image did not run (exit {}): its whiteouts belong inside the layer{}",
            status_text(&o),
            stderr_suffix(&String::from_utf8_lossy(&o.stderr))
        );
    }
    // Refusing the image is no answer either: `evil` resolved in the layer holds the whiteout.
    let inside = target.trim_start_matches('/');
    let whiteout_inside = fs::read_dir(ctx.state_dir.join("layers"))?
        .flatten()
        .filter_map(|layer| fs::symlink_metadata(layer.path().join(inside).join("victim")).ok())
        .any(|m| m.file_type().is_char_device() && m.rdev() == 0);
    if !whiteout_inside {
        bail!("evil/.wh.victim did not become a 0/0 character device at {target}/victim inside the layer");
    }
    Ok(())
}

/// Whether `path` (not followed if a symlink) carries the extended attribute `key`.
fn has_xattr(path: &Path, key: &std::ffi::CStr) -> bool {
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: both strings are NUL-terminated and live across the call; a null
    // buffer of size 0 only asks for the value's length, nothing is written.
    let len = unsafe { libc::lgetxattr(c_path.as_ptr(), key.as_ptr(), std::ptr::null_mut(), 0) };
    len >= 0
}
