//! The command line as users meet it: bad input, exit codes, signals, reports.

mod common;

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// One clear line, no panic, no backtrace.
fn assert_one_line_error(out: &std::process::Output, needle: &str) {
    let err = stderr(out);
    assert!(
        !out.status.success(),
        "expected failure, got success; stderr: {err}"
    );
    assert_eq!(
        err.trim().lines().count(),
        1,
        "expected one line, got: {err}"
    );
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "panic leaked: {err}"
    );
}

#[test]
fn bad_input_gets_one_clear_line() {
    let state = StateDir::new("badinput");
    assert_one_line_error(
        &mini_docker(&state, &["chapter", "99"]),
        "unknown chapter \"99\"",
    );
    assert_one_line_error(
        &mini_docker(&state, &["chapter", "x", "run", "--", "true"]),
        "unknown chapter",
    );
    assert_one_line_error(
        &mini_docker(&state, &["--reference=4-2", "check", "1"]),
        "runs backwards",
    );
    assert_one_line_error(
        &mini_docker(&state, &["--reference=abc", "doctor"]),
        "expected chapter numbers",
    );
    assert_one_line_error(&mini_docker(&state, &["check", "0"]), "unknown chapter");
}

/// Bad flag values of `run` and `chapter N run`: docker's 125, one line naming
/// the flag, and nothing made in the state dir.
#[test]
fn bad_run_flags_exit_125_in_one_line_and_make_nothing() {
    let state = StateDir::new("badflags");
    let long_label = "a".repeat(64);
    let long_name = ["a"; 33].join(".");
    let cases: &[(&[&str], &str)] = &[
        (&["-w", "relative/dir"], "--workdir"),
        (&["-p", "+8080:80"], "--publish"),
        (&["-p", "08080:80"], "--publish"),
        (&["-p", "8080:+80"], "--publish"),
        (&["-p", "[::1]:8080:80"], "IPv6"),
        (&["--hostname", "box\n10.0.0.1 evil"], "--hostname"),
        (&["--hostname", "../../etc"], "--hostname"),
        (&["--hostname=-box"], "--hostname"),
        (&["--hostname", &long_label], "--hostname"),
        (&["--hostname", &long_name], "--hostname"),
        (&["--name", "bad name"], "--name"),
        (&["--no-such-flag"], "--no-such-flag"),
    ];
    for (flags, needle) in cases {
        let mut args = vec!["--reference", "run"];
        args.extend_from_slice(flags);
        args.extend(["busybox", "true"]);
        let out = mini_docker(&state, &args);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {}", stderr(&out));
        assert_one_line_error(&out, needle);
        // The same flags on the stepwise run, where they exist there.
        if flags[0] != "-w" && flags[0] != "--name" {
            let mut args = vec!["--reference", "chapter", "6", "run"];
            args.extend_from_slice(flags);
            args.extend(["--", "true"]);
            let out = mini_docker(&state, &args);
            assert_eq!(out.status.code(), Some(125), "{args:?}: {}", stderr(&out));
            assert_one_line_error(&out, needle);
        }
    }
    let made: Vec<_> = std::fs::read_dir(state.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(made.is_empty(), "bad flags made {made:?} in the state dir");
}

#[test]
fn missing_rootfs_is_one_line() {
    require_root();
    let state = StateDir::new("norootfs");
    let out = mini_docker(
        &state,
        &[
            "--reference",
            "chapter",
            "2",
            "run",
            "--rootfs",
            "/nonexistent-rootfs",
            "--",
            "true",
        ],
    );
    assert_one_line_error(&out, "/nonexistent-rootfs");
}

#[test]
fn not_root_is_one_line_and_chapter_1_still_works() {
    require_root();
    let state = StateDir::new("notroot");
    let as_nobody = |args: &[&str]| {
        Command::new(BIN)
            .args([
                "--state-dir",
                "/tmp/mini-docker-nobody-state",
                "--reference",
            ])
            .args(args)
            .env_remove("MINI_DOCKER_REFERENCE")
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap()
    };
    let out = as_nobody(&["chapter", "2", "run", "--", "true"]);
    assert_one_line_error(&out, "needs root");
    let out = as_nobody(&["chapter", "1", "run", "--", "/bin/sh", "-c", "exit 7"]);
    assert_eq!(
        out.status.code(),
        Some(7),
        "chapter 1 needs no root: {}",
        stderr(&out)
    );
    drop(state);
    // mini-docker made nobody's state dir; the test leaves no trace in /tmp.
    let _ = std::fs::remove_dir_all("/tmp/mini-docker-nobody-state");
}

#[test]
fn exit_codes_follow_docker() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("exitcodes");
    let run = |args: &[&str]| {
        let mut all = vec!["--reference", "chapter", "5", "run", "--"];
        all.extend_from_slice(args);
        mini_docker(&state, &all)
    };
    assert_eq!(run(&["/bin/sh", "-c", "exit 42"]).status.code(), Some(42));
    let out = run(&["no-such-command"]);
    assert_eq!(out.status.code(), Some(127));
    assert_one_line_error(&out, "executable file not found in $PATH");
    let out = run(&["/etc/passwd"]);
    assert_eq!(out.status.code(), Some(126));
    assert_one_line_error(&out, "permission denied");
    // A todo!() reached in an exercise: 125 and one friendly line naming the file.
    let out = mini_docker(&state, &["chapter", "1", "run", "--", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert_one_line_error(&out, "exercises/ch01_process.rs");
}

#[test]
fn ctrl_c_twice_kills_at_once_and_leaves_nothing() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("ctrlc");
    let before = HostSnapshot::take();
    let mut child = Command::new(BIN)
        .args(["--reference", "--state-dir"])
        .arg(state.path())
        .args(["chapter", "5", "run", "--", "sleep", "600"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let started = Instant::now();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "Ctrl-C twice: exit 128 + SIGINT");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the second Ctrl-C must not wait for --stop-timeout"
    );
    HostSnapshot::assert_clean_since(&before, "Ctrl-C");
}

#[test]
fn sigkill_of_mini_docker_takes_the_container_down() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("sigkill");
    let before = HostSnapshot::take();
    let mut child = Command::new(BIN)
        .args(["--reference", "--state-dir"])
        .arg(state.path())
        .args(["chapter", "5", "run", "--init", "--", "sleep", "600"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    HostSnapshot::assert_clean_since(&before, "SIGKILL of mini-docker");
}

#[test]
fn grade_reports_points_in_json_and_junit() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("grade");
    let out = mini_docker(&state, &["--reference=1-2", "grade", "--format", "json"]);
    assert!(out.status.success(), "grade exits 0: {}", stderr(&out));
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("grade --format json is JSON");
    let chapters = report["chapters"].as_array().unwrap();
    assert_eq!(chapters.len(), mini_docker::workshop::CHAPTERS.len());
    let score = report["score"].as_u64().unwrap();
    let max = report["max_score"].as_u64().unwrap();
    for (i, chapter) in chapters.iter().enumerate() {
        let checks = chapter["checks"].as_array().unwrap();
        let points: u64 = checks.iter().map(|c| c["points"].as_u64().unwrap()).sum();
        let scored: u64 = checks.iter().map(|c| c["score"].as_u64().unwrap()).sum();
        let number = mini_docker::workshop::CHAPTERS[i].number;
        assert_eq!(chapter["chapter"], number, "the table's order");
        assert_eq!(chapter["max_score"], points, "chapter {number} max_score");
        assert_eq!(chapter["score"], scored, "chapter {number} score");
        assert_eq!(
            chapter["from_reference"],
            i < 2,
            "chapters 1-2 (only) are marked as the reference's"
        );
    }
    let passed = |n: usize| {
        chapters[n]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["passed"] == true)
    };
    assert!(passed(0) && passed(1), "the reference passes chapters 1-2");
    assert_eq!(
        score, 0,
        "passes of the reference earn nothing; chapters 3- are pristine exercises"
    );
    assert!(max > 0);

    let out = mini_docker(&state, &["--reference=1-2", "grade", "--format", "junit"]);
    assert!(out.status.success());
    let xml = String::from_utf8(out.stdout).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed JUnit XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let cases = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .count();
    let failures = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .count();
    assert_eq!(root.attribute("tests"), Some(cases.to_string().as_str()));
    assert_eq!(
        root.attribute("failures"),
        Some(failures.to_string().as_str())
    );
    assert_eq!(root.attribute("max_score"), Some(max.to_string().as_str()));
    assert!(failures > 0 && failures < cases);
    let property = |suite: roxmltree::Node, name: &str| -> String {
        suite
            .descendants()
            .find(|p| p.has_tag_name("property") && p.attribute("name") == Some(name))
            .and_then(|p| p.attribute("value"))
            .unwrap_or_default()
            .to_string()
    };
    let suites: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), chapters.len());
    for (i, suite) in suites.iter().enumerate() {
        let number = mini_docker::workshop::CHAPTERS[i].number;
        assert_eq!(property(*suite, "chapter"), number.to_string());
        assert_eq!(property(*suite, "from_reference"), (i < 2).to_string());
        assert_eq!(property(*suite, "score"), "0");
        assert!(suite.attribute("time").is_some());
    }

    let out = mini_docker(&state, &["--reference=1-2", "grade"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("{score}/{max} points")),
        "text grade shows the total: {text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("chapter  1") && l.contains("(reference: no points)")),
        "text grade shows points per chapter, the reference's marked: {text}"
    );
}

