//! Chapter 14 — the daemon. Each check starts `mini-docker daemon` on a
//! socket of its own and speaks HTTP to it over that unix socket itself (no
//! docker CLI, no curl: the workshop VM has busybox only), then looks at
//! what really happened: state.json, the published port, the stream's
//! bytes, the container's namespaces, `mini-docker ps`.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::fixture::{build_image, busybox_layer, Auth, Layout, Registry};
use super::{random_hex, Check, Ctx};

pub fn checks() -> Vec<Check> {
    vec![
        Check { id: "14.1", title: "the API answers like dockerd: /_ping's API-Version, /version, 201 and an Id for a create, JSON messages for 404 and 501", points: 2,
            hint: "the daemon calls publish_flags for every create (no ports: an empty list); until it returns, every create is a 501", run: api_answers },
        Check { id: "14.2", title: "HostConfig.PortBindings publish the container's port on the host address asked (state.json ports, a TCP connection)", points: 2,
            hint: "publish_flags: `-p [IP:]HOST:CONTAINER` — the host's port first, the key's protocol (\"80/tcp\") dropped, a HostIp in front", run: ports_published },
        Check { id: "14.3", title: "logs without a TTY: a multiplexed stream, each frame [stream, 0, 0, 0, length as big-endian u32] then its bytes", points: 2,
            hint: "frame_header: byte 0 the stream (1 stdout, 2 stderr), bytes 1-3 zero, bytes 4-7 the payload's length, big-endian (u32::to_be_bytes)", run: logs_framed },
        Check { id: "14.4", title: "attach is hijacked (101, Upgrade: tcp): stdin reaches the container, its output comes framed, wait reports its exit code", points: 3,
            hint: "frame_header frames the attached output; publish_flags is called by the create before it", run: attach_hijacked },
        Check { id: "14.5", title: "a container made through the API is a real one (PID, mount, net namespaces of its own) that `mini-docker ps` lists too", points: 1,
            hint: "the create must succeed first (publish_flags); the rest is chapter 12's lifecycle library", run: same_containers },
    ]
}

/// A daemon of the check's own, with a registry holding busybox; both go
/// (with every container the daemon made) when this is dropped.
struct Api {
    daemon: Child,
    socket: PathBuf,
    image: String,
    _registry: Registry,
    _layout: Layout,
}

