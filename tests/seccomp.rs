//! Chapter 11's seccomp filter, seen from inside a container: docker's
//! default profile refuses what it refuses and lets a shell work;
//! `--security-opt seccomp=unconfined` and `seccomp=FILE.json` change it; a bad
//! file is one error line. Each refusal is set against the same probe
//! succeeding without the filter, so a missing filter fails the test.

mod common;

use std::fs;
use std::path::Path;
use std::process::Output;

use common::*;

/// `chapter 11 run [FLAGS] -- sh -c SCRIPT` with the reference solution.
fn run_script(state: &StateDir, flags: &[&str], script: &str) -> Output {
    let mut args = vec!["--reference", "chapter", "11", "run"];
    args.extend(flags);
    args.extend(["--", "sh", "-c", script]);
    mini_docker(state, &args)
}

/// The probe's lines as `name=value`, for the step `name`.
fn value<'a>(stdout: &'a str, name: &str) -> Option<&'a str> {
    let prefix = format!("{name}=");
    stdout.lines().find_map(|l| l.strip_prefix(prefix.as_str()))
}

/// A user namespace needs no capability: only seccomp stops it in here.
/// (busybox has no `unshare` link in /bin, but the applet is built in.)
const PROBE: &str = "echo seccomp=$(grep '^Seccomp:' /proc/self/status | cut -f2); \
     echo echo=ok; ls / >/dev/null && echo ls=ok; \
     busybox unshare -U true; echo unshare=$?; \
     ping -c 1 -W 2 127.0.0.1 >/dev/null; echo ping=$?";

#[test]
fn default_profile_refuses_a_user_namespace_but_runs_a_shell() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("seccomp-default");
    let before = HostSnapshot::take();

    let out = run_script(&state, &[], PROBE);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        value(&stdout, "seccomp"),
        Some("2"),
        "filter mode: {stdout}"
    );
    assert_eq!(value(&stdout, "echo"), Some("ok"), "{stdout}");
    assert_eq!(value(&stdout, "ls"), Some("ok"), "{stdout}");
    // socket(AF_INET, SOCK_RAW): allowed by the profile, permitted by NET_RAW.
    assert_eq!(value(&stdout, "ping"), Some("0"), "{stdout}\n{stderr}");
    assert_ne!(value(&stdout, "unshare"), Some("0"), "{stdout}");
    assert!(
        stderr.contains("unshare(0x10000000): Operation not permitted"),
        "{stderr}"
    );

    // Unconfined: the same probe, and the user namespace is made.
    let out = run_script(&state, &["--security-opt", "seccomp=unconfined"], PROBE);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert_eq!(value(&stdout, "seccomp"), Some("0"), "{stdout}");
    assert_eq!(value(&stdout, "unshare"), Some("0"), "{stdout}");

    assert_state_dir_clean(&state);
    HostSnapshot::assert_clean_since(&before, "seccomp default probes");
}

/// `mount` needs CAP_SYS_ADMIN twice over: the capability, and the profile's
/// rule that allows mount only to a container keeping it.
#[test]
fn mount_follows_cap_sys_admin() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("seccomp-mount");
    let before = HostSnapshot::take();
    let script = "mount -t tmpfs probe /mnt; echo mount=$?; umount /mnt 2>/dev/null; true";

    let out = run_script(&state, &[], script);
    let stdout = text(&out.stdout);
    assert_ne!(value(&stdout, "mount"), Some("0"), "{stdout}");
    let out = run_script(&state, &["--cap-add", "SYS_ADMIN"], script);
    let stdout = text(&out.stdout);
    assert_eq!(
        value(&stdout, "mount"),
        Some("0"),
        "{stdout}\n{}",
        text(&out.stderr)
    );

    assert_state_dir_clean(&state);
    HostSnapshot::assert_clean_since(&before, "seccomp mount probes");
}

