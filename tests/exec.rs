//! `exec`: a process in a running container's namespaces and cgroup, under
//! its hardening, with docker's flags and exit codes.

mod common;

use std::fs;

use common::*;

/// `exec ARGS`: its stdout (it must succeed).
fn exec_ok(state: &StateDir, args: &[&str]) -> String {
    let mut all = vec!["exec"];
    all.extend_from_slice(args);
    let out = md(state, &all);
    assert!(
        out.status.success(),
        "exec {args:?}: {} {}",
        status_text(&out),
        stderr(&out)
    );
    stdout(&out)
}

fn status_text(out: &std::process::Output) -> String {
    format!("{:?}", out.status)
}

/// A running detached container, removed (with everything) when dropped.
struct Detached<'a> {
    state: &'a StateDir,
    id: String,
}

impl<'a> Detached<'a> {
    fn start(state: &'a StateDir, image: &str, extra: &[&str]) -> Detached<'a> {
        let mut args = vec!["run", "-d", "--hostname", "boxed"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[image, "sh", "-c", "echo up; exec sleep 1000"]);
        let out = md(state, &args);
        assert!(out.status.success(), "run -d: {}", stderr(&out));
        Detached {
            state,
            id: stdout(&out).trim().to_string(),
        }
    }

    fn pid(&self) -> i32 {
        let path = self
            .state
            .path()
            .join("containers")
            .join(&self.id)
            .join("state.json");
        let state: serde_json::Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
        state["pid"].as_i64().unwrap() as i32
    }
}

impl Drop for Detached<'_> {
    fn drop(&mut self) {
        md(self.state, &["rm", "-f", &self.id]);
    }
}

fn ns(pid: &str, kind: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn exec_joins_every_namespace_and_the_cgroup_of_pid_1() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("exec/busybox:1");
    let state = StateDir::new("exec-ns");
    md(&state, &["pull", &image]);
    let before = HostSnapshot::take();
    {
        let container = Detached::start(&state, &image, &[]);
        let pid = container.pid().to_string();
        // The exec'd shell reports its own namespaces; compared from the host.
        let script = "for n in ipc uts net pid cgroup mnt; do readlink /proc/self/ns/$n; done; \
                      hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; \
                      cat /proc/self/cgroup; echo ---; cat /proc/1/cgroup";
        let out = exec_ok(&state, &[&container.id, "sh", "-c", script]);
        let lines: Vec<&str> = out.lines().collect();
        for (line, kind) in lines
            .iter()
            .zip(["ipc", "uts", "net", "pid", "cgroup", "mnt"])
        {
            assert_eq!(*line, ns(&pid, kind), "the {kind} namespace of PID 1");
            assert_ne!(*line, ns("self", kind), "not the host's {kind} namespace");
        }
        assert_eq!(lines[6], "boxed", "its hostname");
        assert_eq!(lines[7].trim(), "sleep 1000", "PID 1 is the container's");
        let (own, first) = out.split_once("---\n").unwrap();
        let own: Vec<&str> = own.lines().skip(8).collect();
        assert_eq!(own.join("\n"), first.trim_end(), "the cgroup of PID 1");
        // The same, seen from the host: an exec'd sleep is in PID 1's cgroup.
        let out = md(&state, &["exec", "-d", &container.id, "sleep", "30"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        let sleeper = children_named(&pid, "sleep");
        assert!(!sleeper.is_empty(), "exec -d left `sleep 30` running");
        let theirs = fs::read_to_string(format!("/proc/{}/cgroup", sleeper[0])).unwrap();
        assert_eq!(
            theirs, cgroup,
            "exec -d: the container's cgroup (host view)"
        );
    }
    HostSnapshot::assert_clean_since(&before, "exec");
}

/// Processes named `name` in `pid`'s PID namespace (from the host).
fn children_named(pid: &str, name: &str) -> Vec<i32> {
    let pidns = ns(pid, "pid");
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|p| p.to_string() != pid)
        .filter(|p| {
            let comm = fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
            comm.trim() == name
                && fs::read_link(format!("/proc/{p}/ns/pid"))
                    .map(|l| l.to_string_lossy() == pidns)
                    .unwrap_or(false)
        })
        .collect()
}

#[test]
fn exec_has_the_containers_hardening_env_and_no_host_fd() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("exec/busybox:1");
    let state = StateDir::new("exec-hard");
    md(&state, &["pull", &image]);
    let before = HostSnapshot::take();
    {
        let container = Detached::start(
            &state,
            &image,
            &["-e", "FROM_RUN=1", "--security-opt", "no-new-privileges"],
        );
        let pid = container.pid();
        let fields = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|l| {
                    [
                        "CapBnd",
                        "CapEff",
                        "CapPrm",
                        "CapInh",
                        "CapAmb",
                        "Seccomp:",
                        "NoNewPrivs",
                    ]
                    .iter()
                    .any(|f| l.starts_with(f))
                })
                .map(String::from)
                .collect()
        };
        let theirs = fields(&fs::read_to_string(format!("/proc/{pid}/status")).unwrap());
        let ours = fields(&exec_ok(
            &state,
            &[&container.id, "cat", "/proc/self/status"],
        ));
        assert_eq!(
            ours, theirs,
            "the same capability sets, seccomp, no_new_privs"
        );
        assert!(ours.iter().any(|l| l == "NoNewPrivs:\t1"), "{ours:?}");
        assert!(ours.iter().any(|l| l == "Seccomp:\t2"), "{ours:?}");
        // A clean environment: the container's, -e on top; never ours.
        let env = {
            let all = ["--reference", "exec", "-e", "ADDED=2", &container.id, "env"];
            let out = mini_docker_command(&state, &all)
                .env("HOST_SECRET", "leak")
                .output()
                .unwrap();
            stdout(&out)
        };
        assert!(
            env.contains("FROM_RUN=1\n") && env.contains("ADDED=2\n"),
            "{env}"
        );
        assert!(
            env.contains("HOSTNAME=boxed\n") && env.contains("HOME=/root\n"),
            "{env}"
        );
        assert!(
            !env.contains("HOST_SECRET"),
            "the caller's environment leaked: {env}"
        );
        // No fd but 0, 1, 2 (ls's own directory fd aside).
        let fds = exec_ok(&state, &[&container.id, "ls", "/proc/self/fd"]);
        let fds: Vec<&str> = fds.split_whitespace().collect();
        assert!(fds.len() <= 4 && fds[..3] == ["0", "1", "2"], "{fds:?}");
    }
    HostSnapshot::assert_clean_since(&before, "exec hardening");
}

