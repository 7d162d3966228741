//! Chapter 7 — user namespace.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use super::probe::expect_own_namespace;
use super::{random_hex, status_text, stderr_suffix, Check, Ctx};
use crate::userns::IdMap;

const NOBODY: u32 = 65534;

pub fn checks() -> Vec<Check> {
    vec![
        Check { id: "7.1", title: "--userns: own user namespace, uid_map and gid_map map 0 to the unprivileged range", points: 2,
            hint: "CLONE_NEWUSER, then write \"0 HOST COUNT\" to /proc/PID/uid_map and gid_map", run: maps_written },
        Check { id: "7.2", title: "`id -u` inside is 0 while the host sees the mapped uid", points: 2,
            hint: "write_id_maps must map container 0 to map.host_uid: the child becomes that uid", run: root_inside_only },
        Check { id: "7.3", title: "a file created in a bind mount is owned on the host by the mapped uid", points: 2,
            hint: "uid_map \"0 {host_uid} {count}\": files the container's root makes belong to host_uid", run: bind_mount_owner },
        Check { id: "7.4", title: "container root cannot mknod a device or load a kernel module", points: 2,
            hint: "with CLONE_NEWUSER, capabilities hold only inside the user namespace", run: no_host_privilege },
        Check { id: "7.5", title: "rootless: an unprivileged user (nobody) gets a container, root inside, uid_map \"0 65534 1\"", points: 3,
            hint: "without privilege: write \"deny\" to /proc/PID/setgroups before gid_map, and map only your own uid (count 1)", run: rootless_works },
        Check { id: "7.6", title: "rootless: --network bridge is refused in one clear line", points: 1,
            hint: "rootless containers must first work at all (see 7.5)", run: rootless_bridge_refused },
    ]
}

fn normalise(map: &str) -> String {
    map.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn maps_written(ctx: &Ctx) -> Result<()> {
    let running = ctx.start(7, &["--userns"], ":")?;
    let pid = running.container_pid()?;
    expect_own_namespace(pid, running.supervisor(), "user", "CLONE_NEWUSER")?;
    let uid_map = normalise(&fs::read_to_string(format!("/proc/{pid}/uid_map"))?);
    let gid_map = normalise(&fs::read_to_string(format!("/proc/{pid}/gid_map"))?);
    running.finish()?;
    let want = IdMap::remapped_root();
    let (uid_want, gid_want) = (
        format!("0 {} {}", want.host_uid, want.count),
        format!("0 {} {}", want.host_gid, want.count),
    );
    if uid_map != uid_want || gid_map != gid_want {
        bail!("uid_map is {uid_map:?} and gid_map {gid_map:?}; expected {uid_want:?} and {gid_want:?}");
    }
    Ok(())
}

/// Uid: real effective saved fs, as the host sees them.
fn host_uids(pid: nix::unistd::Pid) -> Result<Vec<u32>> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .context("no Uid line")?;
    Ok(line[4..]
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect())
}

fn root_inside_only(ctx: &Ctx) -> Result<()> {
    let running = ctx.start(7, &["--userns"], "id -u")?;
    let uids = host_uids(running.container_pid()?)?;
    let inside = running.before_ready.first().cloned().unwrap_or_default();
    running.finish()?;
    let mapped = IdMap::remapped_root().host_uid;
    if inside != "0" {
        bail!("`id -u` inside printed {inside:?}, expected 0");
    }
    if uids.iter().any(|&u| u != mapped) {
        bail!("the host sees the container's root as uids {uids:?}, expected {mapped}");
    }
    Ok(())
}

