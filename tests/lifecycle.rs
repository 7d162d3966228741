//! Chapter 12's lifecycle, against a busybox image in a local registry:
//! `run -d` and its shim, `ps`, `logs`, `stop`, `kill`, `start`, `rm`,
//! `wait`, `inspect`, names and id prefixes, a shim killed with SIGKILL,
//! log rotation, and twenty detached containers that leave nothing behind.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::*;

/// `run -d ARGS`: the id it printed (it must succeed).
fn run_d(state: &StateDir, args: &[&str]) -> String {
    let mut all = vec!["run", "-d"];
    all.extend_from_slice(args);
    let out = md(state, &all);
    assert!(out.status.success(), "run -d failed: {}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    eprintln!("started {id}");
    assert!(is_full_id(&id), "run -d prints the full id: {id:?}");
    id
}

/// docker's id: 64 lowercase hex digits.
fn is_full_id(id: &str) -> bool {
    id.len() == 64
        && id
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

/// The 12 digits `ps` shows.
fn short(id: &str) -> &str {
    &id[..12]
}

fn state_json(state: &StateDir, id: &str) -> serde_json::Value {
    let path = state.path().join("containers").join(id).join("state.json");
    serde_json::from_slice(&fs::read(&path).unwrap()).unwrap()
}

fn inspect(state: &StateDir, name: &str) -> serde_json::Value {
    let out = md(state, &["inspect", name]);
    assert!(out.status.success(), "{}", stderr(&out));
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    all[0].clone()
}

/// The shims still alive for this state dir (none may outlive `rm`).
fn shims(state: &StateDir) -> Vec<i32> {
    let wanted = state.path().to_string_lossy().into_owned();
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|pid| {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            text.contains("__shim") && text.contains(&wanted)
        })
        .collect()
}

/// `rm -f` of every container of the state dir when dropped: a test that
/// fails half-way leaves no container running into the next one's snapshot.
struct RemoveAll<'a>(&'a StateDir);

