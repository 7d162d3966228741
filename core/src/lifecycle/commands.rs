//! docker's container commands over the state on disk: `ps`, `logs`,
//! `stop`, `kill`, `start`, `restart`, `rm`, `wait`, `inspect`,
//! `container prune`. Each reads state.json (atomic, see state.rs) and
//! checks liveness itself; none trusts a "running" its keeper cannot back.

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use serde_json::json;

use super::logs::{self, Show};
use super::shim;
use super::state::{self, container_dir, State, Status};
use super::time::{rfc3339_nano, since};
use crate::runtime::supervisor::ExitError;

/// Run `each` on every container named; errors are printed one line each,
/// and any makes the status 125, or the error's own (an ambiguous id
/// prefix: 1, as docker's CLI); the others are still done, like docker.
fn for_each(
    state_dir: &Path,
    names: &[String],
    mut each: impl FnMut(&str, &str) -> Result<()>,
) -> i32 {
    let mut status = 0;
    for name in names {
        let done = state::resolve(state_dir, name).and_then(|id| each(name, &id));
        if let Err(err) = done {
            eprintln!("mini-docker: {err:#}");
            status = status.max(exit_code_of(&err));
        }
    }
    status
}

fn exit_code_of(err: &anyhow::Error) -> i32 {
    err.downcast_ref::<ExitError>().map_or(125, |e| e.code)
}

/// docker's 12 hex digits, or the whole id with `--no-trunc`.
fn id_column(s: &State, no_trunc: bool) -> &str {
    match no_trunc {
        true => &s.id,
        false => crate::sys::short_id(&s.id),
    }
}

fn read(state_dir: &Path, id: &str) -> Result<State> {
    state::read(&container_dir(state_dir, id))
        .map_err(|_| anyhow::anyhow!("no such container: {id}"))
}

/// `ps [-a] [-q] [--no-trunc] [--format json]`
pub struct PsOptions {
    pub all: bool,
    pub quiet: bool,
    pub no_trunc: bool,
    pub json: bool,
}

pub fn ps(state_dir: &Path, how: &PsOptions) -> Result<i32> {
    let shown: Vec<State> = state::list(state_dir)
        .into_iter()
        .rev() // newest first, like docker
        .filter(|s| how.all || s.is_running())
        .collect();
    if how.quiet {
        shown
            .iter()
            .for_each(|s| println!("{}", id_column(s, how.no_trunc)));
    } else if how.json {
        shown
            .iter()
            .for_each(|s| println!("{}", ps_json(s, how.no_trunc)));
    } else {
        print_table(&shown, how.no_trunc);
    }
    Ok(0)
}

pub fn command_column(s: &State, no_trunc: bool) -> String {
    let command = s.command.join(" ");
    let shown = if no_trunc || command.chars().count() <= 20 {
        command
    } else {
        format!("{}…", command.chars().take(19).collect::<String>())
    };
    format!("{shown:?}")
}

/// "Up 3 seconds", "Exited (137) 2 minutes ago", "Created".
pub fn status_column(s: &State) -> String {
    match s.effective() {
        Status::Running => format!("Up {}", since(s.started)),
        Status::Created => "Created".into(),
        Status::Exited => {
            let at = if s.finished > 0 {
                s.finished
            } else {
                s.started
            };
            format!("Exited ({}) {} ago", s.effective_exit_code(), since(at))
        }
    }
}

fn print_table(shown: &[State], no_trunc: bool) {
    let header = [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ];
    let mut rows = vec![header.map(String::from).to_vec()];
    for s in shown {
        rows.push(vec![
            id_column(s, no_trunc).to_string(),
            s.image.clone(),
            command_column(s, no_trunc),
            format!("{} ago", since(s.created)),
            status_column(s),
            s.ports.join(", "),
            s.name.clone().unwrap_or_default(),
        ]);
    }
    // docker's tabwriter: cells at least 10 wide, 3 spaces of padding.
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count() + 3)
                .max()
                .unwrap_or(0)
                .max(10)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths[c] - cell.chars().count();
                line.push_str(&format!("{cell}{}", " ".repeat(pad)));
            }
        }
        println!("{}", line.trim_end());
    }
}

