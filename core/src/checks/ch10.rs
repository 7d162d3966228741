//! Chapter 10 — layers. A real registry (fixture.rs) serves images built to
//! exercise whiteouts; `chapter 10 run IMAGE` runs them on an overlay.

use std::fs;

use anyhow::{bail, Result};

use super::fixture::{
    build_image, busybox_layer, whiteout_layers, Auth, LayerEntry, Layout, Registry,
};
use super::probe::mountinfo;
use super::{random_hex, status_text, stderr_suffix, Check, Ctx};

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
    ]
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
        let o = ctx.output(
            10,
            &args,
            &["sh", "-c", "ls -a /data; echo --; ls -a /opaque"],
            b"",
        )?;
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
    let a = ctx.output(
        10,
        &args,
        &["sh", "-c", "echo changed > /shared; cat /shared"],
        b"",
    )?;
    if String::from_utf8_lossy(&a.stdout) != "changed\n" {
        bail!(
            "container A could not change /shared{}",
            stderr_suffix(&String::from_utf8_lossy(&a.stderr))
        );
    }
    let b = ctx.output(10, &args, &["cat", "/shared"], b"")?;
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
    let o = ctx.output(
        10,
        &["--network", "none", &good],
        &["sh", "-c", "test ! -e /a"],
        b"",
    )?;
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
    let o = ctx.output(10, &["--network", "none", &image], &["true"], b"")?;
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