impl Drop for RemoveAll<'_> {
    fn drop(&mut self) {
        let ids = stdout(&md(self.0, &["ps", "-aq"]));
        let mut args = vec!["rm", "-f"];
        args.extend(ids.lines());
        if args.len() > 2 {
            md(self.0, &args);
        }
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn detached_container_logs_stops_after_the_timeout_and_rm_leaves_the_host_clean() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("life/busybox:1");
    let state = StateDir::new("life-main");
    let _remove_all = RemoveAll(&state);
    md(&state, &["pull", &image]);
    let before = HostSnapshot::take();
    let started = Instant::now();
    // PID 1 ignores SIGTERM: stop must wait its timeout, then SIGKILL (137).
    let script = "trap '' TERM; echo hello; echo oops >&2; while true; do sleep 1; done";
    let id = run_d(&state, &["--name", "web", &image, "sh", "-c", script]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "run -d returns at once"
    );
    let ps = stdout(&md(&state, &["ps"]));
    let row = ps
        .lines()
        .find(|l| l.starts_with(short(&id)))
        .unwrap_or_else(|| panic!("ps lists it: {ps}"));
    assert!(row.contains("Up ") && row.ends_with("web"), "{ps}");
    assert!(ps.starts_with("CONTAINER ID"), "{ps}");
    assert_eq!(
        stdout(&md(&state, &["ps", "-q"])),
        format!("{}\n", short(&id))
    );
    wait_for("the output in the log", || {
        stdout(&md(&state, &["logs", "web"])) == "hello\n"
    });
    assert_eq!(stderr(&md(&state, &["logs", "web"])), "oops\n");
    let timed = Instant::now();
    let out = md(&state, &["stop", "-t", "1", "web"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "web\n");
    assert!(
        timed.elapsed() >= Duration::from_secs(1),
        "stop waited its timeout"
    );
    let ps = stdout(&md(&state, &["ps", "-a"]));
    assert!(ps.contains("Exited (137)"), "{ps}");
    assert!(
        stdout(&md(&state, &["ps"])).lines().count() == 1,
        "ps without -a: only the header"
    );
    assert_eq!(inspect(&state, "web")["State"]["ExitCode"], 137);
    let out = md(&state, &["rm", "web"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(shims(&state).is_empty(), "no shim outlives its container");
    assert!(!state.path().join("containers").join(&id).exists());
    assert!(
        !state.path().join("names/web").exists(),
        "the name is free again"
    );
    HostSnapshot::assert_clean_since(&before, "run -d, stop, rm");
}

#[test]
fn rm_refuses_a_running_container_and_force_removes_it() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("life/busybox:1");
    let state = StateDir::new("life-rm");
    let _remove_all = RemoveAll(&state);
    let before = HostSnapshot::take();
    let id = run_d(
        &state,
        &[
            "--network",
            "none",
            "--name",
            "busy",
            &image,
            "sleep",
            "1000",
        ],
    );
    let out = md(&state, &["rm", "busy"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        stderr(&out),
        "mini-docker: cannot remove container \"/busy\": container is running: stop the \
         container before removing or force remove\n"
    );
    let out = md(&state, &["rm", "-f", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(shims(&state).is_empty());
    HostSnapshot::assert_clean_since(&before, "rm -f");
}

#[test]
fn start_runs_it_again_with_its_writable_layer_and_wait_prints_the_status() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("life/busybox:1");
    let state = StateDir::new("life-start");
    let _remove_all = RemoveAll(&state);
    let before = HostSnapshot::take();
    let script = "echo run >> /count; wc -l < /count; exit 3";
    let id = run_d(&state, &["--network", "none", &image, "sh", "-c", script]);
    let out = md(&state, &["wait", &id]);
    assert_eq!(stdout(&out), "3\n", "wait prints the exit status");
    let out = md(&state, &["start", "-a", &id]);
    assert_eq!(out.status.code(), Some(3), "start -a exits with its status");
    assert_eq!(
        stdout(&out),
        "2\n",
        "the file written by the first run is still there"
    );
    assert_eq!(stdout(&md(&state, &["logs", &id])), "1\n2\n");
    let out = md(&state, &["start", &id]);
    assert_eq!(stdout(&out), format!("{id}\n"));
    assert_eq!(stdout(&md(&state, &["wait", &id])), "3\n");
    assert!(md(&state, &["rm", &id]).status.success());
    HostSnapshot::assert_clean_since(&before, "start");
}

#[test]
fn kill_sends_the_signal_it_is_given() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("life/busybox:1");
    let state = StateDir::new("life-kill");
    let _remove_all = RemoveAll(&state);
    let script = "trap 'exit 7' USR1; while true; do sleep 0.1; done";
    let id = run_d(&state, &["--network", "none", &image, "sh", "-c", script]);
    std::thread::sleep(Duration::from_millis(300)); // the trap is set
    let out = md(&state, &["kill", "-s", "USR1", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&md(&state, &["wait", &id])), "7\n");
    let out = md(&state, &["kill", &id]);
    assert_eq!(
        out.status.code(),
        Some(125),
        "not running: {}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("is not running"), "{}", stderr(&out));
    assert!(md(&state, &["rm", &id]).status.success());
}

#[test]
fn inspect_shows_dockers_fields() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("life/busybox:1");
    let state = StateDir::new("life-inspect");
    let _remove_all = RemoveAll(&state);
    let id = run_d(&state, &["--name", "insp", &image, "sleep", "1000"]);
    let info = inspect(&state, "insp");
    assert_eq!(info["Id"], id.as_str());
    assert_eq!(info["Name"], "/insp");
    assert_eq!(info["State"]["Status"], "running");
    assert_eq!(info["State"]["Running"], true);
    assert_eq!(info["State"]["OOMKilled"], false);
    let pid = info["State"]["Pid"].as_i64().unwrap();
    assert!(
        fs::metadata(format!("/proc/{pid}")).is_ok(),
        "Pid is the container's PID 1"
    );
    assert_eq!(info["Config"]["Cmd"], serde_json::json!(["sleep", "1000"]));
    assert_eq!(info["Config"]["Image"], image.as_str());
    let address = info["NetworkSettings"]["IPAddress"].as_str().unwrap();
    assert!(address.starts_with("10.88."), "{address}");
    assert!(info["State"]["StartedAt"].as_str().unwrap().ends_with('Z'));
    let out = md(&state, &["inspect", "nothing-here"]);
    assert_eq!(out.status.code(), Some(125));
    // An image: its config digest, tags, platform.
    let images: serde_json::Value =
        serde_json::from_str(&stdout(&md(&state, &["inspect", &image]))).unwrap();
    let picture = &images[0];
    assert!(
        picture["Id"].as_str().unwrap().starts_with("sha256:"),
        "{images}"
    );
    assert!(
        picture["RepoTags"][0]
            .as_str()
            .unwrap()
            .ends_with("busybox:1"),
        "{images}"
    );
    assert_eq!(picture["Os"], "linux", "{images}");
    assert!(md(&state, &["rm", "-f", "insp"]).status.success());
}

#[test]
fn names_are_unique_and_id_prefixes_resolve() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("life/busybox:1");
    let state = StateDir::new("life-names");
    let _remove_all = RemoveAll(&state);
    let id = run_d(
        &state,
        &[
            "--network",
            "none",
            "--name",
            "dup",
            &image,
            "sleep",
            "1000",
        ],
    );
    let out = md(
        &state,
        &[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            "dup",
            &image,
            "true",
        ],
    );
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        stderr(&out),
        format!(
            "mini-docker: Conflict. The container name \"/dup\" is already in use by container \
             \"{id}\". You have to remove (or rename) that container to be able to reuse that name.\n"
        )
    );
    let dirs = fs::read_dir(state.path().join("containers"))
        .unwrap()
        .count();
    assert_eq!(dirs, 1, "the refused container left nothing");
    let out = md(&state, &["inspect", &id[..4]]);
    assert!(out.status.success(), "a prefix resolves: {}", stderr(&out));
    let out = md(&state, &["stop", "nope"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(stderr(&out), "mini-docker: no such container: nope\n");
    assert!(md(&state, &["rm", "-f", &id[..4]]).status.success());
}

#[test]
fn a_shim_killed_with_sigkill_takes_its_container_and_rm_cleans_up() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("life/busybox:1");
    let state = StateDir::new("life-shimkill");
    let _remove_all = RemoveAll(&state);
    md(&state, &["pull", &image]);
    // As root, and as a -u user: the kernel clears the parent-death signal
    // when the command changes its credentials, so it must be set again.
    for user in [&[][..], &["-u", "65534"][..]] {
        let before = HostSnapshot::take();
        let mut args = user.to_vec();
        args.extend_from_slice(&[&image, "sleep", "1000"]);
        let id = run_d(&state, &args);
        let recorded = state_json(&state, &id);
        let (shim, pid) = (
            recorded["shim_pid"].as_i64().unwrap(),
            recorded["pid"].as_i64().unwrap(),
        );
        assert_eq!(
            shims(&state),
            vec![shim as i32],
            "one shim, the recorded one"
        );
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(shim as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        wait_for("the container to die with its shim", || {
            fs::read_to_string(format!("/proc/{pid}/stat")).is_err()
        });
        let ps = stdout(&md(&state, &["ps", "-a"]));
        assert!(ps.contains("Exited (137)"), "{user:?}: {ps}");
        let out = md(&state, &["rm", &id]);
        assert!(out.status.success(), "{}", stderr(&out));
        HostSnapshot::assert_clean_since(&before, "a killed shim, then rm");
        assert_state_dir_clean(&state);
    }
}

#[test]
fn logs_rotate_under_their_size_cap() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("life/busybox:1");
    let state = StateDir::new("life-logs");
    let _remove_all = RemoveAll(&state);
    let script = "i=0; while [ $i -lt 500 ]; do echo line $i; i=$((i+1)); done";
    let args = [
        "--network",
        "none",
        "--log-opt",
        "max-size=2k",
        "--log-opt",
        "max-file=2",
        &image,
        "sh",
        "-c",
        script,
    ];
    let id = run_d(&state, &args);
    assert_eq!(stdout(&md(&state, &["wait", &id])), "0\n");
    let log = state
        .path()
        .join("containers")
        .join(&id)
        .join(format!("{id}-json.log"));
    let size = |p: &std::path::Path| fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    assert!(size(&log) <= 2048, "capped: {} bytes", size(&log));
    assert!(
        size(&log.with_extension("log.1")) > 0,
        "rotated once at least"
    );
    assert!(
        !log.with_extension("log.2").exists(),
        "max-file=2: two files"
    );
    let line = fs::read_to_string(&log)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_string();
    let record: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(record["log"], "line 499\n");
    assert_eq!(record["stream"], "stdout");
    assert!(record["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        stdout(&md(&state, &["logs", "--tail", "2", &id])),
        "line 498\nline 499\n"
    );
    assert!(md(&state, &["rm", &id]).status.success());
}

#[test]
fn twenty_detached_containers_at_once_and_rm_f_of_all_leaves_the_host_clean() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("life/busybox:1");
    let state = StateDir::new("life-twenty");
    let _remove_all = RemoveAll(&state);
    md(&state, &["pull", &image]);
    let before = HostSnapshot::take();
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|_| s.spawn(|| run_d(&state, &[&image, "sleep", "1000"])))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let listed = stdout(&md(&state, &["ps", "-q"]));
    let mut listed: Vec<&str> = listed.lines().collect();
    let mut expected: Vec<&str> = ids.iter().map(|id| short(id)).collect();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected, "ps lists all twenty");
    let mut args = vec!["rm", "-f"];
    args.extend(expected.iter());
    let out = md(&state, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(shims(&state).is_empty(), "no shim left");
    HostSnapshot::assert_clean_since(&before, "twenty detached containers, rm -f");
    assert_state_dir_clean(&state);
}

#[test]
fn rm_with_detach_removes_the_container_when_it_ends_and_logs_follow_to_the_end() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("life/busybox:1");
    let state = StateDir::new("life-rmd");
    let _remove_all = RemoveAll(&state);
    let script = "echo first; sleep 1; echo second";
    let id = run_d(&state, &["--network", "none", &image, "sh", "-c", script]);
    let out = md(&state, &["logs", "-f", &id]);
    assert_eq!(stdout(&out), "first\nsecond\n", "-f follows until it ends");
    let stamped = stdout(&md(&state, &["logs", "-t", &id]));
    let (time, line) = stamped.lines().next().unwrap().split_once(' ').unwrap();
    assert!(
        time.starts_with("20") && time.ends_with('Z') && line == "first",
        "{stamped}"
    );
    assert!(md(&state, &["rm", &id]).status.success());
    let id = run_d(&state, &["--rm", "--network", "none", &image, "sleep", "1"]);
    let dir = state.path().join("containers").join(&id);
    assert!(dir.exists(), "there while it runs");
    wait_for("--rm to remove it", || !dir.exists());
    assert_state_dir_clean(&state);
}

