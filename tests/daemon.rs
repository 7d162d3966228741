//! Chapter 14: the real docker CLI (Debian's docker.io 20.10 client,
//! /usr/bin/docker; no dockerd, no containerd) drives `mini-docker daemon`
//! over a unix socket: version, pull, images, run (attached, -it, -d -p),
//! ps, logs -f, exec -it, stop, rm -f, inspect, docker's exit codes — and
//! `mini-docker ps` sees the same containers.

mod common;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use mini_docker::checks::fixture::{build_image, busybox_layer, Auth, Registry};

const DOCKER: &str = "/usr/bin/docker";

/// A registry holding busybox; keep it: it stops when dropped.
fn busybox() -> (Registry, String) {
    let registry = Registry::start(Auth::Token).unwrap();
    let layout = build_image(&[busybox_layer().unwrap()], serde_json::json!({})).unwrap();
    registry
        .push(&layout.dir, "single", "api/busybox:1", None)
        .unwrap();
    let image = format!("{}/api/busybox:1", registry.address());
    (registry, image)
}

/// `mini-docker daemon` on a socket of its own, with the test's state dir;
/// stopped (SIGTERM) when dropped.
struct Daemon {
    child: Child,
    socket: PathBuf,
    config: PathBuf,
}

impl Daemon {
    fn start(state: &StateDir) -> Daemon {
        let socket = std::env::temp_dir().join(format!("md-api-{}.sock", std::process::id()));
        let config =
            std::env::temp_dir().join(format!("md-api-docker-config-{}", std::process::id()));
        std::fs::create_dir_all(&config).unwrap();
        let child = mini_docker_command(state, &["--reference", "daemon", "--socket"])
            .arg(&socket)
            .stdout(Stdio::null())
            .spawn()
            .expect("start mini-docker daemon");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(
                Instant::now() < deadline,
                "the daemon never listened on {}",
                socket.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon {
            child,
            socket,
            config,
        }
    }

    fn docker_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(DOCKER);
        command
            .env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env("DOCKER_CONFIG", &self.config)
            .env_remove("DOCKER_CONTEXT")
            .args(args);
        command
    }

    /// `docker ARGS`, with a deadline: the CLI must never hang on us.
    fn docker(&self, args: &[&str]) -> Output {
        let mut child = self
            .docker_command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run docker");
        wait_output(&mut child, Duration::from_secs(60), &args.join(" "))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_dir_all(&self.config);
    }
}

fn wait_output(child: &mut Child, timeout: Duration, what: &str) -> Output {
    let deadline = Instant::now() + timeout;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("docker {what}: still running after {timeout:?} (a hang)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut out = Vec::new();
    let mut err = Vec::new();
    if let Some(mut s) = child.stdout.take() {
        s.read_to_end(&mut out).unwrap();
    }
    if let Some(mut s) = child.stderr.take() {
        s.read_to_end(&mut err).unwrap();
    }
    Output {
        status: child.wait().unwrap(),
        stdout: out,
        stderr: err,
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "docker {what}: {:?}\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn version_pull_images_and_run_rm_echo() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox();
    let state = StateDir::new("api-basics");
    let before = HostSnapshot::take();
    {
        let daemon = Daemon::start(&state);
        let version = ok(&daemon.docker(&["version"]), "version");
        assert!(
            version.contains("Server") && version.contains("1.41"),
            "{version}"
        );
        let pulled = ok(&daemon.docker(&["pull", &image]), "pull");
        assert!(pulled.contains("Downloaded newer image"), "{pulled}");
        let images = ok(&daemon.docker(&["images"]), "images");
        assert!(images.contains("api/busybox"), "{images}");
        let out = daemon.docker(&["run", "--rm", &image, "echo", "hi"]);
        assert_eq!(ok(&out, "run --rm echo hi"), "hi\n");
        let all = ok(&daemon.docker(&["ps", "-a", "-q"]), "ps -a -q");
        assert_eq!(all.trim(), "", "--rm left a container: {all}");
    }
    assert_state_dir_clean_of_containers(&state);
    HostSnapshot::assert_clean_since(&before, "docker run --rm through the daemon");
}

fn assert_state_dir_clean_of_containers(state: &StateDir) {
    let left: Vec<_> = std::fs::read_dir(state.path().join("containers"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "containers left in the state dir: {left:?}"
    );
}
