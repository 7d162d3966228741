//! The benchmark runs (a few iterations). No timing is asserted here: these
//! machines are noisy; the numbers belong to `bench/run.sh` and the README.

mod common;

use common::*;
use mini_docker::checks::fixture::libpod_parents;

#[test]
fn the_benchmark_runs_and_prints_its_table() {
    require_root();
    let _serial = serial();
    let before = HostSnapshot::take();
    let libpod_parent_before = !libpod_parents().is_empty();
    // A workspace member of its own (bench/): `cargo test` builds it beside mini-docker.
    let bench = std::path::Path::new(BIN).with_file_name("mini-docker-bench");
    assert!(
        bench.exists(),
        "{} is not built: run the whole workspace's tests (`cargo test` at the top)",
        bench.display()
    );
    let out = std::process::Command::new(bench)
        .arg("--quick")
        .output()
        .expect("run the benchmark");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for row in [
        "mini-docker run --rm --network none",
        "crun run",
        "runc run",
        "(floor)",
        "--network bridge",
        "seccomp=unconfined",
        "--privileged (no ch11)",
        "median of the per-round differences",
        "skopeo copy + umoci unpack",
        "containers at once",
        "mini-docker run -d --rm --network none",
        "mini-docker run -d --network none ... sleep",
        "mini-docker ps -a, 10 running",
        "mini-docker rm -f of all 10",
        "mini-docker exec CONTAINER /bin/true",
        "crun exec NAME /bin/true",
        "podman --runtime mini-docker-runc run --rm",
        "podman --runtime runc run --rm",
        "docker run --rm --network none (the daemon)",
    ] {
        assert!(text.contains(row), "no {row:?} row in:\n{text}");
    }
    assert!(text.contains(" 0 failed"), "{text}");
    HostSnapshot::assert_clean_since(&before, "the benchmark");
    assert!(
        libpod_parent_before || libpod_parents().is_empty(),
        "the benchmark's podman rows left podman's libpod_parent cgroups on the host"
    );
}

/// Ctrl-C while the exec rows run: the crun container and every detached
/// `sleep` container go, with the benchmark's directory (the `rm -f` of its
/// cleanup once refused to run after Ctrl-C and left the sleepers behind).
#[test]
fn an_interrupted_benchmark_removes_its_containers() {
    use std::os::unix::process::CommandExt;
    require_root();
    let _serial = serial();
    let before = HostSnapshot::take();
    let bench = std::path::Path::new(BIN).with_file_name("mini-docker-bench");
    // 40 runs a row: the exec rows last a second or two, time to see them.
    let mut child = std::process::Command::new(bench)
        .args(["--quick", "--runs", "40"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .expect("run the benchmark");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let crun_name = loop {
        let list = std::process::Command::new("crun")
            .arg("list")
            .output()
            .expect("crun list");
        let list = String::from_utf8_lossy(&list.stdout).to_string();
        let ours = list
            .split_whitespace()
            .find(|w| w.starts_with("mini-docker-bench-") && w.ends_with("-exec"));
        if let Some(name) = ours {
            break name.to_string();
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the benchmark ended ({status}) before its exec rows were seen");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no exec rows in 300 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    // Like Ctrl-C: SIGINT to the whole process group.
    let group = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "interrupted, yet it succeeded");
    let list = std::process::Command::new("crun")
        .arg("list")
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(!list.contains(&crun_name), "{crun_name} left in:\n{list}");
    let work = std::path::Path::new("/var/lib").join(crun_name.trim_end_matches("-exec"));
    assert!(!work.exists(), "{} left behind", work.display());
    HostSnapshot::assert_clean_since(&before, "the interrupted benchmark");
}

/// bench/profile.sh traces a few starts with bpftrace and prints a median per
/// phase. Its numbers are not asserted either; that every phase was seen is.
#[test]
fn the_profile_traces_every_phase_of_a_start() {
    require_root();
    let _serial = serial();
    let before = HostSnapshot::take();
    let bin_dir = std::path::Path::new(BIN).parent().unwrap().to_path_buf();
    let out = std::process::Command::new("bench/profile.sh")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["--runs", "3"])
        .env("MINI_DOCKER_BIN_DIR", &bin_dir)
        .output()
        .expect("run bench/profile.sh (apt-get install bpftrace)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("median of 3 starts"), "{text}");
    for phase in ["clone: the new namespaces", "mounts:", "cleanup:"] {
        let line = text
            .lines()
            .find(|l| l.contains(phase))
            .unwrap_or_else(|| panic!("no {phase:?} line in:\n{text}"));
        let value: i64 = line.split_whitespace().last().unwrap().parse().unwrap();
        assert!(value > 0, "{phase} took {value} µs?\n{text}");
    }
    HostSnapshot::assert_clean_since(&before, "bench/profile.sh");
}
