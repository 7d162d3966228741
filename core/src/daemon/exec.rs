//! `POST /containers/ID/exec`, `POST /exec/ID/start` (hijacked like attach),
//! `POST /exec/ID/resize`, `GET /exec/ID/json`.
//!
//! The exec itself is chapter 12's: a re-executed `mini-docker exec [-i]
//! [-t] CONTAINER CMD` (exec.rs forks to enter the container's namespaces,
//! which a multi-threaded daemon must not do). With `Tty` it runs on a pty
//! the daemon holds the master of; without, on pipes whose output the daemon
//! frames. An exec instance lives in memory from create to a while after its
//! exit (docker keeps them the same way): the CLI reads its exit code.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Stdio;
use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::{json_body, json_reply, ApiError, Daemon, Query, Reply};
use crate::lifecycle::state;

#[derive(Clone, Default)]
pub struct ExecRecord {
    container: String,
    cmd: Vec<String>,
    tty: bool,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    env: Vec<String>,
    workdir: Option<String>,
    user: Option<String>,
    running: bool,
    exit_code: Option<i32>,
    pid: u32,
    /// The pty's master (with Tty), for resize.
    master: Option<Arc<OwnedFd>>,
    /// When it ended: kept a while for `exec inspect`, then forgotten.
    ended: Option<std::time::Instant>,
}

/// How long an ended exec stays inspectable (the CLI asks at once).
const KEEP_ENDED: std::time::Duration = std::time::Duration::from_secs(300);

fn text(value: &Value) -> Option<String> {
    value.as_str().filter(|s| !s.is_empty()).map(String::from)
}

fn list(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

pub async fn create(daemon: Arc<Daemon>, name: &str, body: Value) -> Reply {
    let id = state::resolve(&daemon.state_dir, name)
        .map_err(|_| ApiError::not_found(format!("No such container: {name}")))?;
    let s = state::read(&state::container_dir(&daemon.state_dir, &id))
        .map_err(|_| ApiError::not_found(format!("No such container: {name}")))?;
    if !s.container_alive() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Container {id} is not running"),
        ));
    }
    let cmd = list(&body["Cmd"]);
    if cmd.is_empty() {
        return Err(ApiError::bad_request("No exec command specified"));
    }
    if body["Privileged"].as_bool() == Some(true) {
        return Err(ApiError::not_implemented(
            "exec --privileged is not supported by mini-docker",
        ));
    }
    let record = ExecRecord {
        container: id,
        cmd,
        tty: body["Tty"].as_bool() == Some(true),
        stdin: body["AttachStdin"].as_bool() == Some(true),
        stdout: body["AttachStdout"].as_bool() != Some(false),
        stderr: body["AttachStderr"].as_bool() != Some(false),
        env: list(&body["Env"]),
        workdir: text(&body["WorkingDir"]),
        user: text(&body["User"]),
        ..ExecRecord::default()
    };
    let exec_id = crate::sys::random_hex(32).map_err(ApiError::from)?;
    let mut execs = daemon.execs.lock().expect("exec table");
    execs.retain(|_, e| e.ended.is_none_or(|at| at.elapsed() < KEEP_ENDED));
    execs.insert(exec_id.clone(), record);
    drop(execs);
    json_reply(StatusCode::CREATED, &json!({ "Id": exec_id }))
}

fn record(daemon: &Daemon, id: &str) -> Result<ExecRecord, ApiError> {
    daemon
        .execs
        .lock()
        .expect("exec table")
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {id}")))
}

fn update(daemon: &Daemon, id: &str, change: impl FnOnce(&mut ExecRecord)) {
    if let Some(r) = daemon.execs.lock().expect("exec table").get_mut(id) {
        change(r);
    }
}

