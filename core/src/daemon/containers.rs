//! The container calls, each a translation onto chapter 12's lifecycle
//! library: create (a "created" state.json with the `run -d` arguments),
//! start (the shim, re-executed), stop/kill/restart/rm/prune (commands.rs),
//! wait (the state file, watched), list and inspect (the same records
//! `mini-docker ps` and `inspect` read).

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use hyper::StatusCode;
use serde_json::{json, Value};

use super::{blocking, channel_body, empty, json_reply, ApiError, Daemon, Query, Reply};
use crate::cli::args::{Cli, Command, RunImageArgs};
use crate::lifecycle::commands;
use crate::lifecycle::state::{self, container_dir, Endpoint, State, Status};

use super::networks::NetworkRecord;
use crate::runtime::supervisor::ExitError;
use std::collections::BTreeMap;

/// The `run` flags a container was made with (its recorded arguments).
pub fn run_flags(s: &State) -> Option<RunImageArgs> {
    let cli = <Cli as clap::Parser>::try_parse_from(
        std::iter::once("mini-docker".to_string()).chain(s.args.iter().cloned()),
    )
    .ok()?;
    match cli.command {
        Some(Command::Run(run)) => Some(*run),
        _ => None,
    }
}

fn resolve(daemon: &Daemon, name: &str) -> anyhow::Result<(String, State)> {
    let id = state::resolve(&daemon.state_dir, name)
        .map_err(|_| anyhow::anyhow!("No such container: {name}"))?;
    let s = state::read(&container_dir(&daemon.state_dir, &id))
        .map_err(|_| anyhow::anyhow!("No such container: {name}"))?;
    Ok((id, s))
}

