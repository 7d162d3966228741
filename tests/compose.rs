//! Chapter 14's stretch: docker-compose 1.29 (Debian's, Python, the same
//! Engine API as the docker CLI) drives `mini-docker daemon` through the
//! seeds' example shape — two services on one user-defined network,
//! reaching each other by service name: `up -d`, `ps`, `logs`, `down`,
//! and the host clean afterwards (the network's bridge and NAT table too).

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::engine::*;
use common::*;

const COMPOSE: &str = "/usr/bin/docker-compose";
const PROJECT: &str = "mdcompose";

/// The daemon, and docker-compose for one project; the project's network
/// goes when dropped (then the daemon, its containers first), so a failed
/// test leaves no bridge behind either.
struct Compose {
    daemon: Daemon,
}

impl Compose {
    fn start(state: &StateDir) -> Compose {
        Compose {
            daemon: Daemon::start(state, "compose"),
        }
    }

    fn docker(&self, args: &[&str]) -> Output {
        self.daemon.docker(args)
    }

    /// `docker-compose -H unix://SOCK -p PROJECT ARGS` in the project's dir.
    fn compose(&self, dir: &Path, args: &[&str]) -> Output {
        let host = format!("unix://{}", self.daemon.socket.display());
        let mut all = vec!["-H", &host, "-p", PROJECT, "--ansi", "never"];
        all.extend_from_slice(args);
        let mut command = self.daemon.client_command(COMPOSE, &all);
        command
            .current_dir(dir)
            .env("COMPOSE_PROJECT_NAME", PROJECT);
        finish(command, Duration::from_secs(120), args)
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        let all = self.docker(&["ps", "-aq", "--no-trunc"]);
        for id in text(&all.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        let _ = self.docker(&["network", "rm", &format!("{PROJECT}_default")]);
    }
}

/// The client succeeded: what it said on stdout and stderr (docker-compose
/// reports its progress on stderr).
fn said(out: &Output, what: &str) -> String {
    ok(out, what) + &text(&out.stderr)
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
fn wait_for_log(daemon: &Compose, dir: &Path, service: &str, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let logs = said(&daemon.compose(dir, &["logs", service]), "compose logs");
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
    let (_registry, image) = busybox_in_registry("compose/busybox:1");
    let state = StateDir::new("compose");
    let project = state.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("docker-compose.yml"), compose_file(&image)).unwrap();
    let tables_before = nat_tables();
    let before = HostSnapshot::take();
    {
        let daemon = Compose::start(&state);
        said(&daemon.docker(&["pull", &image]), "docker pull");
        let up = said(&daemon.compose(&project, &["up", "-d"]), "compose up -d");
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
        let hosts = said(
            &daemon.docker(&["exec", &web, "cat", "/etc/hosts"]),
            "exec cat",
        );
        assert!(
            hosts.contains(" client ") || hosts.contains("\tclient "),
            "{hosts}"
        );

        let ps = said(&daemon.compose(&project, &["ps"]), "compose ps");
        for service in ["web", "client"] {
            let line = ps
                .lines()
                .find(|l| l.contains(&format!("{PROJECT}_{service}_1")))
                .unwrap_or_else(|| panic!("{service} not in compose ps: {ps}"));
            assert!(line.contains("Up"), "{line}");
        }
        // A second `up -d` finds the network and both containers as they are.
        let again = said(
            &daemon.compose(&project, &["up", "-d"]),
            "compose up -d again",
        );
        assert_eq!(again.matches("is up-to-date").count(), 2, "{again}");
        let all_logs = said(&daemon.compose(&project, &["logs"]), "compose logs");
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

        let down = said(&daemon.compose(&project, &["down"]), "compose down");
        assert!(down.contains("Removing network"), "{down}");
        let left = said(&daemon.docker(&["ps", "-aq"]), "docker ps -aq");
        assert_eq!(left.trim(), "", "compose down left containers");
        let networks = said(&daemon.docker(&["network", "ls"]), "network ls");
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
    let (_registry, image) = busybox_in_registry("compose/busybox:1");
    let state = StateDir::new("compose-net");
    let tables_before = nat_tables();
    let before = HostSnapshot::take();
    {
        let daemon = Compose::start(&state);
        said(&daemon.docker(&["pull", &image]), "docker pull");
        let net = format!("{PROJECT}_default");
        let create = ["network", "create", "--subnet", "10.96.7.0/24", &net];
        said(&daemon.docker(&create), "network create");
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
        let inspect = said(&daemon.docker(&["network", "inspect", &net]), "inspect");
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
        let hosts = said(&daemon.docker(&run), "run on the network");
        assert!(hosts.contains("\n10.96.7."), "{hosts}");

        said(&daemon.docker(&["network", "rm", &net]), "network rm");
        let gone = daemon.docker(&["network", "inspect", &net]);
        assert!(
            text(&gone.stderr).contains("No such network"),
            "{}",
            text(&gone.stderr)
        );
        // Never given a container: its bridge was never made; rm is clean too.
        said(&daemon.docker(&["network", "create", "md-empty"]), "create");
        said(&daemon.docker(&["network", "rm", "md-empty"]), "rm");
    }
    assert_eq!(nat_tables(), tables_before, "a network's nft table is left");
    HostSnapshot::assert_clean_since(&before, "docker network create/rm");
}
