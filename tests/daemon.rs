//! Chapter 14: the real docker CLI (Debian's docker.io 20.10 client,
//! /usr/bin/docker; no dockerd, no containerd) drives `mini-docker daemon`
//! over a unix socket: version, pull, images, run (attached, -it, -d -p),
//! ps, logs -f, exec -it, stop, rm -f, inspect, docker's exit codes — and
//! `mini-docker ps` sees the same containers.

mod common;

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::engine::*;
use common::*;

#[test]
fn version_pull_images_and_run_rm_echo() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("api/busybox:1");
    let state = StateDir::new("api-basics");
    let before = HostSnapshot::take();
    {
        let daemon = Daemon::start(&state, "api");
        // Root-equivalent: root and the mini-docker group only.
        let mode = std::fs::metadata(&daemon.socket).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(mode.mode() & 0o777, 0o660, "the socket's mode");
        assert_eq!(mode.uid(), 0, "the socket's owner");
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

/// The status docker exits with, and its stderr.
fn status_of(out: &Output) -> (i32, String) {
    (out.status.code().unwrap_or(-1), text(&out.stderr))
}

#[test]
fn exit_codes_are_dockers() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("api/busybox:1");
    let state = StateDir::new("api-exits");
    let before = HostSnapshot::take();
    {
        let daemon = Daemon::start(&state, "api");
        // Not pulled yet: the CLI pulls on create's 404, then runs.
        let out = daemon.docker(&["run", "--rm", "--network", "none", &image, "true"]);
        assert_eq!(status_of(&out).0, 0, "true: {}", text(&out.stderr));
        // (--init: a shell that is not PID 1 can be killed from inside.)
        let cases: [(&[&str], i32, &str); 4] = [
            (&[&image, "sh", "-c", "exit 1"], 1, ""),
            (&[&image, "/etc/passwd"], 126, "permission denied"),
            (&[&image, "no-such-command"], 127, "not found"),
            (&["--init", &image, "sh", "-c", "kill -9 $$"], 137, ""),
        ];
        for (command, code, says) in cases {
            let mut args = vec!["run", "--rm", "--network", "none"];
            args.extend_from_slice(command);
            let (status, stderr) = status_of(&daemon.docker(&args));
            assert_eq!(status, code, "docker run {command:?}: {stderr}");
            assert!(
                stderr.contains(says),
                "docker run {command:?} says {stderr:?}, not {says:?}"
            );
        }
        // What mini-docker cannot do is refused with its reason: 125, never a hang.
        let out = daemon.docker(&["run", "--restart", "always", &image, "true"]);
        let (status, stderr) = status_of(&out);
        assert_eq!(status, 125, "{stderr}");
        assert!(
            stderr.contains("restart policy") && stderr.contains("not supported"),
            "{stderr}"
        );
        let out = daemon.docker(&["run", "--rm", "--device", "/dev/null", &image, "true"]);
        let (status, stderr) = status_of(&out);
        assert_eq!(status, 125, "{stderr}");
        assert!(
            stderr.contains("HostConfig.Devices is not supported"),
            "{stderr}"
        );
        let out = daemon.docker(&["run", "--rm", "--name", "bad/name", &image, "true"]);
        assert_eq!(status_of(&out).0, 125, "{}", text(&out.stderr));
        let all = ok(&daemon.docker(&["ps", "-a", "-q"]), "ps -a -q");
        assert_eq!(all.trim(), "", "--rm left a container: {all}");
    }
    assert_state_dir_clean_of_containers(&state);
    HostSnapshot::assert_clean_since(&before, "exit codes through the daemon");
}