/// `POST /containers/create?name=NAME`: the body becomes `run -d`
/// arguments; the container is recorded "created", its directory, name and
/// (empty) log file made, so attach can follow it before it starts.
pub async fn create(daemon: Arc<Daemon>, query: &Query, mut body: Value) -> Reply {
    let name = query.get("name").map(String::from);
    let network = user_network(&daemon, &mut body).await?;
    let mut args = daemon.global_args();
    let run = super::create::run_args(&body, name.as_deref(), &daemon.steps)?;
    // `run -d` first, then the network's flags, then the rest.
    let (head, rest) = run.split_at(2.min(run.len()));
    args.extend(head.iter().cloned());
    args.extend(
        network
            .iter()
            .flat_map(|(record, _)| super::networks::run_flags(record)),
    );
    args.extend(rest.iter().cloned());
    let endpoint = network.map(|(record, aliases)| Endpoint {
        network: record.name,
        aliases,
    });
    let labels: BTreeMap<String, String> = body["Labels"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let image = body["Image"].as_str().unwrap_or_default().to_string();
    let auto_remove = body["HostConfig"]["AutoRemove"].as_bool() == Some(true);
    let entrypoint = body["Entrypoint"].clone();
    let cmd = body["Cmd"].clone();
    let id = blocking(move || {
        // The CLI pulls on a 404 "No such image" and creates again.
        let (_, record) = super::images::find(&daemon, &image)?;
        let store = crate::image::store::Store::open(&daemon.state_dir)?;
        let (config, _) = crate::image::container::image_config(&store, &record)?;
        let words = |v: &Value| -> Option<Vec<String>> {
            v.as_array().map(|a| {
                a.iter()
                    .filter_map(|w| w.as_str().map(String::from))
                    .collect()
            })
        };
        let (entry, default_cmd) = match words(&entrypoint) {
            Some(e) => (
                e.into_iter().filter(|w| !w.is_empty()).collect(),
                Vec::new(),
            ),
            None => (config.entrypoint.clone(), config.cmd.clone()),
        };
        let mut command: Vec<String> = entry;
        command.extend(words(&cmd).filter(|c| !c.is_empty()).unwrap_or(default_cmd));
        if command.is_empty() {
            bail!("no command specified: {image} has no Entrypoint or Cmd");
        }
        record_created(
            &daemon.state_dir,
            name.as_deref(),
            State {
                image,
                command,
                auto_remove,
                args,
                cwd: "/".into(),
                labels,
                endpoint,
                ..State::default()
            },
        )
    })
    .await?;
    json_reply(StatusCode::CREATED, &json!({"Id": id, "Warnings": []}))
}

/// `HostConfig.NetworkMode` naming a user-defined network: its record
/// and the container's aliases there (`NetworkingConfig.EndpointsConfig`);
/// the body is left asking for the default bridge, which the network's
/// `--bridge`/`--subnet` flags then point at the network's own.
async fn user_network(
    daemon: &Arc<Daemon>,
    body: &mut Value,
) -> Result<Option<(NetworkRecord, Vec<String>)>, ApiError> {
    let mode = body["HostConfig"]["NetworkMode"]
        .as_str()
        .unwrap_or("")
        .to_string();
    // The built-in modes, and `container:ID` (which run_args refuses).
    if matches!(mode.as_str(), "" | "default" | "bridge" | "host" | "none") || mode.contains(':') {
        return Ok(None);
    }
    let (state_dir, wanted) = (daemon.state_dir.clone(), mode.clone());
    let record = blocking(move || Ok(super::networks::find(&state_dir, &wanted))).await?;
    let Some(record) = record else {
        return Err(ApiError::not_found(format!("No such network: {mode}")));
    };
    let endpoints = &body["NetworkingConfig"]["EndpointsConfig"];
    if let Some(other) = endpoints
        .as_object()
        .into_iter()
        .flat_map(|o| o.keys())
        .find(|k| **k != mode && **k != record.name && **k != record.id)
    {
        return Err(ApiError::not_implemented(format!(
            "a second network ({other}) is not supported by mini-docker: one network per container"
        )));
    }
    let aliases = endpoints
        .as_object()
        .and_then(|o| o.values().next())
        .map(|e| super::create::alias_list(&e["Aliases"]))
        .unwrap_or_default();
    body["HostConfig"]["NetworkMode"] = json!("bridge");
    Ok(Some((record, aliases)))
}

/// The directory (its lock and mode as a run makes it), the name, the
/// log file and state.json with status "created".
fn record_created(state_dir: &Path, name: Option<&str>, template: State) -> anyhow::Result<String> {
    let id = crate::sys::new_id()?;
    let dir = crate::runtime::container_dir::ContainerDir::create(state_dir, &id)?;
    let name = name
        .map(|n| n.trim_start_matches('/'))
        .filter(|n| !n.is_empty());
    // Unnamed, it gets a generated `adjective_surname`, as docker names it.
    let name = dir.settle_named(true, name, true).map_err(|err| {
        let text = format!("{err:#}");
        match text.contains("in use") || text.contains("already") {
            true => anyhow::anyhow!(
                "Conflict. The container name \"/{}\" is already in use: {text}",
                name.unwrap_or("")
            ),
            false => err,
        }
    })?;
    let log = crate::lifecycle::logs::log_path(dir.path(), &id);
    std::fs::File::create(&log).with_context(|| format!("create {}", log.display()))?;
    state::update(dir.path(), |s| {
        *s = State {
            id: id.clone(),
            name: name.clone(),
            hostname: crate::sys::short_id(&id).to_string(),
            created: state::now(),
            status: Status::Created,
            ..template
        }
    })?;
    Ok(id)
}

/// docker's words for a start that failed, which its CLI turns into 127
/// ("executable file not found") or 126 ("permission denied").
fn start_error(err: anyhow::Error) -> ApiError {
    let code = err.downcast_ref::<ExitError>().map(|e| e.code);
    let mut message = format!("{err:#}");
    match code {
        Some(127) if !message.contains("not found") && !message.contains("no such file") => {
            message.push_str(": executable file not found in $PATH")
        }
        Some(127) if !message.contains("executable file not found") => {
            message.push_str(" (executable file not found)")
        }
        Some(126) if !message.contains("permission denied") => {
            message.push_str(": permission denied")
        }
        _ => {}
    }
    ApiError::bad_request(format!("failed to start the container: {message}"))
}

/// `POST /containers/ID/start`: the shim, as `mini-docker start` starts it.
pub async fn start(daemon: Arc<Daemon>, name: &str) -> Reply {
    let name = name.to_string();
    let started: anyhow::Result<bool> = tokio::task::spawn_blocking(move || {
        let (id, s) = resolve(&daemon, &name)?;
        if s.is_running() {
            return Ok(false);
        }
        commands::start_one(&daemon.state_dir, &id)?;
        // Its address is known now: the network's members learn it.
        if let Some(endpoint) = &s.endpoint {
            super::networks::refresh_hosts(&daemon.state_dir, &endpoint.network);
        }
        Ok(true)
    })
    .await
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    match started {
        Ok(true) => empty(StatusCode::NO_CONTENT),
        Ok(false) => empty(StatusCode::NOT_MODIFIED),
        Err(err) if format!("{err}").starts_with("No such container") => Err(err.into()),
        Err(err) => Err(start_error(err)),
    }
}

fn seconds(query: &Query) -> u64 {
    query.get("t").and_then(|t| t.parse().ok()).unwrap_or(10)
}

pub async fn stop(daemon: Arc<Daemon>, name: &str, query: &Query) -> Reply {
    let (name, secs) = (name.to_string(), seconds(query));
    let stopped = blocking(move || {
        let (id, s) = resolve(&daemon, &name)?;
        if !s.is_running() {
            return Ok(false);
        }
        commands::stop_one(&daemon.state_dir, &id, Duration::from_secs(secs))?;
        Ok(true)
    })
    .await?;
    empty(if stopped {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_MODIFIED
    })
}

pub async fn restart(daemon: Arc<Daemon>, name: &str, query: &Query) -> Reply {
    let (name, secs) = (name.to_string(), seconds(query));
    blocking(move || {
        let (id, s) = resolve(&daemon, &name)?;
        commands::stop_one(&daemon.state_dir, &id, Duration::from_secs(secs))?;
        commands::start_one(&daemon.state_dir, &id)?;
        if let Some(endpoint) = &s.endpoint {
            super::networks::refresh_hosts(&daemon.state_dir, &endpoint.network);
        }
        Ok(())
    })
    .await?;
    empty(StatusCode::NO_CONTENT)
}

pub async fn kill(daemon: Arc<Daemon>, name: &str, query: &Query) -> Reply {
    let name = name.to_string();
    let signal = commands::parse_signal(query.get("signal").unwrap_or("KILL"))
        .map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    blocking(move || {
        let (id, s) = resolve(&daemon, &name)?;
        if !s.container_alive() {
            bail!("cannot kill container: {name}: container {id} is not running");
        }
        commands::signal(&s, signal)
    })
    .await
    .map_err(ApiError::when(&["is not running"], StatusCode::CONFLICT))?;
    empty(StatusCode::NO_CONTENT)
}

pub async fn remove(daemon: Arc<Daemon>, name: &str, query: &Query) -> Reply {
    let (name, force) = (name.to_string(), query.flag("force"));
    blocking(move || {
        let (id, _) = resolve(&daemon, &name)?;
        commands::rm_one(&daemon.state_dir, &name, &id, force)
    })
    .await
    .map_err(ApiError::when(
        &["container is running"],
        StatusCode::CONFLICT,
    ))?;
    empty(StatusCode::NO_CONTENT)
}

pub async fn prune(daemon: Arc<Daemon>) -> Reply {
    let deleted = blocking(move || {
        let mut deleted = Vec::new();
        for s in state::list(&daemon.state_dir)
            .into_iter()
            .filter(|s| !s.is_running())
        {
            if commands::rm_one(&daemon.state_dir, &s.id, &s.id, false).is_ok() {
                deleted.push(s.id);
            }
        }
        Ok(deleted)
    })
    .await?;
    json_reply(
        StatusCode::OK,
        &json!({"ContainersDeleted": deleted, "SpaceReclaimed": 0}),
    )
}

/// When a wait that began while the container was `before` is over.
fn wait_is_over(condition: &str, before: &State, now: Option<&State>) -> bool {
    let Some(now) = now else {
        return true; // removed: every condition is met
    };
    let ended = now.effective() == Status::Exited;
    match condition {
        "removed" => false,
        "not-running" => now.effective() != Status::Running,
        // next-exit: an exit after the wait began (a start since, or it ran then).
        _ => ended && (before.status == Status::Running || now.started != before.started),
    }
}

/// `POST /containers/ID/wait?condition=next-exit|not-running|removed`: the
/// headers go out at once (the CLI starts the container only then), the
/// status when the condition holds. The state directory is watched with
/// inotify: a `--rm` container's record lives for milliseconds after its
/// exit, and its exit code must be read in that window.
pub async fn wait(daemon: Arc<Daemon>, name: &str, query: &Query) -> Reply {
    let condition = match query.get("condition") {
        None | Some("") => "not-running".to_string(),
        Some(c) => c.to_string(),
    };
    if !matches!(condition.as_str(), "not-running" | "next-exit" | "removed") {
        return Err(ApiError::bad_request(format!(
            "invalid condition: {condition:?}"
        )));
    }
    let (id, before) = {
        let (daemon, name) = (daemon.clone(), name.to_string());
        blocking(move || resolve(&daemon, &name)).await?
    };
    let before = super::streams::as_it_was(before);
    let (tx, body) = channel_body();
    let dir = container_dir(&daemon.state_dir, &id);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<i32>();
    std::thread::spawn(move || {
        let code = watch_until(&dir, &condition, &before);
        let _ = done_tx.send(code);
    });
    tokio::spawn(async move {
        tokio::select! {
            code = done_rx => {
                let code = code.unwrap_or(137);
                let _ = tx.send(bytes::Bytes::from(json!({"StatusCode": code, "Error": null}).to_string() + "\n")).await;
            }
            _ = tx.closed() => {}
        }
    });
    Ok(hyper::Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "application/json")
        .body(body)
        .expect("a valid response"))
}

