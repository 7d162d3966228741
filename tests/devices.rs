//! Chapter 11's device allow-list, on this host. A container may make any
//! node (CAP_MKNOD, as docker keeps it) but open only docker's default
//! devices: /dev/null and /dev/zero open, the host's root disk, a loop
//! device and /dev/kmsg do not (EPERM from the devices cgroup). Against the
//! pristine exercise (the step skipped) they open as they do on the host.
//! Every open is read-only and reads nothing; no device is ever written.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use common::*;
use mini_docker::cgroups::devices::{attach_device_filter, DEFAULT_ALLOWED};
use mini_docker::cgroups::v2::CgroupV2;

/// A node the probe makes, by name: (type, major, minor).
fn probes() -> Vec<(&'static str, char, u64, u64)> {
    let root = fs::metadata("/").expect("stat /").dev();
    vec![
        (
            "disk",
            'b',
            nix::sys::stat::major(root),
            nix::sys::stat::minor(root),
        ), // the host's root filesystem
        ("loop", 'b', 7, 0),  // /dev/loop0: a block device not on the list
        ("kmsg", 'c', 1, 11), // /dev/kmsg: a char device not on the list
        ("null", 'c', 1, 3),
        ("zero", 'c', 1, 5),
    ]
}

/// The shell that makes each node in the container's own /dev (a tmpfs of
/// its own: nothing is left in the shared rootfs) and opens it read-only
/// (dd with count=0 opens and reads nothing). One line per node:
/// `NAME opened` or `NAME <the error>`.
fn probe_script() -> String {
    let mut script = String::new();
    for (name, kind, major, minor) in probes() {
        script += &format!(
            "mknod /dev/probe-{name} {kind} {major} {minor} || echo '{name} mknod failed'\n\
             if err=$(dd if=/dev/probe-{name} of=/dev/null bs=1 count=0 2>&1); then echo '{name} opened'; \
             else echo \"{name} $err\"; fi\n"
        );
    }
    script + "grep devices /proc/self/cgroup\n"
}

/// What each probe's open gave: "opened", or the error text.
fn outcomes(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(name, _)| probes().iter().any(|p| p.0 == *name))
        .map(|(name, rest)| (name.to_string(), rest.to_string()))
        .collect()
}

/// Can the host itself open (kind major:minor) read-only? Some hosts refuse
/// even root its raw disk (this VM's sandbox does): then the pristine
/// container cannot either, and the loop and kmsg probes carry the proof.
fn host_opens(state: &StateDir, kind: char, major: u64, minor: u64) -> bool {
    let node = state
        .path()
        .join(format!("host-node-{kind}-{major}-{minor}"));
    let status = Command::new("mknod")
        .arg(&node)
        .arg(kind.to_string())
        .arg(major.to_string())
        .arg(minor.to_string())
        .status()
        .expect("run mknod");
    assert!(status.success(), "mknod {} on the host", node.display());
    let opened = fs::File::open(&node).is_ok();
    fs::remove_file(&node).unwrap();
    opened
}

fn run_probes(state: &StateDir, reference: &str) -> (BTreeMap<String, String>, String) {
    let script = probe_script();
    let output = mini_docker(
        state,
        &[reference, "chapter", "11", "run", "--", "sh", "-c", &script],
    );
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{reference} chapter 11 run: {stdout}{stderr}"
    );
    assert!(
        !stdout.contains("mknod failed"),
        "mknod is allowed (CAP_MKNOD, 'c *:* m'): {stdout}"
    );
    (outcomes(&stdout), stdout)
}

#[test]
fn reference_opens_only_the_allowed_devices() {
    require_root();
    let _serial = serial();
    let before = HostSnapshot::take();
    let state = StateDir::new("devices-ref");
    let (opened, stdout) = run_probes(&state, "--reference");
    assert_eq!(opened["null"], "opened", "{stdout}");
    assert_eq!(opened["zero"], "opened", "{stdout}");
    for name in ["disk", "loop", "kmsg"] {
        assert!(
            opened[name].contains("Operation not permitted"),
            "{name} must be refused by the devices cgroup (EPERM): {stdout}"
        );
    }
    assert_state_dir_clean(&state);
    drop(state);
    HostSnapshot::assert_clean_since(&before, "chapter 11 device probes");
}