#[test]
fn an_oom_killed_container_says_so() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("life/busybox:1");
    let state = StateDir::new("life-oom");
    let _remove_all = RemoveAll(&state);
    // PID 1 itself grows past the limit: the OOM killer takes it (137).
    let script = "a=$(head -c 64000000 /dev/zero | tr '\\0' x); echo never";
    let args = ["--network", "none", "-m", "8m", &image, "sh", "-c", script];
    let id = run_d(&state, &args);
    assert_eq!(stdout(&md(&state, &["wait", &id])), "137\n");
    assert_eq!(inspect(&state, &id)["State"]["OOMKilled"], true);
    assert!(stdout(&md(&state, &["ps", "-a"])).contains("Exited (137)"));
}

#[test]
fn restart_runs_it_again_and_stop_of_a_graceful_one_is_quick() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("life/busybox:1");
    let state = StateDir::new("life-restart");
    let _remove_all = RemoveAll(&state);
    let script = "trap 'exit 143' TERM; while true; do sleep 0.1; done";
    let id = run_d(&state, &["--network", "none", &image, "sh", "-c", script]);
    std::thread::sleep(Duration::from_millis(300)); // the trap is set
    let first = inspect(&state, &id)["State"]["Pid"].clone();
    let out = md(&state, &["restart", "-t", "5", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let info = inspect(&state, &id);
    assert_eq!(info["State"]["Running"], true);
    assert_ne!(info["State"]["Pid"], first, "a new PID 1");
    std::thread::sleep(Duration::from_millis(300));
    let timed = Instant::now();
    assert!(md(&state, &["stop", &id]).status.success());
    assert!(
        timed.elapsed() < Duration::from_secs(5),
        "its TERM trap ends it at once"
    );
    assert_eq!(stdout(&md(&state, &["wait", &id])), "143\n");
}

#[test]
fn the_shim_holds_nothing_of_its_client() {
    use std::os::fd::AsRawFd;
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("life/busybox:1");
    let state = StateDir::new("life-fds");
    let _remove_all = RemoveAll(&state);
    // A file the client inherits and would pass on (no close-on-exec).
    let marker = state.path().join("client-only");
    let file = fs::File::create(&marker).unwrap();
    nix::fcntl::fcntl(
        file.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )
    .unwrap();
    let id = run_d(&state, &["--network", "none", &image, "sleep", "1000"]);
    drop(file);
    let shim = state_json(&state, &id)["shim_pid"].as_i64().unwrap();
    let held: Vec<String> = fs::read_dir(format!("/proc/{shim}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| fs::read_link(e.path()).ok())
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        !held.iter().any(|p| p.contains("client-only")),
        "the client's fd leaked into the shim: {held:?}"
    );
    assert_eq!(
        fs::read_link(format!("/proc/{shim}/fd/0")).unwrap(),
        std::path::Path::new("/dev/null")
    );
    assert!(!held.iter().any(|p| p.starts_with("/dev/pts")), "{held:?}");
    let session = fs::read_to_string(format!("/proc/{shim}/stat")).unwrap();
    let fields: Vec<&str> = session
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    // Its parent (the client's child) exited: it belongs to init (or a subreaper).
    assert_ne!(fields[1], std::process::id().to_string(), "not our child");
    let zombies_of_ours = fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            let f: Vec<&str> = stat
                .rsplit(')')
                .next()
                .unwrap()
                .split_whitespace()
                .collect();
            f[0] == "Z" && f[1] == std::process::id().to_string()
        })
        .count();
    assert_eq!(zombies_of_ours, 0, "the client reaped the shim's parent");
    assert_ne!(fields[3], shim.to_string(), "in a session, not its leader");
}

