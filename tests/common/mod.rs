//! Shared by the integration tests: the binary, root, temp state dirs, and a
//! host-hygiene snapshot that proves a test left nothing behind.
#![allow(dead_code)]

pub mod engine;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

use mini_docker::checks::fixture::{build_image, busybox_layer, Auth, Registry};

pub const BIN: &str = env!("CARGO_BIN_EXE_mini-docker");

/// A local registry holding the starter busybox as `repo_tag`, and the image's
/// full name (the registry stops when dropped: keep it alive).
pub fn busybox_in_registry(repo_tag: &str) -> (Registry, String) {
    let registry = Registry::start(Auth::Token).unwrap();
    let layout = build_image(&[busybox_layer().unwrap()], serde_json::json!({})).unwrap();
    registry
        .push(&layout.dir, "single", repo_tag, None)
        .unwrap();
    let image = format!("{}/{repo_tag}", registry.address());
    (registry, image)
}

/// `mini-docker --reference ARGS` on `state` (every chapter from solutions/).
pub fn md(state: &StateDir, args: &[&str]) -> Output {
    let mut all = vec!["--reference"];
    all.extend_from_slice(args);
    mini_docker(state, &all)
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn stdout(out: &Output) -> String {
    text(&out.stdout)
}

pub fn stderr(out: &Output) -> String {
    text(&out.stderr)
}

/// Privileged tests never skip: without root they fail, saying how to run them.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (namespaces, chroot, mounts). `cargo test` re-runs test binaries \
         through scripts/as-root (sudo) — is sudo available? Or run `sudo -E cargo test`."
    );
}

/// Tests that start containers run one at a time, so the hygiene snapshot
/// of one is not disturbed by another's containers.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A state dir of its own, removed at the end.
pub struct StateDir(pub PathBuf);

impl StateDir {
    pub fn new(name: &str) -> StateDir {
        let dir =
            std::env::temp_dir().join(format!("mini-docker-test-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        StateDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `mini-docker --state-dir DIR ARGS...`, with no reference selection from the environment.
pub fn mini_docker(state: &StateDir, args: &[&str]) -> Output {
    mini_docker_command(state, args)
        .output()
        .expect("run mini-docker")
}

/// The same command, not started yet (to spawn it and talk to it while it runs).
pub fn mini_docker_command(state: &StateDir, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_remove("MINI_DOCKER_REFERENCE")
        .env_remove("MINI_DOCKER_STATE_DIR")
        .arg("--state-dir")
        .arg(state.path())
        .args(args);
    command
}

/// What a test could leave behind on the host: mounts, processes in other
/// namespaces, files in /tmp.
#[derive(Debug, PartialEq)]
pub struct HostSnapshot {
    mounts: BTreeSet<String>,
    foreign_processes: BTreeSet<(i32, u64)>,
    tmp_entries: BTreeSet<String>,
    /// Host network interfaces, but the shared bridge (made once, removed by `cleanup`).
    interfaces: BTreeSet<String>,
    /// Container cgroups: mini-docker/ID in any hierarchy.
    cgroups: BTreeSet<String>,
}

/// Every mini-docker/ID directory in every cgroup hierarchy (v2, or each v1 controller).
fn container_cgroups() -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut parents = vec![std::path::PathBuf::from("/sys/fs/cgroup/mini-docker")];
    if let Ok(entries) = fs::read_dir("/sys/fs/cgroup") {
        parents.extend(entries.flatten().map(|e| e.path().join("mini-docker")));
    }
    for parent in parents {
        if let Ok(entries) = fs::read_dir(&parent) {
            found.extend(
                entries
                    .flatten()
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.path().display().to_string()),
            );
        }
    }
    found
}

fn ns_inode(pid: &str, kind: &str) -> Option<u64> {
    fs::metadata(format!("/proc/{pid}/ns/{kind}"))
        .ok()
        .map(|m| m.ino())
}

impl HostSnapshot {
    pub fn take() -> HostSnapshot {
        let mounts = fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .map(|l| l.split(' ').skip(3).take(2).collect::<Vec<_>>().join(" "))
            .collect();
        let host_pid_ns = ns_inode("self", "pid");
        let mut foreign_processes = BTreeSet::new();
        for entry in fs::read_dir("/proc").unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(pid) = name.parse::<i32>() else {
                continue;
            };
            if let Some(ns) = ns_inode(&name, "pid") {
                if Some(ns) != host_pid_ns {
                    foreign_processes.insert((pid, ns));
                }
            }
        }
        let tmp_entries = fs::read_dir("/tmp")
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| {
                n.starts_with("mini-docker-marker")
                    || n.starts_with("mini-docker-check")
                    || n.starts_with("mini-docker-rootless")
            })
            .collect();
        let interfaces = fs::read_dir("/sys/class/net")
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "mdk0")
            .collect();
        HostSnapshot {
            mounts,
            foreign_processes,
            tmp_entries,
            interfaces,
            cgroups: container_cgroups(),
        }
    }

    /// Fail if anything appeared since `before` (processes may take a moment to be reaped).
    pub fn assert_clean_since(before: &HostSnapshot, what: &str) {
        let mut after = HostSnapshot::take();
        for _ in 0..20 {
            // Processes are reaped, and veths of dead namespaces deleted, by the kernel: in a moment.
            if after.foreign_processes.is_subset(&before.foreign_processes)
                && after.interfaces.is_subset(&before.interfaces)
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            after = HostSnapshot::take();
        }
        let new_mounts: Vec<_> = after.mounts.difference(&before.mounts).collect();
        assert!(
            new_mounts.is_empty(),
            "{what} left mounts on the host: {new_mounts:?}"
        );
        let new_procs: Vec<_> = after
            .foreign_processes
            .difference(&before.foreign_processes)
            .collect();
        assert!(
            new_procs.is_empty(),
            "{what} left processes in other PID namespaces: {new_procs:?}"
        );
        let new_cgroups: Vec<_> = after.cgroups.difference(&before.cgroups).collect();
        assert!(
            new_cgroups.is_empty(),
            "{what} left cgroups: {new_cgroups:?}"
        );
        let new_links: Vec<_> = after.interfaces.difference(&before.interfaces).collect();
        assert!(
            new_links.is_empty(),
            "{what} left network interfaces on the host: {new_links:?}"
        );
        let new_tmp: Vec<_> = after.tmp_entries.difference(&before.tmp_entries).collect();
        assert!(new_tmp.is_empty(), "{what} left files in /tmp: {new_tmp:?}");
    }
}

/// After a run, the state dir holds the starter rootfs and nothing a container made.
pub fn assert_state_dir_clean(state: &StateDir) {
    let rootfs_tmp = state.path().join("rootfs/busybox/tmp");
    if rootfs_tmp.exists() {
        let left: Vec<_> = fs::read_dir(&rootfs_tmp)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(
            left.is_empty(),
            "checks left files in the rootfs's /tmp: {left:?}"
        );
    }
    for dir in ["network/leases", "containers", "mnt"] {
        let left: Vec<_> = fs::read_dir(state.path().join(dir))
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "left in the state dir's {dir}: {left:?}");
    }
    let stray: Vec<_> = fs::read_dir(state.path().join("rootfs"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_else(|_| Vec::new())
        .into_iter()
        .filter(|n| n != "busybox" && n != ".lock")
        .collect();
    assert!(
        stray.is_empty(),
        "stray entries in the state dir: {stray:?}"
    );
}