#[test]
fn pristine_exercise_opens_devices_as_the_host_does() {
    require_root();
    let _serial = serial();
    let before = HostSnapshot::take();
    let state = StateDir::new("devices-pristine");
    let (opened, stdout) = run_probes(&state, "--reference=1-10");
    for (name, kind, major, minor) in probes() {
        let host = host_opens(&state, kind, major, minor);
        assert_eq!(
            opened[name] == "opened",
            host,
            "{name} ({kind} {major}:{minor}): the host {} it, the pristine container must too: {stdout}",
            if host { "opens" } else { "cannot open" }
        );
    }
    assert!(
        ["loop", "kmsg"].iter().any(|n| opened[*n] == "opened"),
        "no probe can show the allow-list missing: {stdout}"
    );
    // The container joined the devices hierarchy all the same (no cgroup
    // namespace without the reference: the path shows).
    assert!(
        stdout.lines().any(|l| l.contains(":devices:/mini-docker/")),
        "the container is in its devices cgroup: {stdout}"
    );
    assert_state_dir_clean(&state);
    drop(state);
    HostSnapshot::assert_clean_since(&before, "chapter 11 device probes (pristine)");
}

/// Where a cgroup2 tree is mounted: /sys/fs/cgroup (v2) or .../unified (hybrid).
fn cgroup2_root() -> &'static Path {
    let is_cgroup2 = |p: &str| {
        nix::sys::statfs::statfs(p)
            .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
    };
    for root in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
        if is_cgroup2(root) {
            return Path::new(root);
        }
    }
    panic!("no cgroup2 mounted at /sys/fs/cgroup or /sys/fs/cgroup/unified: the BPF device filter needs one");
}

/// The v2 mechanism itself, on this host's cgroup2 tree (the kernel asks a
/// task's cgroup2 device programs also on a hybrid host): a shell that
/// moves itself into a cgroup with the filter opens /dev/null, not kmsg or
/// a loop device. The cgroup goes at the end, and the program with it.
#[test]
fn the_bpf_filter_allows_exactly_the_list() {
    require_root();
    let dir = cgroup2_root().join(format!("mini-docker-devices-test-{}", std::process::id()));
    fs::create_dir(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let cgroup = CgroupV2 { dir: dir.clone() };
    let attached = attach_device_filter(&cgroup, DEFAULT_ALLOWED);
    let script = format!(
        "echo $$ > {procs} || exit 9\n\
         for n in null:/dev/null zero:/dev/zero kmsg:/dev/kmsg loop:/dev/loop0; do\n\
           if err=$(dd if=${{n#*:}} of=/dev/null bs=1 count=0 2>&1); then echo \"${{n%%:*}} opened\"; \
           else echo \"${{n%%:*}} $err\"; fi\n\
         done",
        procs = dir.join("cgroup.procs").display()
    );
    let output = attached.as_ref().ok().map(|_| {
        Command::new("sh")
            .args(["-c", &script])
            .output()
            .expect("run sh")
    });
    fs::remove_dir(&dir).unwrap_or_else(|e| panic!("rmdir {}: {e}", dir.display()));
    attached.expect("attach the device filter");
    let output = output.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(line("null"), "null opened", "{stdout}");
    assert_eq!(line("zero"), "zero opened", "{stdout}");
    for name in ["kmsg", "loop"] {
        assert!(
            line(name).contains("Operation not permitted"),
            "{name}: {stdout}"
        );
    }
    // Without the filter the same shell opens them: the refusal above is the program's.
    let open = Command::new("dd")
        .args(["if=/dev/kmsg", "of=/dev/null", "bs=1", "count=0"])
        .output()
        .unwrap();
    assert!(open.status.success(), "the host opens /dev/kmsg itself");
}

/// `doctor` names the seccomp support and the device mechanism this host's
/// layout uses (the VM test checks the v2 line).
#[test]
fn doctor_reports_seccomp_and_the_device_mechanism() {
    require_root();
    let state = StateDir::new("devices-doctor");
    let out = mini_docker(&state, &["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .map(str::to_string)
    };
    let seccomp =
        line("seccomp").unwrap_or_else(|| panic!("doctor does not mention seccomp:\n{text}"));
    assert!(
        seccomp.contains("ok")
            && seccomp.contains("libseccomp")
            && seccomp.contains("builds a filter"),
        "{seccomp}"
    );
    let devices =
        line("devices:").unwrap_or_else(|| panic!("doctor does not mention devices:\n{text}"));
    let expected = match mini_docker::cgroups::detect().unwrap() {
        mini_docker::cgroups::Mode::V1 { .. } => "the v1 devices controller at",
        mini_docker::cgroups::Mode::V2 => "BPF_PROG_TYPE_CGROUP_DEVICE program loads",
    };
    assert!(
        devices.contains("ok") && devices.contains(expected),
        "{devices}"
    );
}