#[test]
fn a_kept_foreground_container_is_listed_and_can_be_started_again() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("life/busybox:1");
    let state = StateDir::new("life-fg");
    let _remove_all = RemoveAll(&state);
    let script = "cat /f 2>/dev/null; echo hi > /f; exit 4";
    let out = md(
        &state,
        &["run", "--network", "none", &image, "sh", "-c", script],
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(stdout(&out), "", "attached as before");
    let id = stdout(&md(&state, &["ps", "-aq"])).trim().to_string();
    assert_eq!(id.len(), 12, "ps -a lists the kept container");
    assert!(stdout(&md(&state, &["ps", "-a"])).contains("Exited (4)"));
    let out = md(&state, &["start", "-a", &id]);
    assert_eq!(
        (out.status.code(), stdout(&out)),
        (Some(4), "hi\n".to_string())
    );
    let out = md(
        &state,
        &["run", "--rm", "--network", "none", &image, "true"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&md(&state, &["ps", "-aq"])).lines().count(),
        1,
        "--rm: nothing kept"
    );
}

#[test]
fn container_prune_removes_only_what_is_not_running_and_ps_speaks_json() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("life/busybox:1");
    let state = StateDir::new("life-prune");
    let _remove_all = RemoveAll(&state);
    let running = run_d(
        &state,
        &[
            "--network",
            "none",
            "--name",
            "keep",
            &image,
            "sleep",
            "1000",
        ],
    );
    let done = run_d(&state, &["--network", "none", &image, "true"]);
    assert_eq!(stdout(&md(&state, &["wait", &done])), "0\n");
    let out = stdout(&md(&state, &["ps", "-a", "--format", "json"]));
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{out}");
    let keep = rows.iter().find(|r| r["ID"] == short(&running)).unwrap();
    assert_eq!(
        (keep["State"].as_str(), keep["Names"].as_str()),
        (Some("running"), Some("keep"))
    );
    assert!(keep["Status"].as_str().unwrap().starts_with("Up "));
    let out = md(&state, &["container", "prune", "-f"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&done) && !stdout(&out).contains(&running));
    assert_eq!(
        stdout(&md(&state, &["ps", "-aq"])),
        format!("{}\n", short(&running))
    );
}

