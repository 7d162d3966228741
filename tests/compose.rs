//! Chapter 14's stretch: docker-compose 1.29 (Debian's, Python, the same
//! Engine API as the docker CLI) drives `mini-docker daemon` through the
//! seeds' example shape — two services on one user-defined network,
//! reaching each other by service name: `up -d`, `ps`, `logs`, `down`,
//! and the host clean afterwards (the network's bridge and NAT table too).

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use mini_docker::checks::fixture::{build_image, busybox_layer, Auth, Registry};

const COMPOSE: &str = "/usr/bin/docker-compose";
const DOCKER: &str = "/usr/bin/docker";
const PROJECT: &str = "mdcompose";

/// A registry holding busybox; keep it: it stops when dropped.
fn busybox() -> (Registry, String) {
    let registry = Registry::start(Auth::Token).unwrap();
    let layout = build_image(&[busybox_layer().unwrap()], serde_json::json!({})).unwrap();
    registry
        .push(&layout.dir, "single", "compose/busybox:1", None)
        .unwrap();
    let image = format!("{}/compose/busybox:1", registry.address());
    (registry, image)
}

/// `mini-docker daemon` on a socket of its own; stopped when dropped, its
/// containers removed first (a failed test's too) and then the project's
/// network, so a failure leaves no bridge behind either.
struct Daemon {
    child: Child,
    state_dir: PathBuf,
    socket: PathBuf,
    config: PathBuf,
}

impl Daemon {
    fn start(state: &StateDir) -> Daemon {
        let socket = std::env::temp_dir().join(format!("md-compose-{}.sock", std::process::id()));
        let config = std::env::temp_dir().join(format!("md-compose-config-{}", std::process::id()));
        std::fs::create_dir_all(&config).unwrap();
        let child = mini_docker_command(state, &["--reference", "daemon", "--socket"])
            .arg(&socket)
            .stdout(Stdio::null())
            .spawn()
            .expect("start mini-docker daemon");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(Instant::now() < deadline, "the daemon never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon {
            child,
            state_dir: state.path().to_path_buf(),
            socket,
            config,
        }
    }

