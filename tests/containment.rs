//! What a container must not reach on the host, probed from inside it: no
//! host fd (the leaked directory fd of CVE-2024-21626), not the caller's
//! terminal (TIOCSTI) or redirected files, not the caller's environment; and
//! host users must not reach the state dir (a container's setuid file, the
//! starter rootfs's world-writable /tmp).

mod common;

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;
use mini_docker::checks::fixture::{build_image, busybox_layer, Auth, Registry};

/// The lines after `header` up to the next line ending in ':'.
fn section(output: &str, header: &str) -> Vec<String> {
    output
        .lines()
        .skip_while(|l| *l != header)
        .skip(1)
        .take_while(|l| !l.ends_with(':'))
        .map(str::to_string)
        .collect()
}

/// A file in the state dir's parent: what an fd of the state dir's would
/// reach with `/proc/1/fd/N/../..`. Removed when dropped.
struct Sentinel {
    path: std::path::PathBuf,
    secret: String,
}

impl Sentinel {
    fn plant(state_dir: &Path) -> Sentinel {
        let name = format!("mini-docker-sentinel-{}", std::process::id());
        let path = state_dir.parent().unwrap().join(&name);
        let secret = format!(
            "HOST-SECRET-{}",
            mini_docker::checks::random_hex(6).unwrap()
        );
        fs::write(&path, &secret).unwrap();
        Sentinel { path, secret }
    }

    fn name(&self) -> String {
        self.path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// PID 1's fds, the probe's own, where PID 1's stdout leads, and every
/// `/proc/1/fd/N/../..` walk up to six levels towards the sentinel.
fn fd_probe(sentinel: &str) -> String {
    format!(
        "echo pid1:; ls /proc/1/fd || echo denied; echo self:; ls /proc/self/fd; echo out:; readlink /proc/1/fd/1; \
         echo walk:; for n in /proc/1/fd/*; do p=$n; for i in 1 2 3 4 5 6; do p=$p/..; \
         cat $p/{sentinel} 2>/dev/null; done; done; echo end:"
    )
}

/// Run the probe with stdout redirected to a file (the attacker reads that
/// back through /proc/1/fd/1 if it is handed in); what it printed.
fn run_probe(command: &mut Command, out_file: &Path) -> (Output, String) {
    let file = fs::File::create(out_file).unwrap();
    let out = command.stdout(Stdio::from(file)).output().unwrap();
    (out, fs::read_to_string(out_file).unwrap())
}

fn assert_no_host_fd(what: &str, output: &str, err: &str, sentinel: &Sentinel) {
    let pid1 = section(output, "pid1:");
    // With --userns as root, the init changed credentials after clone: it
    // is not dumpable and its /proc/1/fd is the host root's, closed to the
    // container. That is a defence too; everything below must still hold.
    let closed_to_us = pid1 == ["denied"] && what.contains("--userns");
    if !closed_to_us {
        assert_eq!(
            pid1,
            ["0", "1", "2"],
            "{what}: PID 1 holds more than its stdio\n{output}\nstderr: {err}"
        );
        let out = section(output, "out:");
        assert!(
            out.len() == 1 && out[0].starts_with("pipe:"),
            "{what}: PID 1's stdout is the caller's file, not a pipe: {out:?}"
        );
    }
    assert_eq!(
        section(output, "self:"),
        ["0", "1", "2", "3"],
        "{what}: the command holds more than its stdio (and ls's directory)\n{output}"
    );
    assert!(
        !output.contains(&sentinel.secret),
        "{what}: a /proc/1/fd/N/../.. walk reached the host's files\n{output}"
    );
    assert!(section(output, "walk:").is_empty(), "{what}: {output}");
}

/// Every mode, in place and re-executed (`__inside`): PID 1 and the command
/// hold only stdin, stdout and stderr — pipes — and no walk from an fd
/// reaches the host.
#[test]
fn no_host_fd_reaches_the_container() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("nohostfd");
    let sentinel = Sentinel::plant(state.path());
    let before = HostSnapshot::take();
    let probe = fd_probe(&sentinel.name());
    let out_file =
        std::env::temp_dir().join(format!("mini-docker-probe-out-{}", std::process::id()));
    let modes: [&[&str]; 5] = [
        &[],
        &["--network", "none"],
        &["--init", "--network", "none"],
        &["--init", "--network", "bridge"],
        &["--userns", "--init"],
    ];
    for reexec in [false, true] {
        for mode in modes {
            let mut args = vec!["--reference", "chapter", "8", "run"];
            args.extend_from_slice(mode);
            args.extend(["--", "/bin/sh", "-c", &probe]);
            let mut command = mini_docker_command(&state, &args);
            if reexec {
                command.env("MINI_DOCKER_REEXEC", "1");
            }
            let (out, output) = run_probe(&mut command, &out_file);
            let what = format!("chapter 8 run {mode:?} (re-exec: {reexec})");
            assert!(out.status.success(), "{what}: {}", text(&out.stderr));
            assert_no_host_fd(&what, &output, &text(&out.stderr), &sentinel);
        }
    }
    let _ = fs::remove_file(&out_file);
    drop(sentinel);
    HostSnapshot::assert_clean_since(&before, "fd probes");
}

/// Rootless (`nobody`), with and without --init: the same.
#[test]
fn no_host_fd_reaches_a_rootless_container() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("nohostfd-rootless");
    std::os::unix::fs::chown(state.path(), Some(65534), Some(65534)).unwrap();
    let sentinel = Sentinel::plant(&state.path().join("state"));
    let probe = fd_probe(&sentinel.name());
    let out_file = state.path().join("out");
    for mode in [&[][..], &["--init"][..]] {
        for reexec in [false, true] {
            let mut command = Command::new(BIN);
            command
                .arg("--reference")
                .arg("--state-dir")
                .arg(state.path().join("state"))
                .args(["chapter", "7", "run"])
                .args(mode)
                .args(["--", "/bin/sh", "-c", &probe])
                .env_remove("MINI_DOCKER_REFERENCE")
                .env("HOME", state.path())
                .current_dir("/")
                .uid(65534)
                .gid(65534);
            if reexec {
                command.env("MINI_DOCKER_REEXEC", "1");
            }
            let (out, output) = run_probe(&mut command, &out_file);
            let what = format!("rootless chapter 7 run {mode:?} (re-exec: {reexec})");
            assert!(out.status.success(), "{what}: {}", text(&out.stderr));
            assert_no_host_fd(&what, &output, &text(&out.stderr), &sentinel);
        }
    }
}