/// A world-writable temp dir on the host, removed when dropped.
struct SharedDir(PathBuf);
impl Drop for SharedDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn bind_mount_owner(ctx: &Ctx) -> Result<()> {
    let dir = SharedDir(PathBuf::from(format!(
        "/tmp/mini-docker-check-{}",
        random_hex(6)?
    )));
    fs::create_dir(&dir.0)?;
    fs::set_permissions(&dir.0, fs::Permissions::from_mode(0o777))?;
    let volume = format!("{}:/data", dir.0.display());
    let o = ctx.output(
        7,
        &["--userns", "-v", &volume],
        &["touch", "/data/made-inside"],
        b"",
    )?;
    super::expect_success(&o, "inside: touch /data/made-inside")?;
    let owner = fs::metadata(dir.0.join("made-inside"))?.uid();
    let mapped = IdMap::remapped_root().host_uid;
    if owner != mapped {
        bail!("the file belongs to host uid {owner}, expected {mapped}");
    }
    Ok(())
}

fn no_host_privilege(ctx: &Ctx) -> Result<()> {
    // Each attempt prints its exit status; the container must have run them all.
    let script = "mknod /tmp/.md-null c 1 3; echo mknod=$?; rm -f /tmp/.md-null; \
                  echo garbage > /dev/shm/m.ko; insmod /dev/shm/m.ko; echo insmod=$?";
    let o = ctx.output(7, &["--userns"], &["sh", "-c", script], b"")?;
    let out = String::from_utf8_lossy(&o.stdout);
    for attempt in ["mknod", "insmod"] {
        match out
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{attempt}=")))
        {
            Some("0") => {
                bail!("{attempt} succeeded inside the container: its root is the host's root")
            }
            Some(_) => {}
            None => bail!(
                "the container did not run {attempt} (exit {}){}",
                status_text(&o),
                stderr_suffix(&String::from_utf8_lossy(&o.stderr))
            ),
        }
    }
    Ok(())
}

/// mini-docker run as nobody, with a state dir nobody owns.
fn as_nobody(ctx: &Ctx, args: &[&str]) -> Result<std::process::Output> {
    let state = SharedDir(PathBuf::from(format!(
        "/tmp/mini-docker-check-rootless-{}",
        random_hex(6)?
    )));
    fs::create_dir(&state.0)?;
    std::os::unix::fs::chown(&state.0, Some(NOBODY), Some(NOBODY))?;
    let mut command = std::process::Command::new(&ctx.exe);
    if let Some(arg) = ctx.selection.to_arg() {
        command.arg(arg);
    }
    command
        .env_remove("MINI_DOCKER_REFERENCE")
        .env("HOME", &state.0)
        .arg("--state-dir")
        .arg(state.0.join("state"))
        .args(args)
        .current_dir("/")
        .uid(NOBODY)
        .gid(NOBODY)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    // Not in a sandbox (nobody cannot make one), but with a deadline.
    let child = command.spawn().context("run mini-docker as nobody")?;
    super::wait_output(child, std::time::Duration::from_secs(20))
}

fn rootless_works(ctx: &Ctx) -> Result<()> {
    let script = "id -u; echo $$; cat /proc/self/uid_map; hostname";
    let o = as_nobody(
        ctx,
        &[
            "chapter",
            "7",
            "run",
            "--hostname",
            "rootless",
            "--",
            "sh",
            "-c",
            script,
        ],
    )?;
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<String> = out.lines().map(normalise).collect();
    let want = [
        "0".to_string(),
        "1".to_string(),
        format!("0 {NOBODY} 1"),
        "rootless".to_string(),
    ];
    if o.status.code() != Some(0) || lines != want {
        bail!(
            "as nobody, the container printed {lines:?} (exit {}), expected {want:?}{}",
            status_text(&o),
            stderr_suffix(&String::from_utf8_lossy(&o.stderr))
        );
    }
    Ok(())
}

fn rootless_bridge_refused(ctx: &Ctx) -> Result<()> {
    rootless_works(ctx).context("rootless containers do not work yet")?;
    let o = as_nobody(
        ctx,
        &["chapter", "7", "run", "--network", "bridge", "--", "true"],
    )?;
    let err = String::from_utf8_lossy(&o.stderr);
    if o.status.success() || err.trim().lines().count() != 1 || !err.contains("root") {
        bail!("rootless --network bridge gave exit {} and stderr {err:?}: expected one line saying it needs root", status_text(&o));
    }
    Ok(())
}