/// `ps --format json`: one object per line, docker's keys.
fn ps_json(s: &State, no_trunc: bool) -> String {
    let created = rfc3339_nano(s.created - s.created % 1_000_000_000);
    let created = created.trim_end_matches('Z').replace('T', " ") + " +0000 UTC";
    json!({
        "Command": command_column(s, no_trunc),
        "CreatedAt": created,
        "ID": id_column(s, no_trunc),
        "Image": s.image,
        "Labels": "",
        "LocalVolumes": "0",
        "Mounts": s.mounts.iter().map(|m| m.source.clone()).collect::<Vec<_>>().join(","),
        "Names": s.name.clone().unwrap_or_default(),
        "Networks": if s.ip_address.is_some() { "bridge" } else { "" },
        "Ports": s.ports.join(", "),
        "RunningFor": format!("{} ago", since(s.created)),
        "Size": "0B",
        "State": s.effective().as_str(),
        "Status": status_column(s),
    })
    .to_string()
}

/// `logs [-f] [--tail N] [-t] CONTAINER`
pub fn logs(state_dir: &Path, name: &str, how: &Show) -> Result<i32> {
    let id = state::resolve(state_dir, name)?;
    logs::show(&container_dir(state_dir, &id), &id, how)?;
    Ok(0)
}

/// Signal the container's PID 1 if it is still the same process.
pub fn signal(s: &State, signal: Signal) -> Result<()> {
    if !s.container_alive() {
        bail!("container {} is not running", s.id);
    }
    nix::sys::signal::kill(Pid::from_raw(s.pid), signal)
        .with_context(|| format!("kill -{signal} {} (container {})", s.pid, s.id))
}

