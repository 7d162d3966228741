//! Chapter 11's defaults and flags on `run IMAGE`, as the kernel reports
//! them from inside (/proc/self/status, mountinfo) — each probe would show
//! the opposite if the layer were missing.

mod common;

use common::*;

/// docker's 14 default capabilities, as /proc/PID/status prints them.
const DOCKER_CAPS: &str = "00000000a80425fb";

/// `run --rm --network none FLAGS IMAGE sh -c SCRIPT`: (exit code, stdout, stderr).
fn run(state: &StateDir, flags: &[&str], image: &str, script: &str) -> (i32, String, String) {
    let mut args = vec!["--reference", "run", "--rm", "--network", "none"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&[image, "sh", "-c", script]);
    let out = mini_docker(state, &args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The value of `field` in the container's /proc/self/status.
fn status(state: &StateDir, flags: &[&str], image: &str, field: &str) -> String {
    let (code, out, err) = run(
        state,
        flags,
        image,
        &format!("grep '^{field}:' /proc/self/status"),
    );
    assert_eq!(code, 0, "{flags:?}: {err}");
    out.split(':').nth(1).unwrap_or_default().trim().to_string()
}

#[test]
fn capabilities_follow_dockers_rules() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("harden/busybox:1");
    let state = StateDir::new("hardcaps");
    let before = HostSnapshot::take();
    // Root: the 14 in every set but inheritable and ambient.
    for field in ["CapBnd", "CapPrm", "CapEff"] {
        assert_eq!(status(&state, &[], &image, field), DOCKER_CAPS, "{field}");
    }
    for field in ["CapInh", "CapAmb"] {
        assert_eq!(
            status(&state, &[], &image, field),
            "0000000000000000",
            "{field}"
        );
    }
    // A -u user: the bound stays, nothing is held.
    let user = ["-u", "65534"];
    assert_eq!(status(&state, &user, &image, "CapBnd"), DOCKER_CAPS);
    assert_eq!(status(&state, &user, &image, "CapEff"), "0000000000000000");
    assert_eq!(status(&state, &user, &image, "CapPrm"), "0000000000000000");
    // A -u user without CAP_SETUID/CAP_SETGID (docker allows it: runc
    // switches the user before it drops them): the user, nothing bound.
    let user_no_caps = ["-u", "65534:65534", "--cap-drop", "ALL"];
    assert_eq!(
        status(&state, &user_no_caps, &image, "CapBnd"),
        "0000000000000000"
    );
    assert_eq!(
        status(&state, &user_no_caps, &image, "CapEff"),
        "0000000000000000"
    );
    assert_eq!(
        status(&state, &user_no_caps, &image, "Uid"),
        "65534\t65534\t65534\t65534"
    );
    assert_eq!(status(&state, &user_no_caps, &image, "Groups"), "65534");
    // Drop all, add one: only that one (CAP_NET_ADMIN is bit 12).
    let one = ["--cap-drop", "ALL", "--cap-add", "net_admin"];
    assert_eq!(status(&state, &one, &image, "CapEff"), "0000000000001000");
    assert_eq!(status(&state, &one, &image, "CapBnd"), "0000000000001000");
    // --cap-drop one of the 14: CAP_CHOWN is bit 0.
    let no_chown = ["--cap-drop", "CHOWN"];
    assert_eq!(
        status(&state, &no_chown, &image, "CapEff"),
        "00000000a80425fa"
    );
    let (code, _, _) = run(&state, &no_chown, &image, "touch /x && chown 1 /x");
    assert_ne!(code, 0, "chown without CAP_CHOWN must fail");
    HostSnapshot::assert_clean_since(&before, "capabilities");
}

#[test]
fn privileged_gives_everything_back_and_default_takes_it_away() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("harden/busybox:1");
    let state = StateDir::new("hardpriv");
    let before = HostSnapshot::take();
    let probe = "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; \
                 mkdir -p /tmp/m; mount -t tmpfs t /tmp/m && echo mounted; \
                 grep -c ' /proc/keys ' /proc/self/mountinfo; true";
    let (code, out, err) = run(&state, &[], &image, probe);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Seccomp:\t2") && out.contains("NoNewPrivs:\t0"),
        "{out}"
    );
    assert!(
        !out.contains("mounted"),
        "a default container must not mount: {out}"
    );
    assert!(out.ends_with("1\n"), "/proc/keys masked by default: {out}");
    let (code, out, err) = run(&state, &["--privileged"], &image, probe);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Seccomp:\t0") && out.contains("mounted"),
        "{out}"
    );
    assert!(
        out.ends_with("0\n"),
        "--privileged unmasks /proc/keys: {out}"
    );
    let full = status(&state, &["--privileged"], &image, "CapEff");
    assert!(
        full.starts_with("000001ff") || full.starts_with("0000003f"),
        "--privileged CapEff {full}"
    );
    HostSnapshot::assert_clean_since(&before, "--privileged");
}

#[test]
fn security_opts_no_new_privileges_and_unconfined() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("harden/busybox:1");
    let state = StateDir::new("hardopts");
    let nnp = ["--security-opt", "no-new-privileges"];
    assert_eq!(status(&state, &nnp, &image, "NoNewPrivs"), "1");
    let unconfined = ["--security-opt", "seccomp=unconfined"];
    assert_eq!(status(&state, &unconfined, &image, "Seccomp"), "0");
    // Unconfined seccomp alone does not give mount back: no CAP_SYS_ADMIN.
    let (_, out, _) = run(
        &state,
        &unconfined,
        &image,
        "mkdir -p /tmp/m; mount -t tmpfs t /tmp/m && echo mounted",
    );
    assert!(!out.contains("mounted"), "{out}");
}

