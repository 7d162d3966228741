//! Chapter 9 — pulling images. Kernel-free: a real registry on 127.0.0.1
//! (see fixture.rs), mini-docker as a black box, the store checked byte by byte.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::process::{Command, Output};

use anyhow::{bail, Context, Result};

use super::fixture::{build_layout, Auth, Registry};
use super::{random_hex, status_text, stderr_suffix, Check, Ctx};
use crate::image::store::sha256_digest;

pub fn checks() -> Vec<Check> {
    vec![
        Check { id: "9.1", title: "references resolve like docker's; a malformed one is one clear line", points: 2,
            hint: "parse_image_ref: digest after '@', tag after the last ':' not followed by '/', registry if the first part has '.' or ':' or is localhost, else docker.io (+ library/)", run: references },
        Check { id: "9.2", title: "pull through token auth: every blob in the store hashes to its name", points: 3,
            hint: "parse_challenge (scheme, then key=\"value\" pairs; a quoted value may hold ',') and token_url (realm?service=…&scope=repository:NAME:pull); authorize: a Bearer token from the realm, `token` or `access_token`", run: token_pull },
        Check { id: "9.3", title: "from an index, this host's platform by default, --platform on request, a clear error otherwise", points: 2,
            hint: "select_manifest: same os and architecture, and the variant when one is asked for (an arm64 entry without one means v8)", run: platforms },
        Check { id: "9.4", title: "basic auth: refused without credentials in one line, pulled with MINI_DOCKER_REGISTRY_AUTH", points: 1,
            hint: "authorize: a Basic challenge is answered with the credentials themselves (no token, no realm to ask), and without any, one line naming MINI_DOCKER_REGISTRY_AUTH; parse_challenge must report the scheme \"Basic\"", run: basic_auth },
        Check { id: "9.5", title: "a tampered blob is refused, naming its digest, and leaves nothing in the store", points: 2,
            hint: "the pull must get as far as the layers: resolve, authenticate and pick the manifest first", run: tampered },
        Check { id: "9.6", title: "a challenge whose keys are in another case (Realm=, SERVICE=) is understood", points: 1,
            hint: "parse_challenge: auth-param names are case-insensitive (RFC 7235): store each key lower-cased (to_ascii_lowercase), the way token_url looks them up", run: keys_in_any_case },
    ]
}

/// A state dir of its own for each pull check, removed afterwards.
struct PullState(PathBuf);

impl PullState {
    fn new(ctx: &Ctx) -> Result<PullState> {
        Ok(PullState(ctx.state_dir.join(format!("pull-check-{}", random_hex(4)?))))
    }
}