    fn client(&self, program: &str, dir: &Path, args: &[&str]) -> Output {
        let mut child = Command::new(program)
            .current_dir(dir)
            .env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env("DOCKER_CONFIG", &self.config)
            .env("COMPOSE_PROJECT_NAME", PROJECT)
            .env_remove("DOCKER_CONTEXT")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("run {program}: {e}"));
        wait_output(&mut child, Duration::from_secs(120), &args.join(" "))
    }

    fn docker(&self, args: &[&str]) -> Output {
        self.client(DOCKER, Path::new("/"), args)
    }

    /// `docker-compose -H unix://SOCK -p PROJECT ARGS` in the project's dir.
    fn compose(&self, dir: &Path, args: &[&str]) -> Output {
        let host = format!("unix://{}", self.socket.display());
        let mut all = vec!["-H", &host, "-p", PROJECT, "--ansi", "never"];
        all.extend_from_slice(args);
        self.client(COMPOSE, dir, &all)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let all = self.docker(&["ps", "-aq", "--no-trunc"]);
        for id in text(&all.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        let _ = self.docker(&["network", "rm", &format!("{PROJECT}_default")]);
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

fn wait_for_shims(state_dir: &Path) {
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
    panic!("shims of {} still run after 10 s", state_dir.display());
}

fn wait_output(child: &mut Child, timeout: Duration, what: &str) -> Output {
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

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {:?}\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout) + &text(&out.stderr)
}

/// The seeds' shape: `web` serves a page, `client` fetches it by the name
/// `web` (a few tries: compose starts them one after the other).
fn compose_file(image: &str) -> String {
    format!(
        r#"version: "3"
services:
  web:
    image: {image}
    stop_grace_period: 1s
    command: ["sh", "-c", "mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 80 -h /www"]
  client:
    image: {image}
    depends_on: [web]
    stop_grace_period: 1s
    command: ["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://web/ && break; sleep 1; done; echo client-done; exec sleep 60"]
"#
    )
}

/// The nftables tables of mini-docker's bridges (`mini_docker_BRIDGE`).
fn nat_tables() -> Vec<String> {
    let out = Command::new("nft")
        .args(["list", "tables"])
        .output()
        .expect("nft");
    text(&out.stdout)
        .lines()
        .filter(|l| l.contains("mini_docker_mdn"))
        .map(String::from)
        .collect()
}

/// Until `container`'s logs say `what`, or 20 s.
fn wait_for_log(daemon: &Daemon, dir: &Path, service: &str, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let logs = ok(&daemon.compose(dir, &["logs", service]), "compose logs");
        if logs.contains(what) || Instant::now() > deadline {
            return logs;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn compose_up_ps_logs_down_with_two_services_on_one_network() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox();
    let state = StateDir::new("compose");
    let project = state.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("docker-compose.yml"), compose_file(&image)).unwrap();
    let tables_before = nat_tables();
    let before = HostSnapshot::take();
    {
        let daemon = Daemon::start(&state);
        ok(&daemon.docker(&["pull", &image]), "docker pull");
        let up = ok(&daemon.compose(&project, &["up", "-d"]), "compose up -d");
        assert!(up.contains("Creating network"), "{up}");

        // `client` reached `web` by its service name.
        let logs = wait_for_log(&daemon, &project, "client", "client-done");
        assert!(
            logs.contains("hello-from-web") && logs.contains("client-done"),
            "client did not reach web by name: {logs}"
        );
        // `web`, started first, learnt `client` when it started: its
        // /etc/hosts (bind-mounted, rewritten in place) names it.
        let web = format!("{PROJECT}_web_1");
        let hosts = ok(
            &daemon.docker(&["exec", &web, "cat", "/etc/hosts"]),
            "exec cat",
        );
        assert!(
            hosts.contains(" client ") || hosts.contains("\tclient "),
            "{hosts}"
        );

        let ps = ok(&daemon.compose(&project, &["ps"]), "compose ps");
        for service in ["web", "client"] {
            let line = ps
                .lines()
                .find(|l| l.contains(&format!("{PROJECT}_{service}_1")))
                .unwrap_or_else(|| panic!("{service} not in compose ps: {ps}"));
            assert!(line.contains("Up"), "{line}");
        }
        // A second `up -d` finds the network and both containers as they are.
        let again = ok(
            &daemon.compose(&project, &["up", "-d"]),
            "compose up -d again",
        );
        assert_eq!(again.matches("is up-to-date").count(), 2, "{again}");
        let all_logs = ok(&daemon.compose(&project, &["logs"]), "compose logs");
        println!("{up}\n{hosts}\n{ps}\n{all_logs}");
        assert!(all_logs.contains("hello-from-web"), "{all_logs}");

        // The network is in use: docker refuses to remove it, so do we.
        let rm = daemon.docker(&["network", "rm", &format!("{PROJECT}_default")]);
        assert!(!rm.status.success(), "a network in use was removed");
        assert!(
            text(&rm.stderr).contains("active endpoints"),
            "{}",
            text(&rm.stderr)
        );
        assert_eq!(
            nat_tables().len(),
            tables_before.len() + 1,
            "{:?}",
            nat_tables()
        );

        let down = ok(&daemon.compose(&project, &["down"]), "compose down");
        assert!(down.contains("Removing network"), "{down}");
        let left = ok(&daemon.docker(&["ps", "-aq"]), "docker ps -aq");
        assert_eq!(left.trim(), "", "compose down left containers");
        let networks = ok(&daemon.docker(&["network", "ls"]), "network ls");
        assert!(!networks.contains(PROJECT), "{networks}");
        let records: Vec<_> = std::fs::read_dir(state.path().join("networks"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "lock")
            .collect();
        assert!(records.is_empty(), "network files left: {records:?}");
    }
    assert_eq!(
        nat_tables(),
        tables_before,
        "the network's nft table is left"
    );
    HostSnapshot::assert_clean_since(&before, "docker-compose up/down");
}

/// The networks API through the docker CLI: a subnet given at create is
/// the one used, names conflict, other drivers are refused, a container on
/// the network gets an address there, and `network rm` of a network whose
/// bridge was never made (or was) leaves nothing.
#[test]
fn docker_network_create_inspect_run_rm() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox();
    let state = StateDir::new("compose-net");
    let tables_before = nat_tables();
    let before = HostSnapshot::take();
    {
        let daemon = Daemon::start(&state);
        ok(&daemon.docker(&["pull", &image]), "docker pull");
        let net = format!("{PROJECT}_default");
        let create = ["network", "create", "--subnet", "10.96.7.0/24", &net];
        ok(&daemon.docker(&create), "network create");
        let again = daemon.docker(&create);
        assert!(!again.status.success(), "a second network of the same name");
        assert!(
            text(&again.stderr).contains("already exists"),
            "{}",
            text(&again.stderr)
        );
        let overlay = daemon.docker(&["network", "create", "-d", "overlay", "md-other"]);
        assert!(
            text(&overlay.stderr).contains("not supported"),
            "{}",
            text(&overlay.stderr)
        );
        let inspect = ok(&daemon.docker(&["network", "inspect", &net]), "inspect");
        assert!(inspect.contains("\"10.96.7.0/24\""), "{inspect}");

        let run = [
            "run",
            "--rm",
            "--network",
            &net,
            &image,
            "cat",
            "/etc/hosts",
        ];
        let hosts = ok(&daemon.docker(&run), "run on the network");
        assert!(hosts.contains("\n10.96.7."), "{hosts}");

        ok(&daemon.docker(&["network", "rm", &net]), "network rm");
        let gone = daemon.docker(&["network", "inspect", &net]);
        assert!(
            text(&gone.stderr).contains("No such network"),
            "{}",
            text(&gone.stderr)
        );
        // Never given a container: its bridge was never made; rm is clean too.
        ok(&daemon.docker(&["network", "create", "md-empty"]), "create");
        ok(&daemon.docker(&["network", "rm", "md-empty"]), "rm");
    }
    assert_eq!(nat_tables(), tables_before, "a network's nft table is left");
    HostSnapshot::assert_clean_since(&before, "docker network create/rm");
}