#[test]
fn read_only_root_with_a_tmpfs() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("harden/busybox:1");
    let state = StateDir::new("hardro");
    let before = HostSnapshot::take();
    let script = "touch /x 2>/dev/null && echo root-writable; \
                  touch /run/x && echo run-writable; \
                  grep ' /run ' /proc/self/mountinfo";
    let (code, out, err) = run(
        &state,
        &["--read-only", "--tmpfs", "/run:size=1m"],
        &image,
        script,
    );
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("root-writable"), "--read-only: {out}");
    assert!(out.contains("run-writable"), "--tmpfs /run: {out}");
    let run_line = out
        .lines()
        .find(|l| l.contains(" /run "))
        .unwrap_or_default();
    for flag in ["nosuid", "nodev", "noexec"] {
        assert!(
            run_line.contains(flag),
            "--tmpfs is {flag} like docker's: {run_line}"
        );
    }
    let (_, out, _) = run(&state, &[], &image, "touch /x && echo root-writable");
    assert!(out.contains("root-writable"), "without --read-only: {out}");
    HostSnapshot::assert_clean_since(&before, "--read-only");
}

#[test]
fn bad_security_flags_are_one_line_exit_125() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("harden/busybox:1");
    let state = StateDir::new("hardbad");
    for (flags, says) in [
        (vec!["--cap-add", "SYS_NOPE"], "SYS_NOPE"),
        (vec!["--cap-drop", ""], "no such capability"),
        (vec!["--tmpfs", "run"], "absolute path"),
        (vec!["--tmpfs", "/run:bogus=1"], "unknown option"),
        (vec!["--security-opt", "apparmor=x"], "apparmor"),
        (
            vec!["--security-opt", "seccomp=/nonexistent.json"],
            "/nonexistent.json",
        ),
    ] {
        let (code, out, err) = run(&state, &flags, &image, "echo ran");
        assert_eq!(code, 125, "{flags:?}: {err}");
        assert!(out.is_empty(), "{flags:?} must not run: {out}");
        assert_eq!(err.trim().lines().count(), 1, "{flags:?}: one line: {err}");
        assert!(err.contains(says), "{flags:?}: {err}");
    }
    assert_state_dir_clean(&state);
    // Before chapter 11 the flags are a mistake worth one line.
    let out = mini_docker(
        &state,
        &[
            "--reference",
            "chapter",
            "10",
            "run",
            "--cap-add",
            "NET_ADMIN",
            "--",
            "true",
        ],
    );
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cap-add needs chapter 11"));
}

/// `check 11 --with=--userns`: the whole escape room, each container in a
/// user namespace, stays shut with the reference.
#[test]
fn the_escape_room_holds_under_userns() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("harduserns");
    std::fs::set_permissions(
        state.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let before = HostSnapshot::take();
    let out = mini_docker(
        &state,
        &[
            "--reference",
            "check",
            "11",
            "--with=--userns",
            "--format",
            "json",
        ],
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(report["failed"], 0, "{report:#}");
    assert!(report["passed"].as_u64().unwrap() >= 16, "{report:#}");
    HostSnapshot::assert_clean_since(&before, "check 11 --with=--userns");
}

/// Rootless (a real unprivileged user): the escape helper's breakouts, run
/// in `chapter 11 run`, are each refused.
#[test]
fn escapes_fail_rootless() {
    use std::os::unix::process::CommandExt;
    require_root();
    let _serial = serial();
    let state = StateDir::new("hardrootless");
    std::os::unix::fs::chown(state.path(), Some(65534), Some(65534)).unwrap();
    let before = HostSnapshot::take();
    let as_nobody = |args: &[&str]| {
        std::process::Command::new(BIN)
            .arg("--reference")
            .arg("--state-dir")
            .arg(state.path().join("state"))
            .args(args)
            .env_remove("MINI_DOCKER_REFERENCE")
            .env("HOME", state.path())
            .current_dir("/")
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap()
    };
    let rootfs = as_nobody(&["rootfs"]);
    assert!(
        rootfs.status.success(),
        "{}",
        String::from_utf8_lossy(&rootfs.stderr)
    );
    let rootfs = std::path::PathBuf::from(String::from_utf8_lossy(&rootfs.stdout).trim());
    let helper = rootfs.join("tmp/.escape-rootless");
    std::fs::write(&helper, mini_docker::checks::ESCAPE).unwrap();
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    for probe in [
        &["cgroup-mount", "/mnt"][..],
        &["disk", "/dev/.escape-disk"],
        &["proc-write"],
        &["finit-module"],
        &["proc-read"],
        &["unshare-mount", "/mnt"],
        // (no ptrace probe: a rootless container maps one uid, there is no other user to attach to)
        &["tiocsti", "/dev/.escape-console"],
        &["sys-remount"],
    ] {
        let mut args = vec!["chapter", "11", "run", "--", "/tmp/.escape-rootless"];
        args.extend_from_slice(probe);
        let out = as_nobody(&args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "rootless {probe:?} must be blocked (exit 1): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::remove_file(&helper).unwrap();
    HostSnapshot::assert_clean_since(&before, "rootless escapes");
}
