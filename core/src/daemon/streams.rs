//! The container's output as docker streams it: `GET /containers/ID/logs`
//! and the hijacked `POST /containers/ID/attach`.
//!
//! Without a TTY, stdout and stderr share one byte stream, so each chunk is
//! a frame: an 8-byte header — the stream (1 stdout, 2 stderr), three zero
//! bytes, the payload's length as a big-endian u32 — then the payload. With
//! a TTY there is one stream (a terminal has one output) and the bytes go
//! raw. Both read the json-file log the shim writes (lifecycle/logs.rs).
//!
//! Attach upgrades the connection (`Connection: Upgrade`, `Upgrade: tcp`,
//! answered `101 UPGRADED`): from then on it is a plain byte pipe, both ways
//! — the container's output to the client, the client's keystrokes to the
//! shim's attach socket (lifecycle/attach.rs).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::Sender;

use super::{channel_body, ApiError, Daemon, Query, Reply};
use crate::lifecycle::logs::{log_path, Record};
use crate::lifecycle::state::{self, container_dir, State, Status};
use crate::workshop::Steps;

/// What a stream carries and how: the streams asked for, framed or raw.
#[derive(Clone, Copy)]
struct Framing {
    tty: bool,
    stdout: bool,
    stderr: bool,
    timestamps: bool,
    steps: Steps,
}

impl Framing {
    /// One log record as bytes on the wire (None: a stream not asked for).
    fn encode(&self, record: &Record) -> Option<Bytes> {
        let stream: u8 = if record.stream == "stderr" { 2 } else { 1 };
        if (stream == 1 && !self.stdout) || (stream == 2 && !self.stderr) {
            return None;
        }
        let mut payload = Vec::new();
        if self.timestamps {
            payload.extend_from_slice(record.time.as_bytes());
            payload.push(b' ');
        }
        payload.extend_from_slice(record.log.as_bytes());
        if self.tty {
            return Some(Bytes::from(payload));
        }
        let mut framed = self
            .steps
            .ch14_daemon
            .frame_header(stream, payload.len())
            .to_vec();
        framed.extend_from_slice(&payload);
        Some(Bytes::from(framed))
    }
}

/// The learner's frame_header, tried once before a stream starts: a
/// todo!() is an error response, not a connection cut mid-stream.
fn check_framing(framing: &Framing) -> Result<(), ApiError> {
    if framing.tty {
        return Ok(());
    }
    super::step("frame_header", || {
        framing.steps.ch14_daemon.frame_header(1, 0)
    })
    .map(|_| ())
}

