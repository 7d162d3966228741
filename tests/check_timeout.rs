//! A check that gives up on a container (its timeout) must not leave the
//! container's cgroups behind: the run it kills never gets to remove them.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use mini_docker::checks::Ctx;
use mini_docker::selection::Selection;

/// Every mini-docker/ID cgroup directory, in every hierarchy.
fn container_cgroups() -> BTreeSet<String> {
    let mut parents = vec![std::path::PathBuf::from("/sys/fs/cgroup/mini-docker")];
    if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
        parents.extend(entries.flatten().map(|e| e.path().join("mini-docker")));
    }
    parents
        .iter()
        .filter_map(|parent| std::fs::read_dir(parent).ok())
        .flat_map(|entries| entries.flatten())
        .filter(|e| e.path().is_dir())
        .map(|e| e.path().display().to_string())
        .collect()
}

/// Collects the cgroups of the containers of `state` (named by the ids in its
/// containers/) that appear while it runs: proof that the run got as far as
/// making them (a test whose run failed before would prove nothing). Other
/// tests' containers may come and go meanwhile: not theirs.
struct CgroupWatch {
    seen: Arc<Mutex<BTreeSet<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CgroupWatch {
    fn start(state: &StateDir) -> CgroupWatch {
        let before = container_cgroups();
        let containers = state.path().join("containers");
        let seen = Arc::new(Mutex::new(BTreeSet::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                let ids: BTreeSet<String> = std::fs::read_dir(&containers)
                    .into_iter()
                    .flat_map(|entries| entries.flatten())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                let ours = container_cgroups()
                    .into_iter()
                    .filter(|c| !before.contains(c))
                    .filter(|c| ids.iter().any(|id| c.ends_with(&format!("/{id}"))));
                s.lock().unwrap().extend(ours);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        CgroupWatch {
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> BTreeSet<String> {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.thread.take().unwrap().join();
        self.seen.lock().unwrap().clone()
    }
}

/// The run sleeps past the check's deadline (2 s here, 20 s in a check):
/// the check kills it, and every cgroup it made (memory, pids; cpu,cpuacct
/// on v1) is gone when the check returns — not later, not never.
#[test]
fn a_check_timeout_leaves_no_cgroup_of_the_run_it_killed() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("check-timeout");
    let mut ctx = Ctx::new(state.path(), Selection::all_reference()).unwrap();
    ctx.exe = BIN.into();
    ctx.rootfs.as_ref().expect("the starter rootfs");
    let before = HostSnapshot::take();

    let watch = CgroupWatch::start(&state);
    let started = Instant::now();
    let run_args = [
        "--network",
        "none",
        "-m",
        "32m",
        "--pids-limit",
        "10",
        "--cpus",
        "0.5",
    ];
    let outcome = ctx.output_within(8, &run_args, &["sleep", "30"], b"", Duration::from_secs(2));
    let left = container_cgroups();
    let seen = watch.finish();

    let error = format!(
        "{:#}",
        outcome.expect_err("sleep 30 must outlive a 2 s deadline")
    );
    assert!(
        error.contains("did not exit within 2s"),
        "the deadline, not something else, must end the run: {error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "killed at the deadline, not when sleep ended: {:?}",
        started.elapsed()
    );
    assert!(
        !seen.is_empty(),
        "the run never made its cgroups: the test proves nothing"
    );
    let leaked: Vec<&String> = seen.intersection(&left).collect();
    assert!(
        leaked.is_empty(),
        "the timed-out run's cgroups are still there when the check moves on: {leaked:?}"
    );
    HostSnapshot::assert_clean_since(&before, "a check run killed at its deadline");
}