#[test]
fn concurrent_ps_exec_stop_and_rm_on_one_container_leave_it_whole_or_gone() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("life/busybox:1");
    let state = StateDir::new("life-race");
    let _remove_all = RemoveAll(&state);
    md(&state, &["pull", &image]);
    let before = HostSnapshot::take();
    let id = run_d(&state, &["--network", "none", &image, "sleep", "1000"]);
    let commands: [&[&str]; 7] = [
        &["ps", "-a"],
        &["exec", &id, "true"],
        &["stop", "-t", "0", &id],
        &["exec", &id, "sleep", "5"],
        &["rm", "-f", &id],
        &["inspect", &id],
        &["ps", "-a"],
    ];
    std::thread::scope(|s| {
        for args in commands {
            let state = &state;
            s.spawn(move || {
                let out = md(state, args);
                let err = stderr(&out);
                // Racing a removal may find it gone (or, for exec, stopped, or
                // its process killed with the container): that, and nothing else, may fail.
                let exec_lost_the_race = args[0] == "exec"
                    && (err.contains("not running") || out.status.code() == Some(137));
                assert!(
                    out.status.success() || err.contains("no such") || exec_lost_the_race,
                    "{args:?}: exit {:?}: {err}",
                    out.status.code()
                );
            });
        }
    });
    assert!(
        !state.path().join("containers").join(&id).exists(),
        "rm -f won"
    );
    assert!(shims(&state).is_empty());
    HostSnapshot::assert_clean_since(&before, "ps, exec, stop and rm at once");
}