/// `mini-docker exec` with this instance's flags.
fn command(daemon: &Daemon, r: &ExecRecord, detach: bool) -> std::process::Command {
    let mut command = daemon.command();
    command.arg("exec");
    if r.stdin {
        command.arg("-i");
    }
    if r.tty {
        command.arg("-t");
    }
    if detach {
        command.arg("-d");
    }
    for env in &r.env {
        command.arg("-e").arg(env);
    }
    if let Some(dir) = &r.workdir {
        command.arg("-w").arg(dir);
    }
    if let Some(user) = &r.user {
        command.arg("-u").arg(user);
    }
    command.arg(&r.container).args(&r.cmd);
    command
}

/// `POST /exec/ID/start {"Detach": false, "Tty": true}`
pub async fn start(daemon: Arc<Daemon>, id: &str, mut req: Request<Incoming>) -> Reply {
    let r = record(&daemon, id)?;
    if r.running || r.exit_code.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("exec {id} has already run"),
        ));
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    let body = json_body(req).await?;
    if body["Detach"].as_bool() == Some(true) {
        let mut child = command(&daemon, &r, true);
        child
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let out = super::blocking(move || Ok(child.output()?)).await?;
        let code = out.status.code().unwrap_or(125);
        update(&daemon, id, |r| r.exit_code = (code != 0).then_some(code));
        if code != 0 {
            let message = String::from_utf8_lossy(&out.stderr)
                .trim()
                .trim_start_matches("mini-docker: ")
                .to_string();
            return Err(ApiError::bad_request(message));
        }
        return super::empty(StatusCode::OK);
    }
    let framing = if r.tty { None } else { Some(daemon.steps) };
    if let Some(steps) = &framing {
        super::step("frame_header", || steps.ch14_daemon.frame_header(1, 0))?;
    }
    let spawned = match r.tty {
        true => spawn_on_pty(&daemon, &r),
        false => spawn_on_pipes(&daemon, &r),
    }
    .map_err(ApiError::from)?;
    let (pid, master) = (spawned.child.id(), spawned.master.clone());
    update(&daemon, id, |r| {
        r.running = true;
        r.pid = pid;
        r.master = master;
    });
    let (daemon2, id2) = (daemon.clone(), id.to_string());
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let (from_client, to_client) = tokio::io::split(TokioIo::new(upgraded));
        let code = relay(spawned, from_client, to_client, framing).await;
        update(&daemon2, &id2, |r| {
            r.running = false;
            r.exit_code = Some(code);
            r.master = None;
            r.ended = Some(std::time::Instant::now());
        });
    });
    Ok(Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(hyper::header::CONNECTION, "Upgrade")
        .header(hyper::header::UPGRADE, "tcp")
        .header(
            "Content-Type",
            match r.tty {
                true => "application/vnd.docker.raw-stream",
                false => "application/vnd.docker.multiplexed-stream",
            },
        )
        .body(super::full(Bytes::new()))
        .expect("a valid response"))
}

/// The exec client, running, and its stdio as plain files: blocking reads
/// and writes on threads of their own (tokio's process and signal support
/// stay out of this binary: their process-wide state would outlive the fds
/// a container's init closes).
struct Spawned {
    child: std::process::Child,
    master: Option<Arc<OwnedFd>>,
    /// Where the command's output comes from: (stream number, reader).
    outputs: Vec<(u8, Box<dyn Read + Send>)>,
    input: Option<Box<dyn Write + Send>>,
}

fn spawn_on_pipes(daemon: &Daemon, r: &ExecRecord) -> anyhow::Result<Spawned> {
    let mut command = command(daemon, r, false);
    command
        .stdin(if r.stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn()?;
    let mut outputs: Vec<(u8, Box<dyn Read + Send>)> = Vec::new();
    if let Some(out) = child.stdout.take() {
        outputs.push((1, Box::new(out)));
    }
    if let Some(err) = child.stderr.take() {
        outputs.push((2, Box::new(err)));
    }
    let input = child
        .stdin
        .take()
        .map(|i| Box::new(i) as Box<dyn Write + Send>);
    Ok(Spawned {
        child,
        master: None,
        outputs,
        input,
    })
}

/// A pty of our own: the exec client sees a terminal (and makes it raw,
/// relaying into the container's own pty); we relay its master.
fn spawn_on_pty(daemon: &Daemon, r: &ExecRecord) -> anyhow::Result<Spawned> {
    let size = libc::winsize {
        ws_row: 24,
        ws_col: 80,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&size), None)?;
    let master = pty.master;
    let slave = pty.slave;
    let mut command = command(daemon, r, false);
    command
        .stdin(Stdio::from(slave.try_clone()?))
        .stdout(Stdio::from(slave.try_clone()?))
        .stderr(Stdio::from(slave));
    let child = command.spawn()?;
    drop(command); // our copies of the slave: the master reads EIO once the client's close
    let reader = std::fs::File::from(master.try_clone()?);
    let writer = std::fs::File::from(master.try_clone()?);
    Ok(Spawned {
        child,
        master: Some(Arc::new(master)),
        outputs: vec![(1, Box::new(reader))],
        input: r.stdin.then(|| Box::new(writer) as Box<dyn Write + Send>),
    })
}