#[test]
fn exec_flags_and_exit_codes_are_dockers() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("exec/busybox:1");
    let state = StateDir::new("exec-flags");
    md(&state, &["pull", &image]);
    let before = HostSnapshot::take();
    {
        let container = Detached::start(&state, &image, &[]);
        let id = container.id.as_str();
        let code = |args: &[&str]| {
            let mut all = vec!["exec", id];
            all.extend_from_slice(args);
            md(&state, &all).status.code()
        };
        assert_eq!(code(&["sh", "-c", "exit 7"]), Some(7));
        assert_eq!(code(&["no-such-command"]), Some(127));
        assert_eq!(code(&["/etc/passwd"]), Some(126));
        assert_eq!(code(&["sh", "-c", "kill -9 $$"]), Some(137));
        let out = md(&state, &["exec", id, "no-such-command"]);
        assert!(
            stderr(&out).contains("no-such-command") && stderr(&out).lines().count() == 1,
            "one line: {}",
            stderr(&out)
        );
        let big = exec_ok(&state, &[id, "sh", "-c", "head -c 3000000 /dev/zero"]);
        assert_eq!(big.len(), 3_000_000, "every byte of a large output");
        assert_eq!(exec_ok(&state, &["-w", "/etc", id, "pwd"]), "/etc\n");
        assert_eq!(exec_ok(&state, &[id, "pwd"]), "/\n");
        assert_eq!(
            exec_ok(&state, &["-u", "nobody", id, "id", "-un"]),
            "nobody\n"
        );
        assert_eq!(exec_ok(&state, &["-u", "1234:5", id, "id", "-u"]), "1234\n");
        // Without -i stdin is empty; with -i it is ours.
        let piped = |interactive: bool| {
            let mut args = vec!["--reference", "exec"];
            if interactive {
                args.push("-i");
            }
            args.extend_from_slice(&[id, "cat"]);
            let mut child = mini_docker_command(&state, &args)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            child.stdin.take().unwrap().write_all(b"typed\n").unwrap();
            stdout(&child.wait_with_output().unwrap())
        };
        assert_eq!(piped(true), "typed\n");
        assert_eq!(piped(false), "");
        // -t: a real terminal, from the container's devpts.
        let tty = exec_ok(&state, &["-t", id, "tty"]);
        assert!(tty.trim().starts_with("/dev/pts/"), "{tty:?}");
        // -it: typed input reaches a shell on the container's terminal; its status comes back.
        let mut child = mini_docker_command(&state, &["--reference", "exec", "-it", id, "sh"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            stdin
                .write_all(b"echo in-$((40+2)); tty; exit 3\n")
                .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
        assert!(stdout(&out).contains("in-42"), "{}", stdout(&out));
        // A stopped container: one clear error, 125.
        md(&state, &["stop", "-t", "0", id]);
        let out = md(&state, &["exec", id, "true"]);
        assert_eq!(out.status.code(), Some(125));
        assert_eq!(
            stderr(&out).trim(),
            format!("mini-docker: container {id} is not running")
        );
        let out = md(&state, &["exec", "nope", "true"]);
        assert_eq!(out.status.code(), Some(125));
        assert_eq!(stderr(&out).trim(), "mini-docker: no such container: nope");
    }
    HostSnapshot::assert_clean_since(&before, "exec flags");
}

#[test]
fn exec_enters_a_container_in_a_user_namespace() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("exec/busybox:1");
    let state = StateDir::new("exec-userns");
    md(&state, &["pull", &image]);
    let before = HostSnapshot::take();
    {
        let container = Detached::start(&state, &image, &["--userns"]);
        let pid = container.pid().to_string();
        let out = exec_ok(
            &state,
            &[
                &container.id,
                "sh",
                "-c",
                "readlink /proc/self/ns/user; id -u",
            ],
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], ns(&pid, "user"), "its user namespace");
        assert_eq!(lines[1], "0", "root of the container's user namespace");
    }
    HostSnapshot::assert_clean_since(&before, "exec --userns");
}