#[test]
fn a_detached_container_in_a_user_namespace_serves_a_published_port() {
    use std::io::Read;
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("life/busybox:1");
    let state = StateDir::new("life-port");
    let _remove_all = RemoveAll(&state);
    md(&state, &["pull", &image]);
    let before = HostSnapshot::take();
    let port = 20000 + std::process::id() % 10000;
    let publish = format!("127.0.0.1:{port}:80");
    let script = "echo hi | busybox nc -l -p 80";
    let args = ["--userns", "-p", &publish, &image, "sh", "-c", script];
    let id = run_d(&state, &args);
    let row = stdout(&md(&state, &["ps"]));
    assert!(row.contains(&format!("127.0.0.1:{port}->80/tcp")), "{row}");
    let ports = &inspect(&state, &id)["NetworkSettings"]["Ports"]["80/tcp"][0];
    assert_eq!(ports["HostPort"], port.to_string());
    let mut answer = String::new();
    wait_for("the container to answer on its published port", || {
        answer.clear();
        std::net::TcpStream::connect(("127.0.0.1", port as u16))
            .and_then(|mut c| c.read_to_string(&mut answer))
            .is_ok()
            && answer == "hi\n"
    });
    assert_eq!(stdout(&md(&state, &["wait", &id])), "0\n");
    assert!(md(&state, &["rm", &id]).status.success());
    HostSnapshot::assert_clean_since(&before, "run -d --userns -p");
}