impl Drop for PullState {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn mini_docker(ctx: &Ctx, state: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Output> {
    let mut command = Command::new(&ctx.exe);
    if let Some(arg) = ctx.selection.to_arg() {
        command.arg(arg);
    }
    command
        .env_remove("MINI_DOCKER_REFERENCE")
        .env_remove("MINI_DOCKER_REGISTRY_AUTH");
    command
        .envs(env.iter().copied())
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    // A deadline: a broken exercise must fail the check in seconds, never hang it.
    super::wait_output(command.spawn().context("run mini-docker")?, TIMEOUT)
}

const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

fn references(ctx: &Ctx) -> Result<()> {
    let digest = format!("sha256:{}", "ab".repeat(32));
    let cases = [
        (
            "busybox",
            "docker.io/library/busybox:latest",
            "https://registry-1.docker.io",
        ),
        (
            "alpine:3.20",
            "docker.io/library/alpine:3.20",
            "https://registry-1.docker.io",
        ),
        (
            "someone/tool",
            "docker.io/someone/tool:latest",
            "https://registry-1.docker.io",
        ),
        (
            "ghcr.io/owner/repo:v1.2",
            "ghcr.io/owner/repo:v1.2",
            "https://ghcr.io",
        ),
        (
            "127.0.0.1:5000/busybox:latest",
            "127.0.0.1:5000/busybox:latest",
            "http://127.0.0.1:5000",
        ),
        (
            "127.0.0.1:5000/busybox",
            "127.0.0.1:5000/busybox:latest",
            "http://127.0.0.1:5000",
        ),
        (
            "localhost/tools/x",
            "localhost/tools/x:latest",
            "http://localhost",
        ),
    ];
    let state = PullState::new(ctx)?;
    let with_digest = format!("quay.io/org/app@{digest}");
    let all = cases
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), *c))
        .chain([(with_digest.clone(), with_digest.clone(), "https://quay.io")]);
    for (text, canonical, endpoint) in all {
        let o = mini_docker(ctx, &state.0, &["chapter", "9", "resolve", &text], &[])?;
        let out = String::from_utf8_lossy(&o.stdout);
        let field = |name: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
                .unwrap_or("")
                .to_string()
        };
        if field("canonical:") != canonical || field("endpoint:") != endpoint {
            bail!(
                "{text:?} resolved to {:?} at {:?}, expected {canonical:?} at {endpoint:?}{}",
                field("canonical:"),
                field("endpoint:"),
                stderr_suffix(&String::from_utf8_lossy(&o.stderr))
            );
        }
    }
    for bad in ["Busybox", "busybox:", "a//b", "x@sha256:123"] {
        let o = mini_docker(ctx, &state.0, &["chapter", "9", "resolve", bad], &[])?;
        let err = String::from_utf8_lossy(&o.stderr);
        if o.status.code() != Some(1) || err.trim().lines().count() != 1 || err.contains("panicked")
        {
            bail!("the malformed reference {bad:?} gave exit {} and {err:?}: expected exit 1 and one line", status_text(&o));
        }
    }
    Ok(())
}

/// Every blob file must hash to its own name; no partial files.
fn verify_store(state: &Path, expected: &[String]) -> Result<()> {
    let blobs = state.join("images/blobs/sha256");
    for entry in fs::read_dir(&blobs)
        .with_context(|| format!("read {}", blobs.display()))?
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            bail!("a partial download was left in the store: {name}");
        }
        let actual = sha256_digest(&fs::read(entry.path())?);
        if actual != format!("sha256:{name}") {
            bail!("blob {name} in the store hashes to {actual}");
        }
    }
    for digest in expected {
        if !blobs.join(digest.trim_start_matches("sha256:")).is_file() {
            bail!("blob {digest} of the image is not in the store");
        }
    }
    Ok(())
}

fn token_pull(ctx: &Ctx) -> Result<()> {
    let registry = Registry::start(Auth::Token)?;
    let layout = build_layout(&["linux/amd64"])?;
    registry.push(&layout.dir, "single", "check/busybox:latest", None)?;
    let state = PullState::new(ctx)?;
    let image = format!("{}/check/busybox:latest", registry.address());
    let o = mini_docker(ctx, &state.0, &["pull", &image], &[])?;
    if !o.status.success() {
        bail!(
            "pull {image} failed (exit {}){}",
            status_text(&o),
            stderr_suffix(&String::from_utf8_lossy(&o.stderr))
        );
    }
    verify_store(&state.0, &layout.first_image_blobs)?;
    let listed = mini_docker(ctx, &state.0, &["images"], &[])?;
    if !String::from_utf8_lossy(&listed.stdout).contains("check/busybox") {
        bail!("`mini-docker images` does not list the pulled image");
    }
    Ok(())
}