#[test]
fn a_profile_file_in_dockers_format_denies_mkdir() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("seccomp-file");
    let before = HostSnapshot::take();
    let profile = state.path().join("no-mkdir.json");
    fs::write(
        &profile,
        r#"{
            "defaultAction": "SCMP_ACT_ALLOW",
            "archMap": [{"architecture": "SCMP_ARCH_X86_64",
                         "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
        }"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let script = "mkdir /tmp/made; echo mkdir=$?; rmdir /tmp/made 2>/dev/null; \
                  echo seccomp=$(grep '^Seccomp:' /proc/self/status | cut -f2)";

    let out = run_script(&state, &["--security-opt", &opt], script);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_ne!(value(&stdout, "mkdir"), Some("0"), "{stdout}");
    assert!(
        stderr.contains("can't create directory '/tmp/made': Operation not permitted"),
        "EPERM expected: {stderr}"
    );
    assert_eq!(value(&stdout, "seccomp"), Some("2"), "{stdout}");
    // The default profile allows it: the file is what refused.
    let out = run_script(&state, &[], script);
    assert_eq!(value(&text(&out.stdout), "mkdir"), Some("0"));

    assert_state_dir_clean(&state);
    HostSnapshot::assert_clean_since(&before, "seccomp profile file");
}

#[test]
fn a_bad_profile_file_is_one_error_line() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("seccomp-bad");
    let before = HostSnapshot::take();
    for (name, json, says) in [
        (
            "truncated.json",
            r#"{"defaultAction": "#,
            "EOF while parsing",
        ),
        (
            "unknown-action.json",
            r#"{"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_MAYBE"}]}"#,
            "syscalls[0] (mkdir): action: \"SCMP_ACT_MAYBE\": unknown action",
        ),
        (
            "unknown-op.json",
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["socket"],
                "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_IS"}]}]}"#,
            "args[0]: op \"SCMP_CMP_IS\": unknown operator",
        ),
    ] {
        let file = state.path().join(name);
        fs::write(&file, json).unwrap();
        let opt = format!("seccomp={}", file.display());
        let out = run_script(&state, &["--security-opt", &opt], "echo ran");
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{name}: {stderr}");
        assert!(!text(&out.stdout).contains("ran"), "{name} ran the command");
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("--security-opt {opt}: ")) && stderr.contains(says),
            "{name}: {stderr}"
        );
        fs::remove_file(&file).unwrap();
    }
    assert_no_containers(state.path());
    assert_state_dir_clean(&state);
    HostSnapshot::assert_clean_since(&before, "bad seccomp profiles");
}

/// Nothing of a refused run is left in the state dir.
fn assert_no_containers(state: &Path) {
    let containers = state.join("containers");
    let left: Vec<_> = match fs::read_dir(&containers) {
        Ok(entries) => entries.flatten().map(|e| e.file_name()).collect(),
        Err(_) => Vec::new(),
    };
    assert!(left.is_empty(), "containers left: {left:?}");
}

/// x32 (syscall numbers with bit 30 set): does this kernel take such calls?
/// Without CONFIG_X86_X32_ABI it answers ENOSYS before running anything.
fn kernel_runs_x32() -> bool {
    // SAFETY: getpid takes no arguments and changes nothing.
    let pid = unsafe { nix::libc::syscall(0x4000_0000 | nix::libc::SYS_getpid) };
    pid != -1 || nix::errno::Errno::last() != nix::errno::Errno::ENOSYS
}

/// Load `program` in a child and make one call: how did the child end?
/// (exit 0: the call returned; a signal: the filter killed it.)
fn child_with_filter(program: &[u8], call: nix::libc::c_long) -> nix::sys::wait::WaitStatus {
    use nix::libc;
    let fprog = libc::sock_fprog {
        len: (program.len() / 8) as u16,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: the child makes raw system calls only, then _exit.
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => {
            // SAFETY: `fprog` points into `program`, alive in this child.
            let loaded = unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    0,
                    &fprog as *const libc::sock_fprog,
                )
            };
            if loaded != 0 {
                // SAFETY: _exit ends the child without running the parent's handlers.
                unsafe { libc::_exit(3) };
            }
            // SAFETY: getpid (native or x32) changes nothing.
            unsafe { libc::syscall(call) };
            // SAFETY: as above.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => nix::sys::wait::waitpid(child, None).unwrap(),
    }
}

/// On a kernel without x32 (most, this VM's too) the default program has no
/// x32 part: a third fewer instructions for the kernel to load at every
/// start. An x32 call is then killed by the filter (libseccomp's bad
/// architecture) where the kernel would have said ENOSYS: never allowed.
#[test]
fn no_x32_rules_for_a_kernel_without_x32() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("seccomp-x32");
    let before = HostSnapshot::take();

    let out = run_script(&state, &[], "true");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let programs: Vec<_> = fs::read_dir(state.path().join("seccomp"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".bpf"))
        .map(|e| fs::read(e.path()).unwrap())
        .collect();
    assert_eq!(programs.len(), 1, "one cached program");
    let program = &programs[0];
    let instructions = program.len() / 8;
    // libseccomp's binary tree, laid out as ranges (seccomp_layout.rs): 274
    // instructions for x86_64 + x86, 391 with x32 (libseccomp's own: 872, 1246).
    if kernel_runs_x32() {
        assert!(instructions > 330, "x32 kept: {instructions} instructions");
        return; // the filter then has docker's x32 rules, as docker's would
    }
    assert!(
        instructions < 330,
        "{instructions} instructions: x32 rules on a kernel without x32"
    );
    use nix::sys::{signal::Signal, wait::WaitStatus};
    let native = child_with_filter(program, nix::libc::SYS_getpid);
    assert!(matches!(native, WaitStatus::Exited(_, 0)), "{native:?}");
    let x32 = child_with_filter(program, 0x4000_0000 | nix::libc::SYS_getpid);
    assert!(
        matches!(x32, WaitStatus::Signaled(_, Signal::SIGSYS, _)),
        "an x32 call must be killed, not run: {x32:?}"
    );

    assert_state_dir_clean(&state);
    HostSnapshot::assert_clean_since(&before, "x32 probe");
}