/// After a reboot (simulated: the recorded keeper is pid 1 now, another
/// process than the one recorded), the container is exited, and prune cleans it.
#[test]
fn a_recorded_keeper_that_is_another_process_now_means_exited() {
    let state = StateDir::new("life-reboot");
    let id = "0123456789ab";
    let dir = state.path().join("containers").join(id);
    fs::create_dir_all(dir.join("upper")).unwrap();
    let record = serde_json::json!({
        "id": id, "name": null, "image": "busybox", "command": ["sleep", "1000"], "env": [],
        "hostname": id, "created": 1, "status": "running", "pid": 1, "pid_start": 999_999_999u64,
        "shim_pid": 1, "shim_start": 999_999_999u64, "exit_code": null, "started": 1,
        "finished": 0, "oom_killed": false, "ports": [], "mounts": [], "ip_address": null,
        "auto_remove": false, "args": [], "cwd": "/",
    });
    fs::write(dir.join("state.json"), record.to_string()).unwrap();
    let ps = stdout(&md(&state, &["ps", "-a"]));
    assert!(
        ps.contains("Exited (137)"),
        "pid 1 is not the keeper it was: {ps}"
    );
    assert_eq!(stdout(&md(&state, &["ps", "-q"])), "", "not running");
    let out = md(&state, &["kill", id]);
    assert_eq!(
        out.status.code(),
        Some(125),
        "never a signal to a reused pid"
    );
    let out = md(&state, &["container", "prune"]);
    assert!(stdout(&out).contains(id), "{}", stderr(&out));
    assert!(!dir.exists());
}

/// docker's ids and names: 64 hex digits, 12 in `ps` and as the default
/// hostname, all 64 with `--no-trunc` and in `inspect`; an unnamed container
/// gets `adjective_surname`, shown in NAMES and good wherever a name is.
#[test]
fn ids_are_64_hex_digits_shown_as_12_and_unnamed_containers_get_a_name() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("life/busybox:1");
    let state = StateDir::new("life-ids");
    let _remove_all = RemoveAll(&state);
    let script = "echo hi; exec sleep 1000";
    let first = run_d(&state, &["--network", "none", &image, "sh", "-c", script]);
    let second = run_d(&state, &["--network", "none", &image, "sleep", "1000"]);
    assert_ne!(short(&first), short(&second));
    let ps = stdout(&md(&state, &["ps"]));
    let row = ps
        .lines()
        .find(|l| l.starts_with(short(&first)))
        .unwrap_or_else(|| panic!("ps lists it by its short id: {ps}"));
    assert!(!ps.contains(&first), "ps cuts the id to 12: {ps}");
    let name = row.split_whitespace().last().unwrap().to_string();
    let (adjective, surname) = name
        .split_once('_')
        .unwrap_or_else(|| panic!("adjective_surname: {row}"));
    assert!(
        [adjective, surname]
            .iter()
            .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric())),
        "{name}"
    );
    let names: Vec<String> = ps
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().last().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 2, "{ps}");
    assert_ne!(names[0], names[1], "unique names: {ps}");
    let wide = stdout(&md(&state, &["ps", "--no-trunc"]));
    assert!(wide.lines().any(|l| l.starts_with(&first)), "{wide}");
    let quiet = stdout(&md(&state, &["ps", "-q", "--no-trunc"]));
    assert!(quiet.lines().any(|l| l == first), "{quiet}");
    let info = inspect(&state, &name);
    assert_eq!(info["Id"], first.as_str());
    assert_eq!(info["Name"], format!("/{name}"));
    assert_eq!(info["Config"]["Hostname"], short(&first));
    // The generated name works wherever a name does: exec, logs, stop, rm.
    let out = md(&state, &["exec", &name, "hostname"]);
    assert_eq!(
        stdout(&out),
        format!("{}\n", short(&first)),
        "{}",
        stderr(&out)
    );
    wait_for("the output in the log", || {
        stdout(&md(&state, &["logs", &name])) == "hi\n"
    });
    let out = md(&state, &["stop", "-t", "0", &name]);
    assert_eq!(stdout(&out), format!("{name}\n"), "{}", stderr(&out));
    // `start` again: the same name, not a new one.
    assert!(md(&state, &["start", &name]).status.success());
    assert_eq!(inspect(&state, &first)["Name"], format!("/{name}"));
    let out = md(&state, &["rm", "-f", &name]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!state.path().join("names").join(&name).exists(), "freed");
    assert!(md(&state, &["rm", "-f", &second]).status.success());
}