/// Poll until the keeper recorded the end (or died); false on timeout.
fn wait_not_running(dir: &Path, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        match state::read(dir) {
            Ok(s) if s.is_running() => {}
            _ => return true,
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Until the keeper process itself is gone (it cleans up after recording the exit).
fn wait_keeper_gone(s: &State, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while state::alive(s.shim_pid, s.shim_start) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// SIGTERM, then SIGKILL after `timeout` (docker stop).
pub fn stop_one(state_dir: &Path, id: &str, timeout: Duration) -> Result<()> {
    let dir = container_dir(state_dir, id);
    let s = read(state_dir, id)?;
    if !s.container_alive() {
        return Ok(()); // stopped already: docker says its name too
    }
    let _ = signal(&s, Signal::SIGTERM);
    if !wait_not_running(&dir, timeout) {
        let _ = signal(&s, Signal::SIGKILL);
        if !wait_not_running(&dir, Duration::from_secs(10)) {
            bail!("container {id} did not stop after SIGKILL");
        }
    }
    wait_keeper_gone(&s, Duration::from_secs(5));
    Ok(())
}

pub fn stop(state_dir: &Path, names: &[String], secs: u64) -> Result<i32> {
    Ok(for_each(state_dir, names, |name, id| {
        stop_one(state_dir, id, Duration::from_secs(secs))?;
        println!("{name}");
        Ok(())
    }))
}

/// `kill -s`: a name (KILL, SIGKILL) or a number.
pub fn parse_signal(text: &str) -> Result<Signal> {
    if let Ok(n) = text.parse::<i32>() {
        return Signal::try_from(n).with_context(|| format!("invalid signal: {text}"));
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name).map_err(|_| anyhow::anyhow!("invalid signal: {text}"))
}

pub fn kill(state_dir: &Path, names: &[String], sig: &str) -> Result<i32> {
    let sig = parse_signal(sig)?;
    Ok(for_each(state_dir, names, |name, id| {
        let s = read(state_dir, id)?;
        signal(&s, sig).map_err(|_| {
            anyhow::anyhow!("cannot kill container: {name}: container {id} is not running")
        })?;
        println!("{name}");
        Ok(())
    }))
}

/// Start a stopped container again: its shim runs the arguments that made
/// it, with the same id, so the same writable layer.
pub fn start_one(state_dir: &Path, id: &str) -> Result<State> {
    let s = read(state_dir, id)?;
    if s.is_running() {
        return Ok(s);
    }
    if s.args.is_empty() {
        bail!("container {id} has no recorded run arguments: it cannot be started again");
    }
    remove_leftovers(state_dir, id);
    shim::spawn(state_dir, id, &s.args, Path::new(&s.cwd))?;
    // A `--rm` container may be over and gone already: it did start.
    Ok(read(state_dir, id).unwrap_or(s))
}

/// `start [-a] CONTAINER...`: with -a, its output until it ends, and its status.
pub fn start(state_dir: &Path, names: &[String], attach: bool) -> Result<i32> {
    if attach {
        let [name] = names else {
            bail!("you cannot start and attach multiple containers at once");
        };
        let id = state::resolve(state_dir, name)?;
        let dir = container_dir(state_dir, &id);
        let path = logs::log_path(&dir, &id);
        let offset = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        start_one(state_dir, &id)?;
        logs::follow(&dir, &path, offset, false);
        return Ok(read(state_dir, &id)?.effective_exit_code());
    }
    Ok(for_each(state_dir, names, |name, id| {
        start_one(state_dir, id)?;
        println!("{name}");
        Ok(())
    }))
}

pub fn restart(state_dir: &Path, names: &[String], secs: u64) -> Result<i32> {
    Ok(for_each(state_dir, names, |name, id| {
        stop_one(state_dir, id, Duration::from_secs(secs))?;
        start_one(state_dir, id)?;
        println!("{name}");
        Ok(())
    }))
}

/// `rm [-f]`: a running container only with -f (killed first).
pub fn rm_one(state_dir: &Path, name: &str, id: &str, force: bool) -> Result<()> {
    let dir = container_dir(state_dir, id);
    let s = read(state_dir, id)?;
    if s.is_running() {
        let shown = s.name.as_deref().unwrap_or(id);
        if !force {
            bail!("cannot remove container \"/{shown}\": container is running: stop the container before removing or force remove");
        }
        let _ = signal(&s, Signal::SIGKILL);
        if !wait_not_running(&dir, Duration::from_secs(10)) {
            bail!("container {name} did not stop after SIGKILL");
        }
    }
    wait_keeper_gone(&s, Duration::from_secs(5));
    let _held = state::lock(&dir)?;
    remove_leftovers(state_dir, id);
    std::fs::remove_dir_all(&dir).with_context(|| format!("remove {}", dir.display()))?;
    release_name(state_dir, s.name.as_deref(), id);
    Ok(())
}

pub fn rm(state_dir: &Path, names: &[String], force: bool) -> Result<i32> {
    Ok(for_each(state_dir, names, |name, id| {
        rm_one(state_dir, name, id, force)?;
        println!("{name}");
        Ok(())
    }))
}

fn release_name(state_dir: &Path, name: Option<&str>, id: &str) {
    let Some(name) = name else { return };
    let file = state_dir.join("names").join(name);
    if std::fs::read_to_string(&file).is_ok_and(|held| held.trim() == id) {
        let _ = std::fs::remove_file(file);
    }
}

/// What a keeper that died (SIGKILL, a reboot) could not clean: its cgroup
/// (and any process still in it) and its address lease. Its mounts and its
/// veth lived in namespaces that ended with its last process.
fn remove_leftovers(state_dir: &Path, id: &str) {
    for dir in cgroup_dirs(id) {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines().filter_map(|p| p.trim().parse::<i32>().ok()) {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let _ = crate::cgroups::remove_dir_retrying(&dir);
    }
    let _ = crate::net::ipam::prune_stale(state_dir, "");
}

/// mini-docker/ID under the v2 root and under every v1 hierarchy.
fn cgroup_dirs(id: &str) -> Vec<std::path::PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let mut dirs = vec![root.join(crate::cgroups::PARENT).join(id)];
    if let Ok(entries) = std::fs::read_dir(root) {
        dirs.extend(
            entries
                .flatten()
                .map(|e| e.path().join(crate::cgroups::PARENT).join(id)),
        );
    }
    dirs.retain(|d| d.is_dir());
    dirs
}

/// `wait CONTAINER...`: block until each ends; print its exit status.
pub fn wait(state_dir: &Path, names: &[String]) -> Result<i32> {
    Ok(for_each(state_dir, names, |_, id| {
        let dir = container_dir(state_dir, id);
        while !wait_not_running(&dir, Duration::from_secs(3600)) {}
        println!("{}", read(state_dir, id)?.effective_exit_code());
        Ok(())
    }))
}

/// `container prune`: every container that is not running.
pub fn prune(state_dir: &Path) -> Result<i32> {
    println!("Deleted Containers:");
    for s in state::list(state_dir)
        .into_iter()
        .filter(|s| !s.is_running())
    {
        match rm_one(state_dir, &s.id, &s.id, false) {
            Ok(()) => println!("{}", s.id),
            Err(err) => eprintln!("mini-docker: {err:#}"),
        }
    }
    println!("\nTotal reclaimed space: 0B");
    Ok(0)
}

/// `inspect NAME...`: containers first, then images; a JSON array.
pub fn inspect(state_dir: &Path, names: &[String]) -> Result<i32> {
    let mut found = Vec::new();
    let mut status = 0;
    for name in names {
        let object = match state::resolve(state_dir, name) {
            Ok(id) => read(state_dir, &id).map(|s| container_json(&s)),
            // An ambiguous id prefix is that error, not "no such object" (docker).
            Err(err) if err.is::<ExitError>() => {
                eprintln!("mini-docker: {err:#}");
                status = status.max(exit_code_of(&err));
                continue;
            }
            Err(_) => image_json(state_dir, name),
        };
        match object {
            Ok(object) => found.push(object),
            Err(_) => {
                eprintln!("mini-docker: no such object: {name}");
                status = 125;
            }
        }
    }
    println!("{}", serde_json::to_string_pretty(&found)?);
    Ok(status)
}

pub fn container_json(s: &State) -> serde_json::Value {
    let status = s.effective();
    let running = status == Status::Running;
    let ports: serde_json::Map<String, serde_json::Value> = s
        .ports
        .iter()
        .filter_map(|p| p.split_once("->"))
        .map(|(host, ctr)| {
            let (ip, port) = host.rsplit_once(':').unwrap_or(("0.0.0.0", host));
            (ctr.to_string(), json!([{"HostIp": ip, "HostPort": port}]))
        })
        .collect();
    json!({
        "Id": s.id,
        "Created": rfc3339_nano(s.created),
        "Path": s.command.first(),
        "Args": s.command.iter().skip(1).collect::<Vec<_>>(),
        "State": {
            "Status": status.as_str(),
            "Running": running,
            "Paused": false,
            "Restarting": false,
            "OOMKilled": s.oom_killed,
            "Dead": false,
            "Pid": if running { s.pid } else { 0 },
            "ExitCode": if status == Status::Exited { s.effective_exit_code() } else { 0 },
            "StartedAt": rfc3339_nano(s.started),
            "FinishedAt": rfc3339_nano(s.finished),
        },
        "Image": s.image,
        "Name": format!("/{}", s.name.as_deref().unwrap_or(&s.id)),
        "HostConfig": {"AutoRemove": s.auto_remove},
        "Mounts": s.mounts.iter().map(|m| json!({
            "Type": "bind", "Source": m.source, "Destination": m.destination,
            "Mode": if m.read_only { "ro" } else { "" }, "RW": !m.read_only,
        })).collect::<Vec<_>>(),
        "Config": {
            "Hostname": s.hostname,
            "Env": s.env,
            "Cmd": s.command,
            "Image": s.image,
        },
        "NetworkSettings": {
            "IPAddress": s.ip_address.clone().unwrap_or_default(),
            "Ports": ports,
        },
    })
}

/// A pulled image, docker-shaped enough for `inspect`.
pub fn image_json(state_dir: &Path, name: &str) -> Result<serde_json::Value> {
    let store = crate::image::store::Store::open(state_dir)?;
    let images = store.images()?;
    let wanted = [name.to_string(), format!("{name}:latest")];
    let (key, record) = images
        .iter()
        .find(|(key, _)| {
            wanted
                .iter()
                .any(|w| *key == w || key.ends_with(&format!("/{w}")))
        })
        .with_context(|| format!("no such image: {name}"))?;
    let (os, arch) = record
        .platform
        .split_once('/')
        .unwrap_or(("linux", &record.platform));
    Ok(json!({
        "Id": record.config_digest.to_string(),
        "RepoTags": [key],
        "RepoDigests": [format!("{}@{}", record.name, record.manifest_digest)],
        "Created": record.created,
        "Os": os,
        "Architecture": arch,
        "Size": record.size(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_or_number() {
        assert_eq!(parse_signal("KILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("sigusr1").unwrap(), Signal::SIGUSR1);
        assert_eq!(parse_signal("15").unwrap(), Signal::SIGTERM);
        assert_eq!(
            parse_signal("NOPE").unwrap_err().to_string(),
            "invalid signal: NOPE"
        );
    }

    #[test]
    fn the_command_column_is_quoted_and_cut_at_twenty() {
        let s = State {
            command: vec![
                "sh".into(),
                "-c".into(),
                "while true; do sleep 1; done".into(),
            ],
            ..State::default()
        };
        assert_eq!(command_column(&s, false), "\"sh -c while true; d…\"");
        assert!(command_column(&s, true).ends_with("done\""));
    }
}