/// `exec -it` on a terminal of ours: the container's terminal has our size
/// at once, and follows it when ours is resized (SIGWINCH -> TIOCSWINSZ).
#[test]
fn exec_t_follows_the_clients_terminal_size() {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("exec/busybox:1");
    let state = StateDir::new("exec-winsize");
    md(&state, &["pull", &image]);
    let before = HostSnapshot::take();
    {
        let container = Detached::start(&state, &image, &["--network", "none"]);
        let size = |rows: u16, cols: u16| nix::pty::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(Some(&size(30, 100)), None).unwrap();
        let slave = pty.slave.as_raw_fd();
        // The pty is the client's controlling terminal, as a terminal
        // emulator's is its shell's: a resize signals the client.
        let mut command =
            mini_docker_command(&state, &["--reference", "exec", "-it", &container.id, "sh"]);
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(move || {
                nix::unistd::setsid()?;
                if libc::ioctl(slave, libc::TIOCSCTTY, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                for fd in 0..3 {
                    nix::unistd::dup2(slave, fd)?;
                }
                Ok(())
            });
        }
        let mut child = command.spawn().unwrap();
        drop(pty.slave);
        let master = std::fs::File::from(pty.master);
        let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        {
            let (mut master, seen) = (master.try_clone().unwrap(), seen.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = master.read(&mut buf) {
                    seen.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        let wait_for = |wanted: &str| {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while !seen.lock().unwrap().contains(wanted) {
                assert!(
                    std::time::Instant::now() < deadline,
                    "no {wanted:?} in: {:?}",
                    seen.lock().unwrap()
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        };
        let mut typed = &master;
        // $((...)): the answer is not the echo of what was typed.
        typed
            .write_all(b"echo size=$(stty size)=$((6*7))\n")
            .unwrap();
        wait_for("size=30 100=42");
        // SAFETY: TIOCSWINSZ reads one winsize from a valid reference.
        let resized = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size(40, 120)) };
        assert_eq!(resized, 0);
        std::thread::sleep(std::time::Duration::from_millis(300));
        typed
            .write_all(b"echo size=$(stty size)=$((6*8))\n")
            .unwrap();
        wait_for("size=40 120=48");
        typed.write_all(b"exit 5\n").unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(5));
    }
    HostSnapshot::assert_clean_since(&before, "exec -it on our terminal");
}

/// A user of the host, made for one test and deleted after.
struct HostUser {
    name: String,
    uid: u32,
    gid: u32,
}

impl HostUser {
    fn create() -> HostUser {
        let name = format!("mdexec{}", std::process::id() % 100_000);
        let made = std::process::Command::new("useradd")
            .args(["-M", "-s", "/bin/sh", &name])
            .status()
            .unwrap();
        assert!(made.success(), "useradd {name}");
        let id = |flag: &str| -> u32 {
            let out = std::process::Command::new("id")
                .args([flag, &name])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
        };
        HostUser {
            uid: id("-u"),
            gid: id("-g"),
            name,
        }
    }
}

impl Drop for HostUser {
    fn drop(&mut self) {
        let _ = std::process::Command::new("userdel")
            .arg(&self.name)
            .status();
    }
}

/// Rootless: `run -d` (images need root here) says so in one line, before
/// any pull; a container `chapter 12 run` records rootless is entered by a
/// rootless `exec`: its user namespace first, then the rest, as root of it
/// (setgroups is "deny" there: the groups are left as the container has them).
#[test]
fn rootless_exec_enters_a_rootless_container_and_run_d_says_it_needs_root() {
    use std::os::unix::process::CommandExt;
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("exec/busybox:1");
    let user = HostUser::create();
    let state = StateDir::new("exec-rootless");
    std::os::unix::fs::chown(state.path(), Some(user.uid), Some(user.gid)).unwrap();
    let before = HostSnapshot::take();
    let rootless = |args: &[&str]| {
        let mut command = std::process::Command::new(BIN);
        command
            .arg("--reference")
            .arg("--state-dir")
            .arg(state.path().join("state"))
            .args(args)
            .env_remove("MINI_DOCKER_REFERENCE")
            .env("HOME", state.path())
            .current_dir("/")
            .uid(user.uid)
            .gid(user.gid);
        command
    };
    let out = rootless(&["run", "-d", &image, "true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).lines().collect::<Vec<_>>(),
        [
            "mini-docker: run -d needs root here (images are overlay layers owned by root); \
          rootless, `chapter 12 run` records a container that exec can enter"
        ],
        "one line, and no pull"
    );
    // PID 1 ends at SIGTERM (the supervisor forwards it), not after the stop timeout.
    let pid1 = "trap 'exit 0' TERM; while true; do sleep 0.1; done";
    let mut running = rootless(&[
        "chapter",
        "12",
        "run",
        "--hostname",
        "rl",
        "--",
        "sh",
        "-c",
        pid1,
    ])
    .stdout(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let mut id = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while id.is_empty() {
        assert!(std::time::Instant::now() < deadline, "ps never listed it");
        std::thread::sleep(std::time::Duration::from_millis(50));
        id = stdout(&rootless(&["ps", "-q"]).output().unwrap())
            .trim()
            .to_string();
    }
    let script = "id -u; hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; \
                  readlink /proc/self/ns/user; readlink /proc/self/ns/mnt";
    let out = rootless(&["exec", &id, "sh", "-c", script])
        .output()
        .unwrap();
    assert!(out.status.success(), "rootless exec: {}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    // ps -q shows the short id; the directory has the full one.
    let dir = fs::read_dir(state.path().join("state/containers"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with(&id))
        .unwrap();
    let record: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("state.json")).unwrap()).unwrap();
    let pid = record["pid"].as_i64().unwrap().to_string();
    assert_eq!(lines[0], "0", "root of its user namespace: {text}");
    assert_eq!(lines[1], "rl", "its hostname");
    assert_eq!(lines[2].trim(), format!("sh -c {pid1}"), "its PID 1");
    assert_eq!(lines[3], ns(&pid, "user"), "its user namespace");
    assert_eq!(lines[4], ns(&pid, "mnt"), "its mount namespace");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(running.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    running.wait().unwrap();
    HostSnapshot::assert_clean_since(&before, "rootless exec");
}