/// Copy both ways until the command's output ends; its exit status.
async fn relay(
    mut spawned: Spawned,
    mut from_client: impl AsyncRead + Send + Unpin + 'static,
    mut to_client: impl tokio::io::AsyncWrite + Unpin,
    framing: Option<crate::workshop::Steps>,
) -> i32 {
    if let Some(mut input) = spawned.input.take() {
        let (keys, mut typed) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
        std::thread::spawn(move || {
            while let Some(bytes) = typed.blocking_recv() {
                if input.write_all(&bytes).is_err() {
                    return;
                }
            }
            // Dropped: the command's stdin ends with the client's.
        });
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            while let Ok(n @ 1..) = from_client.read(&mut buf).await {
                if keys.send(buf[..n].to_vec()).await.is_err() {
                    return;
                }
            }
        });
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(u8, Vec<u8>)>(64);
    for (stream, mut reader) in spawned.outputs.drain(..) {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 8192];
            // A pty's master reads EIO once the last slave closes: the end.
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                if tx.blocking_send((stream, buf[..n].to_vec())).is_err() {
                    return;
                }
            }
        });
    }
    drop(tx);
    while let Some((stream, bytes)) = rx.recv().await {
        let mut out = match &framing {
            Some(steps) => steps.ch14_daemon.frame_header(stream, bytes.len()).to_vec(),
            None => Vec::new(),
        };
        out.extend_from_slice(&bytes);
        if to_client.write_all(&out).await.is_err() {
            break;
        }
    }
    let mut child = spawned.child;
    let code = match tokio::task::spawn_blocking(move || child.wait()).await {
        Ok(Ok(status)) => status.code().unwrap_or_else(|| {
            128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(9)
        }),
        _ => 125,
    };
    let _ = to_client.flush().await;
    let _ = to_client.shutdown().await;
    code
}

pub fn resize(daemon: &Daemon, id: &str, query: &Query) -> Reply {
    let (rows, cols) = super::containers::size(query)?;
    let r = record(daemon, id)?;
    let Some(master) = r.master else {
        return super::empty(StatusCode::OK); // not (or no longer) on a terminal
    };
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: the master fd is open (we hold an Arc); TIOCSWINSZ reads one winsize.
    unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
    super::empty(StatusCode::OK)
}

pub fn inspect(daemon: &Daemon, id: &str) -> Reply {
    let r = record(daemon, id)?;
    let (entrypoint, arguments) = r
        .cmd
        .split_first()
        .map(|(a, b)| (a.clone(), b.to_vec()))
        .unwrap_or_default();
    json_reply(
        StatusCode::OK,
        &json!({
            "ID": id,
            "Running": r.running,
            "ExitCode": r.exit_code,
            "ProcessConfig": {"tty": r.tty, "entrypoint": entrypoint, "arguments": arguments,
                              "privileged": false, "user": r.user.clone().unwrap_or_default()},
            "OpenStdin": r.stdin,
            "OpenStdout": r.stdout,
            "OpenStderr": r.stderr,
            "CanRemove": false,
            "ContainerID": r.container,
            "DetachKeys": "",
            "Pid": r.pid,
        }),
    )
}
