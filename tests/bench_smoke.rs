//! The benchmark runs (a few iterations). No timing is asserted here: these
//! machines are noisy; the numbers belong to `bench/run.sh` and the README.

mod common;

use common::*;

#[test]
fn the_benchmark_runs_and_prints_its_table() {
    require_root();
    let _serial = serial();
    let before = HostSnapshot::take();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mini-docker-bench"))
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
        "skopeo copy + umoci unpack",
        "containers at once",
    ] {
        assert!(text.contains(row), "no {row:?} row in:\n{text}");
    }
    assert!(text.contains(" 0 failed"), "{text}");
    HostSnapshot::assert_clean_since(&before, "the benchmark");
}
