//! Chapter 14's clients — the docker CLI (Debian's docker.io 20.10, no
//! dockerd) and docker-compose 1.29 — against `mini-docker daemon`: shared by
//! tests/daemon.rs and tests/compose.rs.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{mini_docker_command, text, StateDir};

pub const DOCKER: &str = "/usr/bin/docker";

/// `mini-docker daemon` on a socket of its own, with the test's state dir;
/// stopped (SIGTERM) when dropped, its containers removed first (a failed
/// test's too: the shims outlive the daemon).
pub struct Daemon {
    child: Child,
    state_dir: PathBuf,
    pub socket: PathBuf,
    config: PathBuf,
}

impl Daemon {
    /// `name` keeps two test files' sockets apart (`md-NAME-PID.sock`).
    pub fn start(state: &StateDir, name: &str) -> Daemon {
        let pid = std::process::id();
        let socket = std::env::temp_dir().join(format!("md-{name}-{pid}.sock"));
        let config = std::env::temp_dir().join(format!("md-{name}-docker-config-{pid}"));
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
            state_dir: state.path().to_path_buf(),
            socket,
            config,
        }
    }

    /// `PROGRAM ARGS` as a client of this daemon (DOCKER_HOST, a docker
    /// config dir of its own), not yet started.
    pub fn client_command(&self, program: &str, args: &[&str]) -> Command {
        let mut command = Command::new(program);
        command
            .env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env("DOCKER_CONFIG", &self.config)
            .env_remove("DOCKER_CONTEXT")
            .args(args);
        command
    }

    pub fn docker_command(&self, args: &[&str]) -> Command {
        self.client_command(DOCKER, args)
    }

    /// `docker ARGS`, with a deadline: the CLI must never hang on us.
    pub fn docker(&self, args: &[&str]) -> Output {
        finish(self.docker_command(args), Duration::from_secs(60), args)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let all = self.docker(&["ps", "-aq", "--no-trunc"]);
        for id in text(&all.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
        wait_for_shims(&self.state_dir);
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_dir_all(&self.config);
    }
}

/// Run `command` (no stdin, output captured) within `timeout`.
pub fn finish(mut command: Command, timeout: Duration, args: &[&str]) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {:?}: {e}", command.get_program()));
    wait_output(&mut child, timeout, &args.join(" "))
}

/// Until no shim of `state_dir` runs: `docker run --rm` returns once the
/// container is removed, a moment before its shim has released the rest.
pub fn wait_for_shims(state_dir: &Path) {
    let ours = |pid: &str| {
        std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
            let c = String::from_utf8_lossy(&c);
            c.contains("__shim") && c.contains(state_dir.to_string_lossy().as_ref())
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let running = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .any(|e| ours(&e.file_name().to_string_lossy()));
        if !running {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "shims of {} still run 10 s after the daemon stopped",
        state_dir.display()
    );
}

/// The child's output once it exits; killed (and the test failed) after `timeout`.
pub fn wait_output(child: &mut Child, timeout: Duration, what: &str) -> Output {
    let deadline = Instant::now() + timeout;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {timeout:?} (a hang)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (mut out, mut err) = (Vec::new(), Vec::new());
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

/// The client succeeded: its stdout.
pub fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {:?}\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}