/// The log file from `offset` on, sent as records arrive, until the
/// container has ended (after it started, if it had not yet) and the file
/// is read to its end. The file is opened once: a `--rm` container's
/// directory may go before we read its last lines.
fn follow(
    dir: PathBuf,
    path: PathBuf,
    mut file: Option<File>,
    offset: u64,
    before: State,
    framing: Framing,
    tx: Sender<Bytes>,
) {
    let before = as_it_was(before);
    let mut reader = file.take().map(BufReader::new);
    if let Some(r) = reader.as_mut() {
        let _ = r.seek(SeekFrom::Start(offset));
    }
    let mut pending = String::new();
    loop {
        if tx.is_closed() {
            return; // the client left
        }
        if reader.is_none() {
            reader = File::open(&path).ok().map(BufReader::new);
        }
        let progressed = match reader.as_mut() {
            Some(r) => match send_whole_records(r, &mut pending, &framing, &tx) {
                Some(progressed) => progressed,
                None => return, // the client left
            },
            None => false,
        };
        if !progressed && ended(&dir, &before) {
            // One last look: the shim drains its log before recording the exit.
            if let Some(r) = reader.as_mut() {
                if r.read_line(&mut pending).unwrap_or(0) > 0 {
                    continue;
                }
            }
            return;
        }
        if !progressed {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Send the whole records the log has past `reader`'s position (half a
/// line waits in `pending`); whether anything was read, None if the client left.
fn send_whole_records(
    reader: &mut BufReader<File>,
    pending: &mut String,
    framing: &Framing,
    tx: &Sender<Bytes>,
) -> Option<bool> {
    let mut progressed = false;
    while let Ok(1..) = reader.read_line(pending) {
        progressed = true;
        if !pending.ends_with('\n') {
            break; // half a line: the rest comes later
        }
        if let Ok(record) = serde_json::from_str::<Record>(pending.trim_end()) {
            if let Some(bytes) = framing.encode(&record) {
                tx.blocking_send(bytes).ok()?;
            }
        }
        pending.clear();
    }
    Some(progressed)
}

/// `s` with the status it had when read (`effective()` asks about now:
/// by the time we compare, its keeper may be gone).
pub fn as_it_was(mut s: State) -> State {
    s.status = s.effective();
    s
}

/// The container has run since `before` and is no longer running (or is gone).
fn ended(dir: &Path, before: &State) -> bool {
    let Ok(now) = state::read(dir) else {
        return true;
    };
    let ran_since = before.status == Status::Running || now.started != before.started;
    now.effective() != Status::Running && now.status != Status::Created && ran_since
}

fn framing_for(daemon: &Daemon, s: &State, query: &Query) -> Framing {
    let tty = super::containers::run_flags(s).is_some_and(|r| r.image_opts.tty);
    Framing {
        tty,
        stdout: query.flag("stdout"),
        stderr: query.flag("stderr"),
        timestamps: query.flag("timestamps"),
        steps: daemon.steps,
    }
}

fn resolve(daemon: &Daemon, name: &str) -> Result<(String, State), ApiError> {
    let id = state::resolve(&daemon.state_dir, name)
        .map_err(|_| ApiError::not_found(format!("No such container: {name}")))?;
    let s = state::read(&container_dir(&daemon.state_dir, &id))
        .map_err(|_| ApiError::not_found(format!("No such container: {name}")))?;
    Ok((id, s))
}

fn content_type(tty: bool) -> &'static str {
    match tty {
        true => "application/vnd.docker.raw-stream",
        false => "application/vnd.docker.multiplexed-stream",
    }
}

/// `GET /containers/ID/logs?stdout=1&stderr=1&follow=1&tail=N&timestamps=1`
pub async fn logs(daemon: Arc<Daemon>, name: &str, query: &Query) -> Reply {
    let (id, s) = resolve(&daemon, name)?;
    let framing = framing_for(&daemon, &s, query);
    check_framing(&framing)?;
    let dir = container_dir(&daemon.state_dir, &id);
    let path = log_path(&dir, &id);
    let tail = query.get("tail").and_then(|t| t.parse::<usize>().ok());
    let follow_on = query.flag("follow");
    let (tx, body) = channel_body();
    std::thread::spawn(move || {
        let offset = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let records: Vec<Record> = File::open(&path)
            .map(|f| {
                BufReader::new(f.take(offset))
                    .lines()
                    .map_while(|l| l.ok())
                    .filter_map(|l| serde_json::from_str(&l).ok())
                    .collect()
            })
            .unwrap_or_default();
        let skip = tail.map_or(0, |n| records.len().saturating_sub(n));
        for record in &records[skip..] {
            if let Some(bytes) = framing.encode(record) {
                if tx.blocking_send(bytes).is_err() {
                    return;
                }
            }
        }
        if follow_on && s.is_running() {
            let file = File::open(&path).ok();
            follow(dir, path, file, offset, s, framing, tx);
        }
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", content_type(framing.tty))
        .body(body)
        .expect("a valid response"))
}

/// `POST /containers/ID/attach?stream=1&stdin=1&stdout=1&stderr=1`: the
/// hijacked connection. Output from where the log is now (the whole log for
/// a container not started yet); stdin to the shim's attach socket once the
/// shim is there. Without `Upgrade: tcp` (curl) the output is the response body.
pub async fn attach(
    daemon: Arc<Daemon>,
    name: &str,
    query: &Query,
    mut req: Request<Incoming>,
) -> Reply {
    let (id, s) = resolve(&daemon, name)?;
    let framing = framing_for(&daemon, &s, query);
    check_framing(&framing)?;
    let dir = container_dir(&daemon.state_dir, &id);
    let path = log_path(&dir, &id);
    let file = File::open(&path).ok();
    let offset = match s.status {
        Status::Created => 0,
        _ => file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map_or(0, |m| m.len()),
    };
    let (tx, mut output) = tokio::sync::mpsc::channel::<Bytes>(64);
    {
        let (dir, s) = (dir.clone(), s.clone());
        std::thread::spawn(move || follow(dir, path, file, offset, s, framing, tx));
    }
    let s = s.clone();
    let wants_stdin = query.flag("stdin") && query.flag("stream");
    let upgrade = req
        .headers()
        .get(hyper::header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"tcp"));
    if !upgrade {
        let (body_tx, body) = channel_body();
        tokio::spawn(async move {
            while let Some(bytes) = output.recv().await {
                if body_tx.send(bytes).await.is_err() {
                    return;
                }
            }
        });
        return Ok(Response::builder()
            .status(StatusCode::OK)
            .header("Content-Type", content_type(framing.tty))
            .body(body)
            .expect("a valid response"));
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let (mut from_client, mut to_client) = tokio::io::split(TokioIo::new(upgraded));
        if wants_stdin {
            let s = as_it_was(s);
            tokio::spawn(async move { relay_stdin(&dir, &s, &mut from_client).await });
        }
        while let Some(bytes) = output.recv().await {
            if to_client.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = to_client.flush().await;
        let _ = to_client.shutdown().await;
    });
    Ok(Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(hyper::header::CONNECTION, "Upgrade")
        .header(hyper::header::UPGRADE, "tcp")
        .header("Content-Type", content_type(framing.tty))
        .body(super::full(Bytes::new()))
        .expect("a valid response"))
}

/// The client's bytes into the shim's attach socket, which exists once the
/// shim runs (attach comes before start); the client's EOF is the container's.
async fn relay_stdin(
    dir: &Path,
    before: &State,
    from_client: &mut (impl tokio::io::AsyncRead + Unpin),
) {
    let mut shim = loop {
        let connected = match crate::lifecycle::attach::short_socket_path(dir) {
            Ok((_dir_fd, socket)) => tokio::net::UnixStream::connect(&socket).await,
            Err(err) => Err(err),
        };
        match connected {
            Ok(stream) => break stream,
            Err(_) if ended(dir, before) => return,
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    let mut buf = vec![0u8; 8192];
    loop {
        let got = from_client.read(&mut buf).await;
        match got {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if shim.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = shim.shutdown().await;
}