fn recorded_manifest(state: &Path, key: &str) -> Result<String> {
    let images: serde_json::Value =
        serde_json::from_slice(&fs::read(state.join("images/images.json"))?)?;
    Ok(images[key]["manifest_digest"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

fn platforms(ctx: &Ctx) -> Result<()> {
    let registry = Registry::start(Auth::Token)?;
    // arm/v6 before arm/v7: ignoring the variant picks the wrong one; arm64
    // without a variant: it is what linux/arm64/v8 asks for (v8 is arm64's default).
    let layout = build_layout(&["linux/amd64", "linux/arm/v6", "linux/arm/v7", "linux/arm64"])?;
    registry.push(&layout.dir, "multi", "check/multi:latest", None)?;
    let image = format!("{}/check/multi:latest", registry.address());
    let key = format!("{}/check/multi:latest", registry.address());
    for (platform, expected) in [
        (None, "linux/amd64"),
        (Some("linux/arm/v7"), "linux/arm/v7"),
        (Some("linux/arm64/v8"), "linux/arm64"),
    ] {
        let state = PullState::new(ctx)?;
        let mut args = vec!["pull", image.as_str()];
        if let Some(p) = platform {
            args.extend(["--platform", p]);
        }
        let o = mini_docker(ctx, &state.0, &args, &[])?;
        if !o.status.success() {
            bail!(
                "pull {image} {platform:?} failed{}",
                stderr_suffix(&String::from_utf8_lossy(&o.stderr))
            );
        }
        let got = recorded_manifest(&state.0, &key)?;
        if got != layout.manifests[expected] {
            bail!(
                "pulling for {expected} chose manifest {got}, not {}",
                layout.manifests[expected]
            );
        }
    }
    let state = PullState::new(ctx)?;
    let o = mini_docker(
        ctx,
        &state.0,
        &["pull", &image, "--platform", "linux/s390x"],
        &[],
    )?;
    let err = String::from_utf8_lossy(&o.stderr);
    if o.status.success() || !err.contains("linux/amd64") || !err.contains("linux/arm/v7") {
        bail!("asking for linux/s390x gave exit {} and {err:?}: expected an error naming the platforms there are", status_text(&o));
    }
    Ok(())
}

fn basic_auth(ctx: &Ctx) -> Result<()> {
    let (user, password) = ("learner", format!("pw-{}", random_hex(4)?));
    let registry = Registry::start(Auth::Htpasswd {
        user: user.into(),
        password: password.clone(),
    })?;
    let layout = build_layout(&["linux/amd64"])?;
    registry.push(&layout.dir, "single", "private/busybox:latest", None)?;
    let image = format!("{}/private/busybox:latest", registry.address());
    let state = PullState::new(ctx)?;
    let o = mini_docker(ctx, &state.0, &["pull", &image], &[])?;
    let err = String::from_utf8_lossy(&o.stderr);
    if o.status.success()
        || err.trim().lines().count() != 1
        || !err.contains("MINI_DOCKER_REGISTRY_AUTH")
    {
        bail!(
            "without credentials: exit {} and {err:?}; expected one line saying how to log in",
            status_text(&o)
        );
    }
    let creds = format!("{user}:{password}");
    let o = mini_docker(
        ctx,
        &state.0,
        &["pull", &image],
        &[("MINI_DOCKER_REGISTRY_AUTH", &creds)],
    )?;
    if !o.status.success() {
        bail!(
            "with MINI_DOCKER_REGISTRY_AUTH the pull failed{}",
            stderr_suffix(&String::from_utf8_lossy(&o.stderr))
        );
    }
    verify_store(&state.0, &layout.first_image_blobs)
}

fn tampered(ctx: &Ctx) -> Result<()> {
    let registry = Registry::start(Auth::Token)?;
    let layout = build_layout(&["linux/amd64"])?;
    registry.push(&layout.dir, "single", "check/tampered:latest", None)?;
    let victim = layout.first_layers.last().context("a layer")?.clone();
    let file = registry.blob_file(&victim);
    let mut bytes = fs::read(&file).with_context(|| format!("read {}", file.display()))?;
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff; // same size, different content
    fs::write(&file, bytes)?;
    let state = PullState::new(ctx)?;
    let o = mini_docker(
        ctx,
        &state.0,
        &[
            "pull",
            &format!("{}/check/tampered:latest", registry.address()),
        ],
        &[],
    )?;
    let err = String::from_utf8_lossy(&o.stderr);
    if o.status.success() || !err.contains(&victim) {
        bail!(
            "pulling a tampered layer gave exit {} and {:?}: expected a failure naming {victim}",
            status_text(&o),
            err.trim()
        );
    }
    let blobs = state.0.join("images/blobs/sha256");
    if blobs.join(victim.trim_start_matches("sha256:")).exists() {
        bail!("the tampered blob {victim} was kept in the store");
    }
    verify_store(&state.0, &[])
}

/// The token pull of 9.2, through a relay that writes the challenge's keys
/// as some registries do: `Bearer Realm="…",SERVICE="…",Scope="…"`.
fn keys_in_any_case(ctx: &Ctx) -> Result<()> {
    let registry = Registry::start(Auth::Token)?;
    let layout = build_layout(&["linux/amd64"])?;
    registry.push(&layout.dir, "single", "check/cased:latest", None)?;
    let relay = CaseRelay::start(registry.port)?;
    let state = PullState::new(ctx)?;
    let image = format!("127.0.0.1:{}/check/cased:latest", relay.port);
    let o = mini_docker(ctx, &state.0, &["pull", &image], &[])?;
    if !o.status.success() {
        bail!(
            "pull {image} failed (exit {}) when the registry's challenge said \
             `Bearer Realm=\"…\",SERVICE=\"…\",Scope=\"…\"`{}",
            status_text(&o),
            stderr_suffix(&String::from_utf8_lossy(&o.stderr))
        );
    }
    verify_store(&state.0, &layout.first_image_blobs)
}

/// A one-request-per-connection HTTP relay on 127.0.0.1 in front of the
/// registry that re-cases the keys of its WWW-Authenticate challenge. Each
/// answer says `Connection: close`, so only header blocks are ever rewritten,
/// never a blob. Stops when dropped.
struct CaseRelay {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl CaseRelay {
    fn start(registry_port: u16) -> Result<CaseRelay> {
        let listener = TcpListener::bind("127.0.0.1:0").context("bind the relay")?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(client) = client {
                    std::thread::spawn(move || relay_one(client, registry_port));
                }
            }
        });
        Ok(CaseRelay { port, stop })
    }
}

impl Drop for CaseRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag and lets the port go.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// One request in, one answer out (a pull only GETs and HEADs: no request body).
fn relay_one(client: TcpStream, registry_port: u16) -> std::io::Result<()> {
    let timeout = Some(std::time::Duration::from_secs(10));
    client.set_read_timeout(timeout)?;
    let mut from_client = BufReader::new(client.try_clone()?);
    let request = read_head(&mut from_client)?;
    let mut registry = TcpStream::connect(("127.0.0.1", registry_port))?;
    registry.set_read_timeout(timeout)?;
    registry.write_all(&connection_close(&request))?;
    let mut answer = BufReader::new(registry);
    let head = read_head(&mut answer)?;
    let mut client = client;
    client.write_all(&connection_close(&recase_challenge(&head)))?;
    // The body: everything the registry sends until it closes (it was told to).
    std::io::copy(&mut answer, &mut client)?;
    Ok(())
}

/// The request line or status line and headers, up to the empty line.
fn read_head(from: &mut impl BufRead) -> std::io::Result<String> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if from.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push_str(&line);
        if line == "\r\n" || line == "\n" || head.len() > 64 * 1024 {
            return Ok(head);
        }
    }
}

/// The same head with `Connection: close` in place of any keep-alive.
fn connection_close(head: &str) -> Vec<u8> {
    let lines: Vec<&str> = head
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .filter(|l| {
            let name = l.split(':').next().unwrap_or("").trim().to_ascii_lowercase();
            name != "connection" && name != "keep-alive"
        })
        .collect();
    format!("{}\r\nConnection: close\r\n\r\n", lines.join("\r\n")).into_bytes()
}

/// `Bearer realm="R",service="S",scope="P"` -> `Bearer Realm="R",SERVICE="S",Scope="P"`:
/// RFC 7235 §2.1 makes auth-param names case-insensitive.
fn recase_challenge(head: &str) -> String {
    head.split_inclusive("\r\n")
        .map(|line| {
            if line.to_ascii_lowercase().starts_with("www-authenticate:") {
                line.replace("realm=\"", "Realm=\"")
                    .replace("service=\"", "SERVICE=\"")
                    .replace("scope=\"", "Scope=\"")
            } else {
                line.to_string()
            }
        })
        .collect()
}