/// Block until `condition` holds for the container in `dir`; its exit code.
fn watch_until(dir: &Path, condition: &str, before: &State) -> i32 {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).ok();
    if let Some(inotify) = &inotify {
        let _ = inotify.add_watch(
            dir,
            AddWatchFlags::IN_MOVED_TO
                | AddWatchFlags::IN_DELETE_SELF
                | AddWatchFlags::IN_CLOSE_WRITE,
        );
    }
    let mut last_code = before.exit_code.unwrap_or(0);
    loop {
        let now = state::read(dir).ok();
        if let Some(s) = &now {
            if s.effective() == Status::Exited {
                last_code = s.effective_exit_code();
            }
        }
        if wait_is_over(condition, before, now.as_ref()) {
            return last_code;
        }
        match &inotify {
            Some(inotify) => {
                let fd = std::os::fd::AsFd::as_fd(inotify);
                let mut poll = libc::pollfd {
                    fd: std::os::fd::AsRawFd::as_raw_fd(&fd),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd, for at most 100 ms.
                unsafe { libc::poll(&mut poll, 1, 100) };
                let _ = inotify.read_events();
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// `POST /containers/ID/resize?h=&w=`: the container's terminal is PID 1's
/// fd 0 (a pty slave in its devpts); TIOCSWINSZ on it also sends SIGWINCH.
pub async fn resize(daemon: Arc<Daemon>, name: &str, query: &Query) -> Reply {
    let (rows, cols) = size(query)?;
    let name = name.to_string();
    blocking(move || {
        let (id, s) = resolve(&daemon, &name)?;
        if !s.container_alive() {
            bail!("container {id} is not running");
        }
        set_window_size(&format!("/proc/{}/fd/0", s.pid), rows, cols)
    })
    .await?;
    empty(StatusCode::OK)
}

pub fn size(query: &Query) -> Result<(u16, u16), ApiError> {
    let number = |key| query.get(key).and_then(|v| v.parse::<u16>().ok());
    match (number("h"), number("w")) {
        (Some(h), Some(w)) => Ok((h, w)),
        _ => Err(ApiError::bad_request(
            "resize needs h and w (rows and columns)",
        )),
    }
}

pub fn set_window_size(tty: &str, rows: u16, cols: u16) -> anyhow::Result<()> {
    use std::os::fd::AsRawFd;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(tty)
        .with_context(|| format!("open {tty}"))?;
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: the fd is open for the call; TIOCSWINSZ reads one winsize.
    if unsafe { libc::ioctl(file.as_raw_fd(), libc::TIOCSWINSZ, &size) } != 0 {
        bail!("resize {tty}: not a terminal (the container has no -t)");
    }
    Ok(())
}
/// `Up 3 seconds` ... and the ports, as docker's list has them.
fn ports(s: &State) -> Vec<Value> {
    s.ports
        .iter()
        .filter_map(|p| {
            let (host, ctr) = p.split_once("->")?;
            let (ip, public) = host.rsplit_once(':')?;
            let (private, kind) = ctr.split_once('/').unwrap_or((ctr, "tcp"));
            Some(json!({"IP": ip, "PublicPort": public.parse::<u16>().ok()?,
                        "PrivatePort": private.parse::<u16>().ok()?, "Type": kind}))
        })
        .collect()
}

fn summary(s: &State) -> Value {
    json!({
        "Id": s.id,
        "Names": [format!("/{}", s.name.as_deref().unwrap_or(&s.id))],
        "Image": s.image,
        "ImageID": "",
        "Command": s.command.join(" "),
        "Created": s.created / 1_000_000_000,
        "Ports": ports(s),
        "Labels": s.labels,
        "State": s.effective().as_str(),
        "Status": commands::status_column(s),
        "HostConfig": {"NetworkMode": s.endpoint.as_ref().map_or("default", |e| e.network.as_str())},
        "NetworkSettings": {"Networks": networks_json(s)},
        "Mounts": [],
    })
}

/// A filter's values: docker sends {"name": ["web"]} (1.22+) or {"name": {"web": true}}.
pub fn filter_values(wanted: &Value) -> Vec<String> {
    match wanted {
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        Value::Object(o) => o.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// `label=KEY` (present) or `label=KEY=VALUE` (equal) against a labels object.
pub fn label_matches(labels: &Value, wanted: &str) -> bool {
    match wanted.split_once('=') {
        Some((key, value)) => labels[key].as_str() == Some(value),
        None => labels.get(wanted).is_some(),
    }
}

/// The `filters` query parameter, as JSON (absent: no filter).
pub fn parse_filters(query: &Query) -> Result<Value, ApiError> {
    match query.get("filters") {
        Some(text) if !text.is_empty() => serde_json::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("invalid filters: {e}"))),
        _ => Ok(Value::Null),
    }
}

/// `filters={"status":["running"],"name":["web"],"id":["ab12"],"label":["k=v"]}`:
/// every key must match, any of a key's values.
fn matches(s: &State, filters: &Value) -> bool {
    filters_match(filters, &json!(s.labels), |key, v| match key {
        "status" => s.effective().as_str() == v,
        "name" => s
            .name
            .as_deref()
            .is_some_and(|n| n.contains(v.trim_start_matches('/'))),
        "id" => s.id.starts_with(v),
        "ancestor" => s.image == v,
        "network" => s.endpoint.as_ref().is_some_and(|e| e.network == v),
        _ => false, // a filter we do not know matches nothing, never everything
    })
}

/// docker's filter rule, for containers and networks alike: every key must
/// match, any one of its values (`field(key, value)`), except `label`, whose
/// values narrow: every one must match `labels`.
pub fn filters_match(filters: &Value, labels: &Value, field: impl Fn(&str, &str) -> bool) -> bool {
    let Some(filters) = filters.as_object() else {
        return true;
    };
    filters.iter().all(|(key, wanted)| {
        let values = filter_values(wanted);
        if key == "label" {
            return values.iter().all(|v| label_matches(labels, v));
        }
        values.iter().any(|v| field(key, v))
    })
}

pub async fn list(daemon: &Daemon, query: &Query) -> Reply {
    let all = query.flag("all");
    let filters = parse_filters(query)?;
    let state_dir = daemon.state_dir.clone();
    let shown = blocking(move || Ok(state::list(&state_dir))).await?;
    let list: Vec<Value> = shown
        .iter()
        .rev()
        .filter(|s| all || s.is_running() || filters.get("status").is_some())
        .filter(|s| matches(s, &filters))
        .map(summary)
        .collect();
    json_reply(StatusCode::OK, &json!(list))
}

/// `GET /containers/ID/json`: `mini-docker inspect`'s object, with what the
/// CLI reads to drive a container: Config.Tty and OpenStdin (logs and
/// attach demultiplex only without a TTY), HostConfig.
pub async fn inspect(daemon: &Arc<Daemon>, name: &str) -> Reply {
    let (daemon, name) = (daemon.clone(), name.to_string());
    let s = blocking(move || resolve(&daemon, &name).map(|(_, s)| s)).await?;
    json_reply(StatusCode::OK, &inspect_json(&s))
}

pub fn inspect_json(s: &State) -> Value {
    let mut value = commands::container_json(s);
    let run = run_flags(s);
    let tty = run.as_ref().is_some_and(|r| r.image_opts.tty);
    let stdin = run.as_ref().is_some_and(|r| r.image_opts.interactive);
    let config = &mut value["Config"];
    config["Tty"] = json!(tty);
    config["OpenStdin"] = json!(stdin);
    config["StdinOnce"] = json!(stdin);
    config["AttachStdin"] = json!(stdin);
    config["AttachStdout"] = json!(true);
    config["AttachStderr"] = json!(true);
    config["Labels"] = json!(s.labels);
    let network = match &s.endpoint {
        Some(endpoint) => endpoint.network.clone(),
        None => run
            .as_ref()
            .and_then(|r| r.opts.network.map(|n| format!("{n:?}").to_lowercase()))
            .unwrap_or_else(|| "bridge".into()),
    };
    value["NetworkSettings"]["Networks"] = networks_json(s);
    let host = &mut value["HostConfig"];
    host["NetworkMode"] = json!(network);
    host["Privileged"] = json!(run.as_ref().is_some_and(|r| r.opts.security.privileged));
    host["ReadonlyRootfs"] = json!(run.as_ref().is_some_and(|r| r.opts.security.read_only));
    host["Memory"] = json!(run
        .as_ref()
        .and_then(|r| r.opts.memory.map(|m| m.0))
        .unwrap_or(0));
    host["PidsLimit"] = json!(run.as_ref().and_then(|r| r.opts.pids_limit));
    host["RestartPolicy"] = json!({"Name": "no", "MaximumRetryCount": 0});
    host["LogConfig"] = json!({"Type": "json-file", "Config": {}});
    value["RestartCount"] = json!(0);
    value["Driver"] = json!("overlay2");
    value["Platform"] = json!("linux");
    value["State"]["Error"] = json!("");
    value
}

/// `NetworkSettings.Networks`: the user-defined network a container is on,
/// with its aliases (the short id among them: compose 1.29 takes a
/// container whose aliases lack it for one to connect again).
fn networks_json(s: &State) -> Value {
    let Some(endpoint) = &s.endpoint else {
        return json!({});
    };
    let ip = match s.is_running() {
        true => s.ip_address.clone().unwrap_or_default(),
        false => String::new(),
    };
    let mut aliases = endpoint.aliases.clone();
    aliases.push(crate::sys::short_id(&s.id).to_string());
    json!({ endpoint.network.clone(): {
        "Aliases": aliases, "NetworkID": endpoint.network, "EndpointID": "",
        "IPAddress": ip, "IPPrefixLen": 16, "Gateway": "", "MacAddress": "",
        "IPAMConfig": null, "Links": null,
    }})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_exit_waits_for_an_exit_after_the_wait_began() {
        let created = State {
            status: Status::Created,
            ..State::default()
        };
        let exited_old = State {
            status: Status::Exited,
            started: 5,
            ..State::default()
        };
        let exited_new = State {
            status: Status::Exited,
            started: 9,
            ..State::default()
        };
        assert!(!wait_is_over("next-exit", &created, Some(&created)));
        assert!(wait_is_over("next-exit", &created, Some(&exited_new)));
        assert!(!wait_is_over("next-exit", &exited_old, Some(&exited_old)));
        assert!(wait_is_over("not-running", &created, Some(&created)));
        assert!(!wait_is_over("removed", &created, Some(&exited_new)));
        assert!(wait_is_over("removed", &created, None));
    }

    #[test]
    fn filters_match_by_name_status_and_id() {
        let s = State {
            id: "abc123".into(),
            name: Some("web".into()),
            status: Status::Created,
            ..State::default()
        };
        assert!(matches(&s, &json!({"name": ["web"]})));
        assert!(matches(&s, &json!({"status": ["created"], "id": ["abc"]})));
        assert!(!matches(&s, &json!({"status": ["running"]})));
        assert!(!matches(&s, &json!({"label": ["x=y"]})));
    }

    #[test]
    fn label_filters_match_keys_and_values() {
        let s = State {
            labels: [("com.docker.compose.project".to_string(), "p".to_string())].into(),
            ..State::default()
        };
        assert!(matches(
            &s,
            &json!({"label": ["com.docker.compose.project=p"]})
        ));
        assert!(matches(
            &s,
            &json!({"label": ["com.docker.compose.project"]})
        ));
        assert!(!matches(
            &s,
            &json!({"label": ["com.docker.compose.project=q"]})
        ));
        // compose asks for its project's containers that are not one-offs.
        assert!(!matches(
            &s,
            &json!({"label": ["com.docker.compose.project=p", "com.docker.compose.oneoff=False"]})
        ));
    }
}