/// A state record as the shim writes it, for container `id` named `name`.
fn fake_container(state: &StateDir, id: &str, name: Option<&str>) {
    let dir = state.path().join("containers").join(id);
    fs::create_dir_all(&dir).unwrap();
    let record = serde_json::json!({
        "id": id, "name": name, "image": "busybox", "command": ["true"], "env": [],
        "hostname": &id[..12], "created": 1, "status": "exited", "pid": 0, "pid_start": 0,
        "shim_pid": 0, "shim_start": 0, "exit_code": 0, "started": 1,
        "finished": 2, "oom_killed": false, "ports": [], "mounts": [], "ip_address": null,
        "auto_remove": false, "args": [], "cwd": "/",
    });
    fs::write(dir.join("state.json"), record.to_string()).unwrap();
    if let Some(name) = name {
        fs::create_dir_all(state.path().join("names")).unwrap();
        fs::write(state.path().join("names").join(name), id).unwrap();
    }
}

/// Two ids that share a prefix: the prefix is refused with docker's message
/// (and its CLI's status, 1) by every command; a longer one resolves; a name
/// that looks like a prefix is that name. (docker 20.10's CLI against a
/// daemon that answers this error exits 1 for each of these commands.)
#[test]
fn an_ambiguous_id_prefix_is_refused_like_docker() {
    let state = StateDir::new("life-ambiguous");
    let one = format!("ab1{}", "0".repeat(61));
    let two = format!("ab2{}", "0".repeat(61));
    let named = format!("cd3{}", "0".repeat(61));
    fake_container(&state, &one, None);
    fake_container(&state, &two, None);
    fake_container(&state, &named, Some("ab"));
    let refused = "mini-docker: multiple IDs found with provided prefix: a\n";
    for args in [
        &["inspect", "a"][..],
        &["stop", "a"],
        &["rm", "a"],
        &["logs", "a"],
        &["wait", "a"],
        &["kill", "a"],
        &["start", "a"],
        &["restart", "a"],
        &["exec", "a", "true"],
    ] {
        let out = md(&state, args);
        assert_eq!(
            (out.status.code(), stderr(&out).as_str()),
            (Some(1), refused),
            "{args:?}"
        );
    }
    assert_eq!(inspect(&state, "ab2")["Id"], two.as_str(), "unambiguous");
    assert_eq!(inspect(&state, "ab")["Id"], named.as_str(), "a name first");
    assert_eq!(inspect(&state, &one)["Id"], one.as_str(), "a full id");
    let out = md(&state, &["rm", "ab1"]);
    assert_eq!(stdout(&out), "ab1\n", "{}", stderr(&out));
    assert!(!state.path().join("containers").join(&one).exists());
}

/// An attached `run` (no --rm) keeps its output in the json-file log too,
/// as docker does: `logs` shows it after; what the run printed and its
/// status are as they were. With --rm nothing is kept.
#[test]
fn logs_of_a_container_that_ran_attached() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("life/busybox:1");
    let state = StateDir::new("life-fglogs");
    let _remove_all = RemoveAll(&state);
    let script = "echo out; echo err >&2; seq 1 20000; exit 3";
    md(&state, &["pull", &image]);
    let out = md(
        &state,
        &["run", "--network", "none", &image, "sh", "-c", script],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let numbers: String = (1..=20000).map(|n| format!("{n}\n")).collect();
    assert_eq!(stdout(&out), format!("out\n{numbers}"), "printed as before");
    assert_eq!(stderr(&out), "err\n");
    let id = stdout(&md(&state, &["ps", "-aq"])).trim().to_string();
    let logs = md(&state, &["logs", &id]);
    assert!(logs.status.success(), "{}", stderr(&logs));
    assert_eq!(stdout(&logs), format!("out\n{numbers}"), "logs: every line");
    assert_eq!(stderr(&logs), "err\n");
    let tail = stdout(&md(&state, &["logs", "--tail", "1", &id]));
    assert_eq!(tail, "20000\n");
    assert!(md(&state, &["rm", &id]).status.success());
    // -t: what its terminal printed (a terminal's \r\n, as docker keeps it).
    let out = md(
        &state,
        &["run", "-t", "--network", "none", &image, "echo", "on-a-tty"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "on-a-tty\r\n", "printed as before");
    let id = stdout(&md(&state, &["ps", "-aq"])).trim().to_string();
    assert_eq!(stdout(&md(&state, &["logs", &id])), "on-a-tty\r\n");
    assert!(md(&state, &["rm", &id]).status.success());
}
