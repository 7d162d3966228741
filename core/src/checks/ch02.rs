//! Chapter 2 — chroot.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::{expect_success, random_hex, stderr_suffix, Check, Ctx, BREAKOUT};

pub fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "2.1",
            title: "/proc/PID/root of the container is the rootfs",
            points: 2,
            hint: "chroot(rootfs) (nix::unistd::chroot), the rootfs's own path: a relative one like \".\" starts from the current directory, which is not the rootfs",
            run: root_is_rootfs,
        },
        Check {
            id: "2.2",
            title: "/proc/PID/cwd is inside the rootfs",
            points: 1,
            hint: "chdir(\"/\") right after chroot: chroot does not move the current directory, and \"/\" is now the rootfs (its host path no longer exists)",
            run: cwd_inside,
        },
        Check {
            id: "2.3",
            title: "a file made on the host is invisible, the rootfs's is visible",
            points: 2,
            hint: "chroot(rootfs) before exec",
            run: host_file_invisible,
        },
        Check {
            id: "2.4",
            title: "the classic breakout escapes a plain chroot (the lesson!)",
            points: 1,
            hint:
                "chroot + chdir(\"/\") as root: the breakout needs a working chroot to escape from",
            run: breakout_escapes,
        },
    ]
}

fn root_is_rootfs(ctx: &Ctx) -> Result<()> {
    let running = ctx.start(2, &[], ":")?;
    let pid = running.container_pid()?;
    let root = fs::read_link(format!("/proc/{pid}/root"))?;
    if root != ctx.rootfs()? {
        bail!(
            "/proc/{pid}/root is {}, expected {}",
            root.display(),
            ctx.rootfs()?.display()
        );
    }
    running.finish()?;
    Ok(())
}

fn cwd_inside(ctx: &Ctx) -> Result<()> {
    let running = ctx.start(2, &[], ":")?;
    let pid = running.container_pid()?;
    let cwd = fs::read_link(format!("/proc/{pid}/cwd"))?;
    if !cwd.starts_with(ctx.rootfs()?) {
        bail!(
            "/proc/{pid}/cwd is {} — outside the rootfs {}",
            cwd.display(),
            ctx.rootfs()?.display()
        );
    }
    running.finish()?;
    Ok(())
}

/// A file removed when dropped, so a failing check leaves nothing behind.
pub struct TempFile(pub PathBuf);
impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

fn host_file_invisible(ctx: &Ctx) -> Result<()> {
    let name = format!("mini-docker-check-{}", random_hex(6)?);
    let host = TempFile(Path::new("/tmp").join(&name));
    fs::write(&host.0, "host")?;
    let inner = TempFile(ctx.rootfs()?.join("tmp").join(format!("{name}-rootfs")));
    fs::write(&inner.0, "rootfs")?;
    let script = format!("test ! -e /tmp/{name} && test -e /tmp/{name}-rootfs");
    let o = ctx.output(2, &[], &["/bin/sh", "-c", &script], b"")?;
    expect_success(
        &o,
        &format!("inside: `{script}` (host file hidden, rootfs file seen)"),
    )
}

/// Put the breakout helper and a host marker in place; returns (helper path inside, marker path, secret).
pub fn breakout_setup(ctx: &Ctx) -> Result<(TempFile, TempFile, String)> {
    if BREAKOUT.is_empty() {
        bail!("the breakout helper was not built (build.rs needs `cc -static`: install gcc and libc6-dev, rebuild)");
    }
    let name = format!(".breakout-{}", random_hex(4)?);
    let helper = TempFile(ctx.rootfs()?.join("tmp").join(&name));
    fs::write(&helper.0, BREAKOUT).context("copy the breakout helper into the rootfs")?;
    fs::set_permissions(&helper.0, fs::Permissions::from_mode(0o755))?;
    let secret = random_hex(8)?;
    let marker = TempFile(PathBuf::from(format!(
        "/tmp/mini-docker-marker-{}",
        random_hex(6)?
    )));
    fs::write(&marker.0, &secret)?;
    Ok((helper, marker, secret))
}

pub fn breakout_command(helper: &TempFile, marker: &TempFile) -> Vec<String> {
    let inside = format!("/tmp/{}", helper.0.file_name().unwrap().to_string_lossy());
    vec![
        "/bin/sh".into(),
        "-c".into(),
        format!("cd /tmp && {inside} {}", marker.0.display()),
    ]
}

fn breakout_escapes(ctx: &Ctx) -> Result<()> {
    let (helper, marker, secret) = breakout_setup(ctx)?;
    let cmd = breakout_command(&helper, &marker);
    let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let o = ctx.output(2, &[], &args, b"")?;
    let seen = String::from_utf8_lossy(&o.stdout);
    if o.status.code() != Some(0) || seen != secret {
        bail!(
            "the breakout did not reach the host's {} (exit {:?}){}",
            marker.0.display(),
            o.status.code(),
            stderr_suffix(&String::from_utf8_lossy(&o.stderr))
        );
    }
    Ok(())
}