/// Started from a terminal, the container never holds the caller's terminal:
/// - stdout not a terminal (so no pty of its own): it is in a session of its
///   own and holds no terminal fd, so TIOCSTI on its stdin, stdout, stderr
///   and /dev/tty fails;
/// - stdin and stdout a terminal (`chapter 5 run` then gives the container a
///   pty of its own devpts, like `run -it`): TIOCSTI may type into that pty,
///   which only the container reads — never into the caller's.
///
/// Either way nothing waits in the caller's terminal's input queue.
#[test]
fn tiocsti_cannot_type_into_the_callers_terminal() {
    use std::os::unix::fs::PermissionsExt;
    require_root();
    let _serial = serial();
    let state = StateDir::new("tiocsti");
    let helper_dir = state.path().join("helper");
    fs::create_dir(&helper_dir).unwrap();
    fs::write(helper_dir.join("tiocsti"), mini_docker::checks::TIOCSTI).unwrap();
    fs::set_permissions(
        helper_dir.join("tiocsti"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let volume = format!("{}:/helper", helper_dir.display());
    let before = HostSnapshot::take();
    for mode in [&[][..], &["--init"][..]] {
        for stdout_is_the_terminal in [false, true] {
            let (shown, queued, ok) = tiocsti_probe(&state, &volume, mode, stdout_is_the_terminal);
            let what = format!("{mode:?}, stdout a terminal: {stdout_is_the_terminal}");
            assert!(ok, "{what}: {shown}");
            assert!(
                shown.contains("fd 1: ") && shown.contains("fd /dev/tty: "),
                "{what}: the helper did not run: {shown}"
            );
            if !stdout_is_the_terminal {
                assert!(
                    !shown.contains("injected") && !shown.contains("INJECTED-42"),
                    "{what}: TIOCSTI reached a terminal: {shown}"
                );
            }
            assert!(
                !queued.contains("INJECTED-42"),
                "{what}: TIOCSTI queued input for the caller's shell: {queued}"
            );
        }
    }
    HostSnapshot::assert_clean_since(&before, "TIOCSTI probe");
}

/// Run the TIOCSTI helper in `chapter 5 run` whose caller's controlling
/// terminal is a pty of ours; (what it printed, what waits in the caller's
/// input queue, whether mini-docker exited 0).
fn tiocsti_probe(
    state: &StateDir,
    volume: &str,
    mode: &[&str],
    stdout_is_the_terminal: bool,
) -> (String, String, bool) {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    // Our own pty stands in for the caller's terminal (a root shell's).
    let pty = nix::pty::openpty(None, None).unwrap();
    let slave = pty.slave.as_raw_fd();
    let mut args = vec!["--reference", "chapter", "5", "run", "-v", volume];
    args.extend_from_slice(mode);
    args.extend(["--", "/helper/tiocsti"]);
    let mut command = mini_docker_command(state, &args);
    command
        .stdin(Stdio::from(pty.slave.try_clone().unwrap()))
        .stderr(Stdio::from(pty.slave.try_clone().unwrap()));
    if stdout_is_the_terminal {
        command.stdout(Stdio::from(pty.slave.try_clone().unwrap()));
    } else {
        command.stdout(Stdio::piped());
    }
    // SAFETY: pre_exec runs in the forked child before exec; setsid and
    // ioctl are async-signal-safe, and `slave` stays open (the Command holds dups).
    unsafe {
        command.pre_exec(move || {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            if libc::ioctl(slave, libc::TIOCSCTTY, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    drop(command); // its copies of the slave: the master reads EIO once ours goes too
    let master = fs::File::from(pty.master);
    let reader = {
        let mut master = master.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            // EIO once the last slave fd closes.
            while let Ok(n @ 1..) = master.read(&mut buf) {
                seen.extend_from_slice(&buf[..n]);
            }
            seen
        })
    };
    let mut piped = Vec::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout.read_to_end(&mut piped).unwrap();
    }
    let status = child.wait().unwrap();
    // Injected input waits in the slave's input queue (and is echoed to
    // the master): read it without blocking.
    nix::fcntl::fcntl(
        pty.slave.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .unwrap();
    let mut queued = Vec::new();
    let _ = fs::File::from(pty.slave).read_to_end(&mut queued);
    let mut shown = reader.join().unwrap();
    shown.extend(piped);
    drop(master);
    (text(&shown), text(&queued), status.success())
}

/// Only what the image, `-e` and docker's defaults define: nothing of the
/// caller's environment (HOME, SHLVL, TERM), TERM=xterm only with -t.
#[test]
fn the_callers_environment_stays_out() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("callerenv");
    let out = mini_docker_command(&state, &["--reference", "chapter", "5", "run", "--", "env"])
        .env("HOME", "/evil")
        .env("SHLVL", "7")
        .env("TERM", "evil-term")
        .env("SECRET_TOKEN", "hunter2")
        .output()
        .unwrap();
    let env = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for leaked in ["/evil", "SHLVL", "evil-term", "TERM=", "hunter2"] {
        assert!(!env.contains(leaked), "{leaked} leaked in:\n{env}");
    }
    assert!(env.lines().any(|l| l == "HOME=/root"), "{env}");
    assert!(
        env.lines()
            .any(|l| l == "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        "{env}"
    );
}

/// As `nobody`: STATE/containers/ID/upper (a kept container's writable
/// layer, where the container may have left a setuid-root file) can be
/// neither listed nor traversed, the starter rootfs's /tmp not written; and
/// `--userns` (container root = host uid 100000) still reaches its layers.
#[test]
fn host_users_cannot_reach_the_state_dir() {
    require_root();
    let _serial = serial();
    let registry = Registry::start(Auth::Token).unwrap();
    let layout = build_image(&[busybox_layer().unwrap()], serde_json::json!({})).unwrap();
    registry
        .push(&layout.dir, "single", "contain/state:1", None)
        .unwrap();
    let image = format!("{}/contain/state:1", registry.address());
    let state = StateDir::new("private-state");
    // Made by mini-docker, as /var/lib/mini-docker would be.
    fs::remove_dir(state.path()).unwrap();
    let before = HostSnapshot::take();
    // A kept container with a setuid-root copy of busybox in its upper layer.
    let out = mini_docker(
        &state,
        &[
            "--reference",
            "run",
            "--network",
            "none",
            "--name",
            "kept",
            &image,
            "sh",
            "-c",
            "cp /bin/busybox /tmp/suid && chmod 4755 /tmp/suid",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = mini_docker(
        &state,
        &["--reference", "chapter", "7", "run", "--", "true"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let containers: Vec<_> = fs::read_dir(state.path().join("containers"))
        .unwrap()
        .flatten()
        .collect();
    let upper = containers[0].path().join("upper");
    assert!(upper.join("tmp/suid").exists(), "the probe file is there");
    let starter_tmp = state.path().join("rootfs/busybox/tmp");
    assert!(starter_tmp.is_dir());
    let as_nobody = |script: &str| -> Output {
        Command::new("/bin/sh")
            .args(["-c", script])
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap()
    };
    for (what, script) in [
        ("list the upper layer", format!("ls {}", upper.display())),
        (
            "traverse the upper layer",
            format!("stat {}/tmp/suid", upper.display()),
        ),
        (
            "run the setuid file",
            format!("{}/tmp/suid id -u", upper.display()),
        ),
        (
            "write the starter rootfs's /tmp",
            format!("touch {}/x", starter_tmp.display()),
        ),
        (
            "list the state dir",
            format!("ls {}", state.path().display()),
        ),
    ] {
        let out = as_nobody(&script);
        assert!(
            !out.status.success(),
            "nobody could {what}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    // --userns: the remapped root still reaches the layers and the rootfs.
    let out = mini_docker(
        &state,
        &[
            "--reference",
            "run",
            "--rm",
            "--network",
            "none",
            "--userns",
            &image,
            "id",
            "-u",
        ],
    );
    assert!(out.status.success(), "--userns: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "0\n");
    let out = mini_docker(
        &state,
        &[
            "--reference",
            "chapter",
            "7",
            "run",
            "--userns",
            "--network",
            "none",
            "--",
            "id",
            "-u",
        ],
    );
    assert!(
        out.status.success(),
        "chapter 7 --userns: {}",
        text(&out.stderr)
    );
    // run IMAGE --init: PID 1 holds its stdio only.
    let out = mini_docker(
        &state,
        &[
            "--reference",
            "run",
            "--rm",
            "--network",
            "none",
            "--init",
            &image,
            "ls",
            "/proc/1/fd",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "0\n1\n2\n", "run IMAGE --init");
    HostSnapshot::assert_clean_since(&before, "state dir privacy");
}