#[test]
fn check_exit_status_says_pass_or_fail() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("checkexit");
    let out = mini_docker(&state, &["--reference", "check", "3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("PASS 3.1"));
    let out = mini_docker(&state, &["--reference=1-2", "check", "3"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    // The why (the exercise's todo!()), and a pointer to the hints, not the answer.
    assert!(
        text.contains("FAIL 3.1")
            && text.contains("exercises/ch03_uts.rs")
            && text.contains("mini-docker hint 3 3.1"),
        "{text}"
    );
    assert!(
        !text.contains("CLONE_NEWUTS"),
        "the answer is printed: {text}"
    );
    // The run recorded which checks failed: `hint 3` starts with the first.
    let out = mini_docker(&state, &["hint", "3"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Check 3.1") && text.contains("first check that failed"),
        "{text}"
    );
}

/// `hint N CHECK` once: exit 0, its stdout.
fn ask_hint(state: &StateDir, args: &[&str]) -> String {
    let mut all = vec!["hint"];
    all.extend_from_slice(args);
    let out = mini_docker(state, &all);
    assert_eq!(
        out.status.code(),
        Some(0),
        "hint {args:?}: {}",
        stderr(&out)
    );
    stdout(&out)
}

/// The levels a hint's output shows, e.g. [1] or [1, 2, 3].
fn levels_shown(text: &str) -> Vec<u8> {
    (1..=3)
        .filter(|n| text.contains(&format!("level {n} of 3")))
        .collect()
}

/// Each ask shows the next level — the concept, where to look, the exact call
/// — then all three; remembered across invocations in the state dir.
#[test]
fn hint_levels_advance_and_are_remembered() {
    let state = StateDir::new("hintlevels");
    let first = ask_hint(&state, &["4", "4.3"]);
    assert_eq!(levels_shown(&first), [1], "{first}");
    assert!(
        first.contains("Check 4.3") && !first.contains("waitpid"),
        "level 1 is the concept, not the call: {first}"
    );
    let second = ask_hint(&state, &["4", "4.3"]);
    assert_eq!(levels_shown(&second), [2], "{second}");
    assert!(
        second.contains("waitpid(2)") && second.contains("chapters/04-pid.md"),
        "level 2 names the man page and the lesson: {second}"
    );
    let third = ask_hint(&state, &["4", "4.3"]);
    assert_eq!(levels_shown(&third), [3], "{third}");
    assert!(
        third.contains("WNOHANG"),
        "level 3 is the exact call: {third}"
    );
    let fourth = ask_hint(&state, &["4", "4.3"]);
    assert_eq!(levels_shown(&fourth), [1, 2, 3], "{fourth}");
    // Per check: another check starts at level 1.
    assert_eq!(levels_shown(&ask_hint(&state, &["4", "4.4"])), [1]);
    let saved = std::fs::read_to_string(state.path().join("hints.json")).unwrap();
    let saved: serde_json::Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(saved["4.3"], 3, "{saved}");
    assert_eq!(saved["4.4"], 1, "{saved}");
}

/// `--all` and MINI_DOCKER_INSTRUCTOR=1 show every level without advancing.
#[test]
fn hint_all_shows_every_level_without_advancing() {
    let state = StateDir::new("hintall");
    let all = ask_hint(&state, &["3", "3.1", "--all"]);
    assert_eq!(levels_shown(&all), [1, 2, 3], "{all}");
    assert!(all.contains("CLONE_NEWUTS"), "{all}");
    let out = mini_docker_command(&state, &["hint", "3", "3.1"])
        .env("MINI_DOCKER_INSTRUCTOR", "1")
        .output()
        .unwrap();
    assert_eq!(levels_shown(&stdout(&out)), [1, 2, 3], "{}", stdout(&out));
    assert_eq!(
        levels_shown(&ask_hint(&state, &["3", "3.1"])),
        [1],
        "--all and the instructor's env advance nothing"
    );
}

/// `--reset` forgets one check, or the whole chapter.
#[test]
fn hint_reset_starts_over() {
    let state = StateDir::new("hintreset");
    ask_hint(&state, &["5", "5.3"]);
    ask_hint(&state, &["5", "5.3"]);
    ask_hint(&state, &["5", "5.2"]);
    ask_hint(&state, &["6", "6.2"]);
    ask_hint(&state, &["5", "5.3", "--reset"]);
    assert_eq!(levels_shown(&ask_hint(&state, &["5", "5.3"])), [1]);
    assert_eq!(levels_shown(&ask_hint(&state, &["5", "5.2"])), [2]);
    ask_hint(&state, &["5", "--reset"]);
    assert_eq!(levels_shown(&ask_hint(&state, &["5", "5.2"])), [1]);
    assert_eq!(
        levels_shown(&ask_hint(&state, &["6", "6.2"])),
        [2],
        "chapter 5's reset keeps chapter 6's"
    );
}

/// An unknown chapter or check: one line, exit 125, no hints.json written.
#[test]
fn hint_bad_input_is_one_line_exit_125() {
    let state = StateDir::new("hintbad");
    let cases: &[(&[&str], &str)] = &[
        (&["hint", "99"], "unknown chapter \"99\""),
        (&["hint", "x"], "unknown chapter"),
        (&["hint", "4", "9.9"], "unknown check \"9.9\" in chapter 4"),
        (&["hint", "4", "4.9"], "4.1, 4.2"),
        (&["hint", "4", "4.3", "--all", "--reset"], "--reset"),
    ];
    for (args, needle) in cases {
        let out = mini_docker(&state, args);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {}", stderr(&out));
        assert_one_line_error(&out, needle);
    }
    assert!(!state.path().join("hints.json").exists());
}

/// `hint N` alone: the first check that failed in the last `check N`
/// (progress.json), else the chapter's first check.
#[test]
fn hint_without_a_check_follows_the_last_check_run() {
    let state = StateDir::new("hintpick");
    let first = ask_hint(&state, &["4"]);
    assert!(first.contains("Check 4.1"), "nothing recorded: {first}");
    let progress = state.path().join("progress.json");
    std::fs::write(
        &progress,
        r#"{"4": {"passed": 3, "total": 5, "reference": false, "at": 0, "failed": ["4.3", "4.5"]}}"#,
    )
    .unwrap();
    let picked = ask_hint(&state, &["4"]);
    assert!(picked.contains("Check 4.3"), "{picked}");
    assert!(picked.contains("first check that failed"), "{picked}");
    assert_eq!(levels_shown(&picked), [1]);
    assert_eq!(
        levels_shown(&ask_hint(&state, &["4"])),
        [2],
        "the picked check advances"
    );
    // A progress.json from before failures were recorded: the first check.
    std::fs::write(
        &progress,
        r#"{"4": {"passed": 3, "total": 5, "reference": false, "at": 0}}"#,
    )
    .unwrap();
    assert!(ask_hint(&state, &["4"]).contains("Check 4.1"));
}

#[test]
fn reference_env_variable_selects_like_the_flag() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("refenv");
    let out = Command::new(BIN)
        .env("MINI_DOCKER_REFERENCE", "1-5")
        .arg("--state-dir")
        .arg(state.path())
        .args(["chapter", "4", "run", "--", "sh", "-c", "echo $$"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "1",
        "{}",
        stderr(&out)
    );
}

#[test]
fn chapter_intro_names_the_exercise_and_shows_check_status() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("intro");
    let out = mini_docker(&state, &["--reference", "chapter", "3"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "Chapter 3",
        "exercises/ch03_uts.rs",
        "chapters/03-uts.md",
        "Try:",
        "PASS 3.1",
        "checks passed",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

/// `mini-docker chapter 5 | head -1`: the reader leaves early; mini-docker
/// stops quietly (no "failed printing to stdout") with SIGPIPE's status.
/// The reader is gone before mini-docker starts, so every write fails.
#[test]
fn a_closed_stdout_ends_quietly() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("epipe");
    let (reader, writer) = nix::unistd::pipe().unwrap();
    drop(reader);
    let out = mini_docker_command(&state, &["--reference", "chapter", "5"])
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(141), "stderr: {}", stderr(&out));
    assert!(stderr(&out).is_empty(), "stderr: {}", stderr(&out));
}

#[test]
fn doctor_reports_each_feature() {
    let state = StateDir::new("doctor");
    let out = mini_docker(&state, &["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "kernel",
        "pid namespace",
        "mnt namespace",
        "user namespace",
        "cgroups",
        "overlayfs",
        "bridge networking",
        "nftables",
        "unprivileged user namespaces",
        "--userns maps",
        "docker-registry and skopeo",
        "busybox",
        "starter rootfs",
        "root",
    ] {
        assert!(
            text.contains(needle),
            "doctor does not mention {needle}:\n{text}"
        );
    }
    assert!(
        text.contains("cgroups: "),
        "doctor names the cgroup mode:\n{text}"
    );
}

#[test]
fn state_dirs_do_not_interfere() {
    require_root();
    let _serial = serial();
    let (a, b) = (StateDir::new("sd-a"), StateDir::new("sd-b"));
    let pa = String::from_utf8(mini_docker(&a, &["rootfs"]).stdout).unwrap();
    let pb = String::from_utf8(mini_docker(&b, &["rootfs"]).stdout).unwrap();
    assert!(pa.trim().starts_with(a.path().to_str().unwrap()));
    assert!(pb.trim().starts_with(b.path().to_str().unwrap()));
    std::fs::remove_dir_all(a.path().join("rootfs")).unwrap();
    assert!(std::path::Path::new(pb.trim()).join("bin/busybox").exists());
}

#[test]
fn explain_narrates_each_step_without_touching_stdout() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("explain");
    let out = mini_docker(
        &state,
        &[
            "--reference",
            "chapter",
            "5",
            "run",
            "--explain",
            "--hostname",
            "demo",
            "--",
            "hostname",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "demo\n",
        "stdout is the command's alone"
    );
    let err = stderr(&out);
    for step in [
        "clone(",
        "MS_SLAVE",
        "sethostname(\"demo\")",
        "pivot_root",
        "MNT_DETACH",
        "\"proc\"",
        "MS_RDONLY",
        "execvp",
    ] {
        assert!(
            err.contains(step),
            "--explain does not narrate {step}:\n{err}"
        );
    }
}

/// Both ways of starting the inside work: run in the forked child when mini-docker
/// is single-threaded (the usual, faster case) and re-exec'd when forced (as when
/// threads exist): PID 1, the user namespace switch, the channel.
#[test]
fn the_inside_runs_in_place_and_re_executed() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("reexec");
    for reexec in [false, true] {
        let mut command = Command::new(BIN);
        command
            .env_remove("MINI_DOCKER_REFERENCE")
            .args(["--reference", "--state-dir"])
            .arg(state.path());
        if reexec {
            command.env("MINI_DOCKER_REEXEC", "1");
        } else {
            command.env_remove("MINI_DOCKER_REEXEC");
        }
        let out = command
            .args([
                "chapter",
                "7",
                "run",
                "--userns",
                "--network",
                "none",
                "--",
                "sh",
                "-c",
                "echo $$; id -u; exit 5",
            ])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(5),
            "reexec={reexec}: {}",
            stderr(&out)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "1\n0\n",
            "reexec={reexec}"
        );
    }
}

/// `watch`: a report at start, then after each save only what changed (here:
/// nothing, so just the summary); a failed build says so and checks nothing.
#[test]
fn watch_rebuilds_and_reports_only_changes() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("watch");
    let dir = state.path().join("exercises");
    std::fs::create_dir_all(&dir).unwrap();
    let flag = state.path().join("build-ok");
    std::fs::write(&flag, "").unwrap();
    // The "build" passes while the flag file exists.
    let build = format!("test -e {}", flag.display());
    let mut child = mini_docker_command(&state, &["--reference", "watch", "3"])
        .env("MINI_DOCKER_WATCH_DIR", &dir)
        .env("MINI_DOCKER_BUILD_COMMAND", &build)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let reader = {
        let lines = lines.clone();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                lines.lock().unwrap().push(line);
            }
        })
    };
    let wait_for = |needle: &str, count: usize| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let seen = lines
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l.contains(needle))
                .count();
            if seen >= count {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "no {count}x {needle:?} in:\n{}",
            lines.lock().unwrap().join("\n")
        );
    };
    wait_for("chapter 3: 5/5 checks pass", 1);
    let first_passes = lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("PASS"))
        .count();
    assert_eq!(first_passes, 5, "the first report lists every check");
    std::fs::write(dir.join("ch03_uts.rs"), "// saved\n").unwrap();
    wait_for("chapter 3: 5/5 checks pass", 2);
    let passes = lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("PASS"))
        .count();
    assert_eq!(passes, 5, "a second, unchanged report repeats no check");
    std::fs::remove_file(&flag).unwrap();
    std::fs::write(dir.join("ch03_uts.rs"), "// broken\n").unwrap();
    wait_for("the build failed", 1);
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
}