impl Api {
    fn start(ctx: &Ctx) -> Result<Api> {
        let layout = build_image(&[busybox_layer()?], json!({}))?;
        let registry = Registry::start(Auth::Token)?;
        let repo = format!("check/api-{}:1", random_hex(3)?);
        registry.push(&layout.dir, "single", &repo, None)?;
        let image = format!("{}/{repo}", registry.address());
        let socket = std::env::temp_dir().join(format!("mini-docker-check14-{}.sock", random_hex(4)?));
        let mut command = Command::new(&ctx.exe);
        command.env_remove("MINI_DOCKER_REFERENCE").env_remove("MINI_DOCKER_STATE_DIR");
        if let Some(arg) = ctx.selection.to_arg() {
            command.arg(arg);
        }
        command
            .arg("--state-dir")
            .arg(&ctx.state_dir)
            .arg("daemon")
            .arg("--socket")
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: between fork and exec, prctl(2) only (async-signal-safe):
        // if the check dies, so does its daemon.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                match libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) {
                    0 => Ok(()),
                    _ => Err(std::io::Error::last_os_error()),
                }
            });
        }
        let daemon = command.spawn().context("start mini-docker daemon")?;
        let mut api = Api { daemon, socket, image, _registry: registry, _layout: layout };
        let deadline = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(&api.socket).is_err() {
            if Instant::now() > deadline || api.daemon.try_wait()?.is_some() {
                bail!("mini-docker daemon never listened on {}", api.socket.display());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let (status, body) = api.call("POST", &format!("/images/create?fromImage={}", api.image), None)?;
        if status != 200 || body.contains("errorDetail") {
            bail!("POST /images/create (a pull): {status} {body}");
        }
        Ok(api)
    }

    /// One request, HTTP/1.0 (the answer ends when the daemon closes).
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, String)> {
        let (status, bytes) = self.call_raw(method, path, body)?;
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }

    fn call_raw(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Vec<u8>)> {
        let mut stream = UnixStream::connect(&self.socket).context("connect to the daemon")?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = format!(
            "{method} /v1.41{path} HTTP/1.0\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes())?;
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .with_context(|| format!("{method} {path}: no complete answer in 30 s"))?;
        split_response(&answer).with_context(|| format!("{method} {path}"))
    }

    fn create(&self, body: Value) -> Result<String> {
        let (status, text) = self.call("POST", "/containers/create", Some(&body))?;
        if status != 201 {
            bail!("POST /containers/create answered {status}: {text}");
        }
        let value: Value = serde_json::from_str(&text).with_context(|| format!("create's answer {text:?}"))?;
        value["Id"].as_str().map(String::from).context("create's answer has no Id")
    }

    fn start_container(&self, id: &str) -> Result<()> {
        let (status, text) = self.call("POST", &format!("/containers/{id}/start"), None)?;
        if status != 204 {
            bail!("POST /containers/{id}/start answered {status}: {text}");
        }
        Ok(())
    }

    fn wait(&self, id: &str) -> Result<i64> {
        let (status, text) = self.call("POST", &format!("/containers/{id}/wait?condition=not-running"), None)?;
        let value: Value = serde_json::from_str(text.trim()).with_context(|| format!("wait answered {status}: {text:?}"))?;
        value["StatusCode"].as_i64().with_context(|| format!("wait's answer {text:?}"))
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        if let Ok((_, list)) = self.call("GET", "/containers/json?all=1", None) {
            let list: Value = serde_json::from_str(&list).unwrap_or_default();
            for c in list.as_array().into_iter().flatten() {
                if let Some(id) = c["Id"].as_str() {
                    let _ = self.call("DELETE", &format!("/containers/{id}?force=1"), None);
                }
            }
        }
        let _ = self.call("DELETE", &format!("/images/{}", self.image), None);
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.daemon.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.daemon.wait();
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// "HTTP/1.1 200 OK\r\n...\r\n\r\nBODY" -> (200, BODY).
fn split_response(answer: &[u8]) -> Result<(u16, Vec<u8>)> {
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers in the answer")?;
    let head = String::from_utf8_lossy(&answer[..end]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status in {head:?}"))?;
    Ok((status, answer[end + 4..].to_vec()))
}

fn api_answers(ctx: &Ctx) -> Result<()> {
    let api = Api::start(ctx)?;
    let mut stream = UnixStream::connect(&api.socket)?;
    stream.write_all(b"GET /_ping HTTP/1.0\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    if !answer.to_ascii_lowercase().contains("api-version: 1.") || !answer.ends_with("OK") {
        bail!("GET /_ping: no API-Version header or no OK: {answer:?}");
    }
    let (status, text) = api.call("GET", "/version", None)?;
    let version: Value = serde_json::from_str(&text).unwrap_or_default();
    if status != 200 || version["ApiVersion"].as_str().is_none() {
        bail!("GET /v1.41/version: {status} {text}");
    }
    let id = api.create(json!({"Image": api.image, "Cmd": ["true"], "HostConfig": {"NetworkMode": "none"}}))?;
    if id.is_empty() {
        bail!("create answered an empty Id");
    }
    let (status, text) = api.call("GET", "/no/such/endpoint", None)?;
    let message: Value = serde_json::from_str(&text).unwrap_or_default();
    if status != 404 || message["message"].as_str().is_none() {
        bail!("an unknown endpoint answered {status} {text:?}, not 404 with {{\"message\": ...}}");
    }
    let refused = json!({"Image": api.image, "HostConfig": {"RestartPolicy": {"Name": "always"}}});
    let (status, text) = api.call("POST", "/containers/create", Some(&refused))?;
    let message: Value = serde_json::from_str(&text).unwrap_or_default();
    if status != 501 || !message["message"].as_str().unwrap_or("").contains("always") {
        bail!("a restart policy answered {status} {text:?}, not 501 naming it");
    }
    Ok(())
}

fn state_of(ctx: &Ctx, id: &str) -> Result<Value> {
    let path = ctx.state_dir.join("containers").join(id).join("state.json");
    let text = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
    Ok(serde_json::from_slice(&text)?)
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn ports_published(ctx: &Ctx) -> Result<()> {
    let api = Api::start(ctx)?;
    let port = free_port()?;
    let id = api.create(json!({
        "Image": api.image,
        "Cmd": ["sh", "-c", "mkdir /www; echo published > /www/index.html; exec httpd -f -p 80 -h /www"],
        "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": port.to_string()}]}},
    }))?;
    api.start_container(&id)?;
    let ports = state_of(ctx, &id)?["ports"].clone();
    let wanted = json!([format!("127.0.0.1:{port}->80/tcp")]);
    if ports != wanted {
        bail!("state.json's ports are {ports}, not {wanted}: -p from PortBindings is not HOST:CONTAINER on the HostIp");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = fetch(port).unwrap_or_default();
        if page.contains("published") {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("127.0.0.1:{port} did not serve the container's page: {page:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn fetch(port: u16) -> Result<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
    let mut page = String::new();
    stream.read_to_string(&mut page)?;
    Ok(page)
}

/// Frames of a multiplexed stream: (stream, payload). Refuses bytes that
/// are not frames (a wrong header cannot be read back).
pub fn frames(mut bytes: &[u8]) -> Result<Vec<(u8, String)>> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < 8 || !matches!(bytes[0], 1 | 2) || bytes[1..4] != [0, 0, 0] {
            bail!("not a frame header: {:?}", &bytes[..bytes.len().min(8)]);
        }
        let len = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
        if bytes.len() < 8 + len {
            bail!("a frame says {len} bytes, {} follow: {:?}", bytes.len() - 8, &bytes[..8]);
        }
        frames.push((bytes[0], String::from_utf8_lossy(&bytes[8..8 + len]).into_owned()));
        bytes = &bytes[8 + len..];
    }
    Ok(frames)
}

fn logs_framed(ctx: &Ctx) -> Result<()> {
    let api = Api::start(ctx)?;
    let id = api.create(json!({
        "Image": api.image,
        "Cmd": ["sh", "-c", "echo out; sleep 0.1; echo error >&2; sleep 0.1; echo more"],
        "HostConfig": {"NetworkMode": "none"},
    }))?;
    api.start_container(&id)?;
    api.wait(&id)?;
    let (status, bytes) = api.call_raw("GET", &format!("/containers/{id}/logs?stdout=1&stderr=1"), None)?;
    if status != 200 {
        bail!("GET logs answered {status}: {}", String::from_utf8_lossy(&bytes));
    }
    let expected: Vec<u8> = [(1u8, "out\n"), (2, "error\n"), (1, "more\n")]
        .iter()
        .flat_map(|(stream, text)| {
            let len = (text.len() as u32).to_be_bytes();
            [*stream, 0, 0, 0, len[0], len[1], len[2], len[3]]
                .into_iter()
                .chain(text.bytes())
        })
        .collect();
    if bytes != expected {
        bail!("the logs' bytes are {bytes:?}, not {expected:?} (three frames: stdout, stderr, stdout)");
    }
    Ok(())
}

fn attach_hijacked(ctx: &Ctx) -> Result<()> {
    let api = Api::start(ctx)?;
    let id = api.create(json!({
        "Image": api.image,
        "Cmd": ["sh", "-c", "read line; echo got:$line; echo bye >&2; exit 7"],
        "OpenStdin": true, "StdinOnce": true, "AttachStdin": true, "AttachStdout": true, "AttachStderr": true,
        "HostConfig": {"NetworkMode": "none"},
    }))?;
    let mut stream = UnixStream::connect(&api.socket)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "POST /v1.41/containers/{id}/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
    )?;
    let head = read_head(&mut stream)?;
    if !head.starts_with("HTTP/1.1 101") || !head.to_ascii_lowercase().contains("upgrade: tcp") {
        bail!("attach answered {head:?}, not 101 with Upgrade: tcp");
    }
    api.start_container(&id)?;
    stream.write_all(b"hello\n")?;
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).context("read the attached stream")?;
    let got = frames(&raw)?;
    let wanted = vec![(1u8, "got:hello\n".to_string()), (2, "bye\n".to_string())];
    if got != wanted {
        bail!("the attached stream's frames are {got:?}, not {wanted:?}");
    }
    let code = api.wait(&id)?;
    if code != 7 {
        bail!("wait reported {code}, the container exited 7");
    }
    Ok(())
}