/// A port nobody listens on now (the kernel's pick): tests run beside others.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET `path` from 127.0.0.1:`port`: the response's body.
fn http_get(port: u16, path: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let request = format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n");
            if stream.write_all(request.as_bytes()).is_ok() {
                let mut response = String::new();
                let _ = stream.read_to_string(&mut response);
                if let Some((_, body)) = response.split_once("\r\n\r\n") {
                    return body.to_string();
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "nothing answered on 127.0.0.1:{port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A command on a pty of the test's (`docker run -it` wants a terminal):
/// the child and the pty's master.
fn on_pty(mut command: Command) -> (Child, std::fs::File) {
    let pty = nix::pty::openpty(None, None).unwrap();
    let slave = pty.slave;
    command
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave));
    let child = command.spawn().expect("spawn on a pty");
    drop(command);
    let master = std::fs::File::from(pty.master);
    nix::fcntl::fcntl(
        master.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .unwrap();
    (child, master)
}

/// Read the pty until `wanted` shows (everything read so far is returned).
fn read_until(master: &mut std::fs::File, wanted: &str, seen: &mut String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 4096];
    while !seen.contains(wanted) {
        assert!(
            Instant::now() < deadline,
            "the terminal never showed {wanted:?}; it showed {seen:?}"
        );
        match master.read(&mut buf) {
            Ok(n) if n > 0 => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn wait_child(child: &mut Child, what: &str) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what}: still running (a hang)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn run_it_is_a_terminal_with_a_shell() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("api/busybox:1");
    let state = StateDir::new("api-it");
    let before = HostSnapshot::take();
    {
        let daemon = Daemon::start(&state, "api");
        ok(&daemon.docker(&["pull", &image]), "pull");
        let command =
            daemon.docker_command(&["run", "-it", "--rm", "--network", "none", &image, "sh"]);
        let (mut child, mut master) = on_pty(command);
        let mut seen = String::new();
        read_until(&mut master, "# ", &mut seen); // the prompt: no newline after it
        master.write_all(b"tty; echo $((6*7))-answer\r").unwrap();
        read_until(&mut master, "42-answer", &mut seen);
        assert!(
            seen.contains("/dev/pts/"),
            "the shell's stdin is no terminal: {seen:?}"
        );
        master.write_all(b"exit 3\r").unwrap();
        assert_eq!(wait_child(&mut child, "docker run -it"), 3, "{seen}");
        // Piped stdin, no terminal: -i alone; the client's EOF ends `cat`.
        let mut cat = daemon
            .docker_command(&[
                "run",
                "-i",
                "--rm",
                "--network",
                "none",
                &image,
                "sh",
                "-c",
                "cat; echo done",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        cat.stdin
            .take()
            .unwrap()
            .write_all(b"through stdin\n")
            .unwrap();
        let out = wait_output(&mut cat, Duration::from_secs(30), "run -i cat");
        assert_eq!(ok(&out, "run -i cat"), "through stdin\ndone\n");
    }
    assert_state_dir_clean_of_containers(&state);
    HostSnapshot::assert_clean_since(&before, "docker run -it through the daemon");
}

#[test]
fn a_detached_web_server_lives_its_life_through_the_cli() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("api/busybox:1");
    let state = StateDir::new("api-web");
    let before = HostSnapshot::take();
    let port = free_port();
    {
        let daemon = Daemon::start(&state, "api");
        ok(&daemon.docker(&["pull", &image]), "pull");
        let publish = format!("{port}:80");
        let out = daemon.docker(&[
            "run",
            "-d",
            "-p",
            &publish,
            "--name",
            "web",
            &image,
            "sh",
            "-c",
            "mkdir /www; hostname > /www/index.html; echo serving; exec httpd -f -p 80 -h /www",
        ]);
        let id = ok(&out, "run -d").trim().to_string();
        assert!(!id.is_empty());
        // Published on the host: fetched through 127.0.0.1 only.
        let hostname = ok(
            &daemon.docker(&["exec", "web", "hostname"]),
            "exec hostname",
        );
        assert_eq!(
            http_get(port, "/").trim(),
            hostname.trim(),
            "the page the container serves"
        );
        // Both front-ends see the same container.
        let docker_ps = ok(
            &daemon.docker(&[
                "ps",
                "--no-trunc",
                "--format",
                "{{.ID}} {{.Names}} {{.Ports}}",
            ]),
            "ps",
        );
        assert!(docker_ps.contains(&format!("{id} web")), "{docker_ps}");
        assert!(docker_ps.contains("->80/tcp"), "{docker_ps}");
        let ours = mini_docker(&state, &["ps", "-q", "--no-trunc"]);
        assert_eq!(
            text(&ours.stdout).trim(),
            id,
            "mini-docker ps and docker ps differ"
        );
        // inspect: docker-shaped.
        let inspect: serde_json::Value =
            serde_json::from_str(&ok(&daemon.docker(&["inspect", "web"]), "inspect")).unwrap();
        assert_eq!(inspect[0]["Name"], "/web");
        assert_eq!(inspect[0]["State"]["Running"], true);
        assert_eq!(inspect[0]["Config"]["Tty"], false);
        // logs -f follows until the container stops.
        let mut follow = daemon
            .docker_command(&["logs", "-f", "web"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // exec, without and with a terminal.
        let out = daemon.docker(&["exec", "web", "sh", "-c", "echo out; echo err >&2; exit 4"]);
        assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
        assert_eq!(
            (text(&out.stdout), text(&out.stderr)),
            ("out\n".into(), "err\n".into())
        );
        let (mut sh, mut master) = on_pty(daemon.docker_command(&["exec", "-it", "web", "sh"]));
        let mut seen = String::new();
        read_until(&mut master, "# ", &mut seen);
        master
            .write_all(b"echo $((6*7))-from-exec; cat /proc/1/cmdline\r")
            .unwrap();
        read_until(&mut master, "42-from-exec", &mut seen);
        read_until(&mut master, "httpd", &mut seen);
        master.write_all(b"exit\r").unwrap();
        assert_eq!(wait_child(&mut sh, "docker exec -it"), 0, "{seen}");
        ok(&daemon.docker(&["stop", "-t", "1", "web"]), "stop");
        let out = wait_output(&mut follow, Duration::from_secs(20), "logs -f");
        let logs = ok(&out, "logs -f");
        assert!(logs.starts_with("serving\n"), "{logs}");
        let inspect: serde_json::Value =
            serde_json::from_str(&ok(&daemon.docker(&["inspect", "web"]), "inspect")).unwrap();
        assert_eq!(inspect[0]["State"]["Status"], "exited");
        assert_eq!(
            inspect[0]["State"]["ExitCode"], 137,
            "PID 1 ignores SIGTERM: killed after -t 1"
        );
        // start again, kill, wait: 137 as the CLI reports it.
        ok(&daemon.docker(&["start", "web"]), "start");
        ok(&daemon.docker(&["kill", "web"]), "kill");
        assert_eq!(ok(&daemon.docker(&["wait", "web"]), "wait").trim(), "137");
        ok(&daemon.docker(&["start", "web"]), "start");
        ok(&daemon.docker(&["rm", "-f", "web"]), "rm -f");
        assert_eq!(ok(&daemon.docker(&["ps", "-aq"]), "ps -aq").trim(), "");
        let out = daemon.docker(&["inspect", "web"]);
        assert!(
            !out.status.success() && text(&out.stderr).contains("No such"),
            "{}",
            text(&out.stderr)
        );
    }
    assert_state_dir_clean_of_containers(&state);
    HostSnapshot::assert_clean_since(&before, "a web server through the daemon");
}

/// The create body's fields reach the container: each one checked by what
/// it does inside (env, workdir, user, entrypoint, read-only, a bind mount)
/// or by what inspect reads back from the recorded `run` arguments.
#[test]
fn create_fields_become_the_containers_settings() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("api/busybox:1");
    let state = StateDir::new("api-fields");
    let shared = state.path().join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(shared.join("note"), "from the host\n").unwrap();
    let before = HostSnapshot::take();
    {
        let daemon = Daemon::start(&state, "api");
        ok(&daemon.docker(&["pull", &image]), "pull");
        let bind = format!("{}:/mnt:ro", shared.display());
        let out = daemon.docker(&[
            "create",
            "--name",
            "fields",
            "--network",
            "none",
            "-e",
            "GREETING=hello",
            "-w",
            "/tmp",
            "-u",
            "65534",
            "--memory",
            "32m",
            "--pids-limit",
            "50",
            "--read-only",
            "-v",
            &bind,
            "--entrypoint",
            "sh",
            &image,
            "-c",
            "echo $GREETING; pwd; id -u; cat /mnt/note; touch /x 2>/dev/null || echo read-only",
        ]);
        ok(&out, "create");
        let inspect: serde_json::Value =
            serde_json::from_str(&ok(&daemon.docker(&["inspect", "fields"]), "inspect")).unwrap();
        assert_eq!(inspect[0]["HostConfig"]["Memory"], 32 << 20);
        assert_eq!(inspect[0]["HostConfig"]["PidsLimit"], 50);
        assert_eq!(inspect[0]["HostConfig"]["ReadonlyRootfs"], true);
        assert_eq!(inspect[0]["State"]["Status"], "created");
        let out = daemon.docker(&["start", "-a", "fields"]);
        assert_eq!(
            ok(&out, "start -a"),
            "hello\n/tmp\n65534\nfrom the host\nread-only\n"
        );
        ok(&daemon.docker(&["rm", "fields"]), "rm");
    }
    assert_state_dir_clean_of_containers(&state);
    HostSnapshot::assert_clean_since(&before, "create's fields through the daemon");
}

/// The rest of the everyday commands: restart, logs --tail, a name in use,
/// container prune, image inspect and rmi (refused while a container uses it).
#[test]
fn restart_prune_names_and_images() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("api/busybox:1");
    let state = StateDir::new("api-misc");
    let before = HostSnapshot::take();
    {
        let daemon = Daemon::start(&state, "api");
        ok(&daemon.docker(&["pull", &image]), "pull");
        let inspect: serde_json::Value = serde_json::from_str(&ok(
            &daemon.docker(&["image", "inspect", &image]),
            "image inspect",
        ))
        .unwrap();
        assert!(
            inspect[0]["Id"].as_str().unwrap().starts_with("sha256:"),
            "{inspect}"
        );
        let run = [
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            "counter",
            &image,
            "sh",
            "-c",
            "echo start; sleep 60",
        ];
        ok(&daemon.docker(&run), "run -d");
        let (status, stderr) = status_of(&daemon.docker(&run));
        assert_eq!(status, 125, "a second container named counter: {stderr}");
        assert!(stderr.contains("already in use"), "{stderr}");
        ok(
            &daemon.docker(&["restart", "-t", "1", "counter"]),
            "restart",
        );
        let logs = ok(&daemon.docker(&["logs", "counter"]), "logs");
        assert_eq!(logs, "start\nstart\n", "one line per start");
        assert_eq!(
            ok(
                &daemon.docker(&["logs", "--tail", "1", "counter"]),
                "logs --tail 1"
            ),
            "start\n"
        );
        let (status, stderr) = status_of(&daemon.docker(&["rmi", &image]));
        assert_ne!(status, 0, "rmi of an image a container uses: {stderr}");
        ok(&daemon.docker(&["stop", "-t", "1", "counter"]), "stop");
        let pruned = ok(
            &daemon.docker(&["container", "prune", "-f"]),
            "container prune",
        );
        assert!(pruned.contains("Deleted Containers"), "{pruned}");
        assert_eq!(ok(&daemon.docker(&["ps", "-aq"]), "ps -aq").trim(), "");
        ok(&daemon.docker(&["rmi", &image]), "rmi");
        let images = ok(&daemon.docker(&["images", "-q"]), "images -q");
        assert_eq!(images.trim(), "", "{images}");
    }
    assert_state_dir_clean_of_containers(&state);
    HostSnapshot::assert_clean_since(&before, "restart, prune and rmi through the daemon");
}