/// `mini-docker` alone (= `progress`): every chapter of the table, its
/// todo!()s left, and how its checks last went (the reference's marked).
#[test]
fn progress_lists_every_chapter_with_its_status() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("progress");
    mini_docker(&state, &["check", "1"]);
    mini_docker(&state, &["--reference", "check", "2"]);
    let out = mini_docker(&state, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for chapter in mini_docker::workshop::CHAPTERS {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{} ", chapter.number)))
            .unwrap_or_else(|| panic!("no line for chapter {} in:\n{text}", chapter.number));
        assert!(line.contains(chapter.title), "{line}");
        assert!(line.contains("todo!() left"), "pristine exercises: {line}");
    }
    let checks_of_1 = mini_docker::checks::for_chapter(1).len();
    assert!(
        text.contains(&format!("0/{checks_of_1} pass")),
        "chapter 1's failed check run: {text}"
    );
    assert!(
        text.contains("(reference)"),
        "chapter 2 ran the reference: {text}"
    );
    assert!(text.contains("not checked yet"), "{text}");
    assert!(text.contains("next: mini-docker chapter 1"), "{text}");
}

/// A fresh state dir has no starter rootfs yet: it is made on first use, so
/// doctor says so and does not count it as missing.
#[test]
fn doctor_on_a_fresh_state_dir_does_not_fail_for_the_starter_rootfs() {
    let state = StateDir::new("doctorfresh");
    let out = mini_docker(&state, &["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("starter rootfs"))
        .unwrap_or_else(|| panic!("no starter rootfs line:\n{text}"));
    assert!(
        line.contains("ok") && line.contains("first use"),
        "the rootfs to be made is not a failure: {line}"
    );
    let anything_missing = text.lines().any(|l| l.contains("missing"));
    assert_eq!(
        out.status.code(),
        Some(if anything_missing { 1 } else { 0 }),
        "exit 0 unless something is really missing:\n{text}"
    );
    assert!(
        !state.path().join("rootfs").exists(),
        "doctor makes nothing"
    );
}

/// mini-docker as `nobody` with a bare environment (no HOME), the way a
/// service or `env -i` would start it.
fn as_nobody_without_home(args: &[&str], env: &[(&str, &std::path::Path)]) -> std::process::Output {
    Command::new(BIN)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .envs(env.iter().copied())
        .arg("--reference")
        .args(args)
        .current_dir("/")
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap()
}

/// Rootless without HOME: never a shared /tmp/mini-docker (whoever made it
/// first would own every rootless user's rootfs); XDG_RUNTIME_DIR if it is
/// the caller's, else one line naming HOME and --state-dir. A state dir
/// another unprivileged user owns is refused too.
#[test]
fn rootless_state_dir_is_never_someone_elses() {
    use std::os::unix::fs::PermissionsExt;
    require_root();
    let chapter_1 = ["chapter", "1", "run", "--", "/bin/sh", "-c", "exit 7"];
    let out = as_nobody_without_home(&chapter_1, &[]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert_one_line_error(&out, "HOME");
    assert!(stderr(&out).contains("--state-dir"), "{}", stderr(&out));

    let runtime = StateDir::new("xdgruntime");
    std::fs::set_permissions(runtime.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let not_mine = as_nobody_without_home(&chapter_1, &[("XDG_RUNTIME_DIR", runtime.path())]);
    assert_eq!(
        not_mine.status.code(),
        Some(125),
        "root's XDG_RUNTIME_DIR: {}",
        stderr(&not_mine)
    );
    std::os::unix::fs::chown(runtime.path(), Some(65534), Some(65534)).unwrap();
    let mine = as_nobody_without_home(&chapter_1, &[("XDG_RUNTIME_DIR", runtime.path())]);
    assert_eq!(
        mine.status.code(),
        Some(7),
        "an XDG_RUNTIME_DIR of one's own: {}",
        stderr(&mine)
    );

    // Another (unprivileged) user's state dir: uid 4242 could have planted anything in it.
    let theirs = StateDir::new("theirs");
    std::os::unix::fs::chown(theirs.path(), Some(4242), Some(4242)).unwrap();
    let path = theirs.path().display().to_string();
    let mut args = vec!["--state-dir", path.as_str()];
    args.extend_from_slice(&chapter_1);
    let out = as_nobody_without_home(&args, &[]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert_one_line_error(&out, &path);
}

/// --userns with a state dir the container's root cannot enter (`mktemp -d`
/// makes it 0700): one line naming the directory and the fix, exit 125;
/// and chapter 7's checks say the same instead of hinting at uid_map.
#[test]
fn userns_with_a_closed_state_dir_names_the_directory() {
    use std::os::unix::fs::PermissionsExt;
    require_root();
    let _serial = serial();
    let userns_id = [
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
    ];
    // A state dir of mode 0700 (mktemp -d): mini-docker's own, so it makes it
    // traversable for the remapped root (0710, that group), like docker's
    // /var/lib/docker, and --userns works.
    let state = StateDir::new("closed");
    std::fs::set_permissions(state.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = mini_docker(&state, &userns_id);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");

    // A closed directory *above* the state dir is not ours to open up: one
    // line naming it and the fix, nothing made, and the checks say the same
    // instead of blaming the learner's uid_map.
    let parent = StateDir::new("closed-parent");
    std::fs::set_permissions(parent.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let state = StateDir(parent.path().join("state"));
    std::fs::create_dir(state.path()).unwrap();
    let before = HostSnapshot::take();
    let out = mini_docker(&state, &userns_id);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert_one_line_error(&out, &format!("chmod o+x {}", parent.path().display()));
    HostSnapshot::assert_clean_since(&before, "a refused --userns");
    assert_state_dir_clean(&state);

    let out = mini_docker(&state, &["--reference", "check", "7"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("chmod o+x"),
        "the checks name the fix:\n{text}"
    );
    assert!(
        !text.contains("Permission denied")
            && !text.contains("CLONE_NEWUSER, then write")
            && !text.contains("write_id_maps must map"),
        "the checks must not blame the learner's code:\n{text}"
    );
}

/// `--explain` narrates what the learner's code did, read back from the
/// kernel, not a fixed script: the namespaces the clone really made, the
/// hostname uname reports, and /'s propagation before and after
/// make_mounts_private — slave with the reference, private with the
/// MS_PRIVATE mistake (in a mount namespace whose / is shared, like
/// systemd's, so the two differ).
#[test]
fn explain_reads_back_what_the_code_did() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("explain-readback");
    let run = |mutant: Option<&str>| {
        let script = format!(
            "mount --make-rshared / && exec {BIN} --state-dir {} --reference chapter 5 run --explain --hostname demo -- true",
            state.path().display()
        );
        let mut command = Command::new("unshare");
        command
            .args(["--mount", "sh", "-c", &script])
            .env_remove("MINI_DOCKER_REFERENCE");
        match mutant {
            Some(name) => command.env("MINI_DOCKER_MUTANT", name),
            None => command.env_remove("MINI_DOCKER_MUTANT"),
        };
        let out = command.output().expect("unshare (util-linux)");
        assert!(out.status.success(), "{}", stderr(&out));
        stderr(&out)
    };
    let reference = run(None);
    assert!(
        reference.contains("own: uts ipc pid mnt;"),
        "the namespaces the clone made: {reference}"
    );
    assert!(
        reference.contains("uname -n now says \"demo\""),
        "{reference}"
    );
    assert!(
        reference.contains("/ propagation was shared")
            && reference.contains("now slave (from master:"),
        "{reference}"
    );
    let mistaken = run(Some("ch05_private"));
    assert!(
        mistaken.contains("now private"),
        "with MS_PRIVATE the narration must say private: {mistaken}"
    );
}

/// `--explain` with `args` (and a mutant of the reference, if named): its stderr.
/// The start may fail with a mutant: the read-back comes before what fails.
fn explain_run(state: &StateDir, mutant: Option<&str>, args: &[&str]) -> String {
    let mut command = mini_docker_command(state, args);
    match mutant {
        Some(name) => command.env("MINI_DOCKER_MUTANT", name),
        None => command.env_remove("MINI_DOCKER_MUTANT"),
    };
    let out = command.output().expect("run mini-docker");
    if mutant.is_none() {
        assert!(out.status.success(), "{}", stderr(&out));
    }
    stderr(&out)
}

/// The read-back lines of one chapter: `[ch07]   → uid_map ...`, without the tag.
fn read_back(narration: &str, chapter: u8) -> Vec<String> {
    let tag = format!("[ch{chapter:02}]   → ");
    narration
        .lines()
        .filter_map(|l| l.strip_prefix(&tag))
        .map(str::to_string)
        .collect()
}

/// The words after `prefix` on the narrated step that has it (up to the
/// reason, after the padding), split on whitespace.
fn step_words<'a>(narration: &'a str, prefix: &str) -> Vec<&'a str> {
    let line = narration
        .lines()
        .find_map(|l| l.split_once(prefix).map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no step {prefix:?} in: {narration}"));
    line.split("   ")
        .next()
        .unwrap()
        .split_whitespace()
        .collect()
}

/// Chapters 4, 6, 7 and 8 read back what the reference did — the new
/// /proc's processes, the interfaces and route over netlink (inside) and the
/// veth's host end, the id maps, the limit files — and the read-back changes
/// when the code is wrong: gid_map forgotten, the memory limit in MiB, lo
/// left down, the host end left down or on no bridge, no PID namespace.
#[test]
fn explain_reads_back_pid_network_userns_and_limits() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("explain-ch4-8");
    let before = HostSnapshot::take();
    let args = [
        "--reference",
        "chapter",
        "8",
        "run",
        "--explain",
        "--userns",
        "-m",
        "64m",
        "--pids-limit",
        "100",
        "--cpus",
        "0.5",
        "--",
        "true",
    ];
    let reference = explain_run(&state, None, &args);

    assert_eq!(
        read_back(&reference, 4),
        ["/proc lists 1 process(es): 1; pid 1 is mini-docker"],
        "only the container's own process: {reference}"
    );

    // "veth HOST <-> PEER on BRIDGE with PEER in the container's namespace",
    // "inside: PEER renamed eth0 with A/P via G"
    let veth = step_words(&reference, "veth ");
    let (host_end, bridge) = (veth[0], veth[4]);
    let inside = step_words(&reference, " renamed ");
    let (eth0, address, gateway) = (inside[0], inside[2], inside[4]);
    assert_eq!(
        read_back(&reference, 6),
        [
            format!("{host_end}: master {bridge}, up"),
            format!("lo up 127.0.0.1/8; {eth0} up {address}; default via {gateway}"),
        ],
        "{reference}"
    );

    // "write /proc/PID/uid_map: 0 HOST_UID COUNT"
    let map = step_words(&reference, "/uid_map: ");
    let extent = map.join(" ");
    assert_eq!(
        read_back(&reference, 7),
        [format!(
            "uid_map {extent}; gid_map {extent}; setgroups allow"
        )],
        "{reference}"
    );

    let limits = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "memory.max 67108864 (64 MiB); pids.max 100; cpu.max 50000 100000"
    } else {
        "memory.limit_in_bytes 67108864 (64 MiB); pids.max 100; cpu.cfs_quota_us 50000; cpu.cfs_period_us 100000"
    };
    assert_eq!(read_back(&reference, 8), [limits], "{reference}");

    // The same run with the learner's classic mistakes: the narration follows.
    let mistaken = explain_run(&state, Some("ch07_uid_map_only"), &args);
    assert_eq!(
        read_back(&mistaken, 7),
        [format!(
            "uid_map {extent}; gid_map (empty); setgroups allow"
        )],
        "{mistaken}"
    );
    let mistaken = explain_run(&state, Some("ch08_memory_in_mib"), &args);
    let memory = read_back(&mistaken, 8).join("");
    assert!(
        memory.starts_with("memory.limit_in_bytes 0;") || memory.starts_with("memory.max 0;"),
        "64 MiB written as 64 bytes reads back as 0 (whole pages): {mistaken}"
    );
    let mistaken = explain_run(&state, Some("ch06_lo_down"), &args);
    assert!(
        read_back(&mistaken, 6)
            .iter()
            .any(|l| l.starts_with("lo down, no address;")),
        "{mistaken}"
    );
    let mistaken = explain_run(&state, Some("ch06_host_end_down"), &args);
    assert!(
        read_back(&mistaken, 6)
            .iter()
            .any(|l| l.ends_with(&format!(": master {bridge}, down"))),
        "{mistaken}"
    );
    let mistaken = explain_run(&state, Some("ch06_no_master"), &args);
    assert!(
        read_back(&mistaken, 6)
            .iter()
            .any(|l| l.ends_with(": no master (on no bridge), up")),
        "{mistaken}"
    );
    // (Without --userns: a user namespace may not mount the host's PID namespace's proc.)
    let own_users: Vec<&str> = args.into_iter().filter(|a| *a != "--userns").collect();
    let mistaken = explain_run(&state, Some("ch04_no_newpid"), &own_users);
    let proc = read_back(&mistaken, 4).join("");
    assert!(
        proc.starts_with("/proc lists ")
            && !proc.starts_with("/proc lists 1 process")
            && !proc.ends_with("pid 1 is mini-docker"),
        "without a PID namespace /proc lists the host's processes: {mistaken}"
    );
    assert_state_dir_clean(&state);
    HostSnapshot::assert_clean_since(&before, "explained runs, mutants included");
}

/// Chapter 10 reads the container's overlay back from mountinfo: its layers,
/// upperdir, volatile (with --rm), userxattr (with --userns); the volatile
/// flag forgotten reads back as "not volatile".
#[test]
fn explain_reads_back_the_overlay() {
    use mini_docker::checks::fixture::{build_image, busybox_layer, Auth, Registry};
    require_root();
    let _serial = serial();
    let registry = Registry::start(Auth::Token).unwrap();
    let layout = build_image(&[busybox_layer().unwrap()], serde_json::json!({})).unwrap();
    registry
        .push(&layout.dir, "single", "explain/overlay:1", None)
        .unwrap();
    let image = format!("{}/explain/overlay:1", registry.address());
    let state = StateDir::new("explain-ch10");
    let run = |mutant: Option<&str>, userns: bool| {
        let mut args = vec![
            "--reference",
            "run",
            "--explain",
            "--rm",
            "--network",
            "none",
        ];
        if userns {
            args.push("--userns");
        }
        args.extend([image.as_str(), "true"]);
        read_back(&explain_run(&state, mutant, &args), 10).join("\n")
    };
    let overlay = run(None, false);
    // The image's one layer and the mount-point layer under the container's upper dir.
    let upper = format!("upperdir {}/containers/", state.path().display());
    assert!(
        overlay.starts_with(&format!("overlay: 2 lowerdir(s), {upper}")),
        "{overlay}"
    );
    assert!(
        overlay.ends_with("/upper, volatile, no userxattr"),
        "{overlay}"
    );
    assert!(
        run(None, true).ends_with("upper, volatile, userxattr"),
        "in a user namespace"
    );
    let mistaken = run(Some("ch10_not_volatile"), false);
    assert!(
        mistaken.ends_with("upper, not volatile, no userxattr"),
        "the volatile flag dropped: {mistaken}"
    );
    assert_state_dir_clean(&state);
}

#[test]
fn explain_reads_back_the_hardening() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("explain-harden");
    let run = |selection: &str| {
        let args = [
            selection,
            "chapter",
            "11",
            "run",
            "--explain",
            "--security-opt",
            "no-new-privileges",
            "--",
            "true",
        ];
        let out = mini_docker(&state, &args);
        assert!(out.status.success(), "{}", stderr(&out));
        stderr(&out)
    };
    let reference = run("--reference");
    assert!(
        reference.contains("→ CapBnd 00000000a80425fb CapEff 00000000a80425fb CapInh 0000000000000000 CapAmb 0000000000000000; Seccomp 2"),
        "the capability sets and seccomp mode read back: {reference}"
    );
    assert!(reference.contains("→ NoNewPrivs 1"), "{reference}");
    // The pristine exercise: the read-back tells the truth (everything kept).
    let pristine = run("--reference=1-10");
    assert!(
        pristine.contains("Seccomp 0") && !pristine.contains("CapEff 00000000a80425fb"),
        "{pristine}"
    );
    assert!(
        pristine.contains("TODO(ch11) limit_capabilities not done yet"),
        "{pristine}"
    );
}