/// The response head, byte by byte up to the blank line (what follows is the stream's).
fn read_head(stream: &mut UnixStream) -> Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            bail!("the connection closed in the response head: {:?}", String::from_utf8_lossy(&head));
        }
        head.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

fn namespace(pid: &str, kind: &str) -> Result<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).with_context(|| format!("read /proc/{pid}/ns/{kind}"))
}

fn same_containers(ctx: &Ctx) -> Result<()> {
    let api = Api::start(ctx)?;
    let id = api.create(json!({"Image": api.image, "Cmd": ["sleep", "60"], "HostConfig": {"NetworkMode": "none"}}))?;
    api.start_container(&id)?;
    let (_, text) = api.call("GET", &format!("/containers/{id}/json"), None)?;
    let inspect: Value = serde_json::from_str(&text).with_context(|| format!("inspect {text:?}"))?;
    let pid = inspect["State"]["Pid"].as_i64().filter(|p| *p > 0).with_context(|| format!("no State.Pid in {text}"))?;
    for kind in ["pid", "mnt", "net"] {
        if namespace(&pid.to_string(), kind)? == namespace("self", kind)? {
            bail!("the container's PID 1 ({pid}) shares the host's {kind} namespace");
        }
    }
    let ps = Command::new(&ctx.exe)
        .arg("--state-dir")
        .arg(&ctx.state_dir)
        .args(["ps", "-q", "--no-trunc"])
        .output()?;
    let listed = String::from_utf8_lossy(&ps.stdout);
    if !listed.lines().any(|l| l.trim() == id) {
        bail!("mini-docker ps does not list {id}, which the API started: {listed:?}");
    }
    let (status, text) = api.call("DELETE", &format!("/containers/{id}?force=1"), None)?;
    if status != 204 || Path::new(&ctx.state_dir.join("containers").join(&id)).exists() {
        bail!("DELETE ?force=1 answered {status} {text} and the container's directory is {}",
            if ctx.state_dir.join("containers").join(&id).exists() { "still there" } else { "gone" });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_read_back_and_bad_headers_refused() {
        let bytes = [1, 0, 0, 0, 0, 0, 0, 3, b'h', b'i', b'\n', 2, 0, 0, 0, 0, 0, 0, 1, b'!'];
        assert_eq!(frames(&bytes).unwrap(), vec![(1, "hi\n".into()), (2, "!".into())]);
        assert!(frames(&[1, 0, 0, 0, 3, 0, 0, 0, b'h', b'i', b'\n']).is_err(), "little-endian");
        assert!(frames(&[0, 0, 0, 1, 0, 0, 0, 1, b'x']).is_err(), "stream last");
    }

    #[test]
    fn responses_split_at_the_blank_line() {
        let (status, body) = split_response(b"HTTP/1.1 404 Not Found\r\nA: b\r\n\r\n{\"message\":\"x\"}").unwrap();
        assert_eq!((status, body.as_slice()), (404, b"{\"message\":\"x\"}".as_slice()));
    }
}
