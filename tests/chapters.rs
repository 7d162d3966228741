//! The two directions every chapter must prove (run as root):
//! - all-reference passes every check of chapter N;
//! - reference for 1..N-1 plus the *pristine* exercise for N fails every check of N.
//!
//! Each test also proves the host is as clean afterwards as before.

mod common;

use common::*;

fn check_json(state: &StateDir, selection: Option<String>, chapter: u8) -> serde_json::Value {
    let mut args: Vec<String> = selection.into_iter().collect();
    args.extend([
        "check".into(),
        chapter.to_string(),
        "--format".into(),
        "json".into(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = mini_docker(state, &args);
    let text = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "check {chapter} printed no JSON ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let all_passed = report["failed"] == 0;
    assert_eq!(
        out.status.success(),
        all_passed,
        "`check` exit status must say whether all passed"
    );
    report
}

fn checks_of(report: &serde_json::Value) -> Vec<(String, bool, String)> {
    report["chapters"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["passed"].as_bool().unwrap(),
                c["message"].to_string(),
            )
        })
        .collect()
}

fn reference_passes(chapter: u8) {
    require_root();
    let _serial = serial();
    let state = StateDir::new(&format!("ref{chapter}"));
    let before = HostSnapshot::take();
    let report = check_json(&state, Some("--reference".into()), chapter);
    let checks = checks_of(&report);
    assert!(
        checks.len() >= 4,
        "chapter {chapter} has only {} checks",
        checks.len()
    );
    for (id, passed, message) in &checks {
        assert!(passed, "reference fails check {id}: {message}");
    }
    println!(
        "chapter {chapter}: reference passes all {} checks",
        checks.len()
    );
    HostSnapshot::assert_clean_since(&before, &format!("chapter {chapter} (reference)"));
    assert_state_dir_clean(&state);
}

fn pristine_exercise_fails(chapter: u8, exercise: &str) {
    require_root();
    let source =
        std::fs::read_to_string(format!("{}/{exercise}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    assert!(
        source.contains("todo!(") && source.contains(&format!("TODO(ch{chapter:02})")),
        "{exercise} is no longer pristine (its todo!()s are gone): this test proves the shipped \
         exercise fails; run it on a clean checkout (git stash)"
    );
    let _serial = serial();
    let state = StateDir::new(&format!("ex{chapter}"));
    let before = HostSnapshot::take();
    let selection = (chapter > 1).then(|| format!("--reference=1-{}", chapter - 1));
    let report = check_json(&state, selection, chapter);
    let checks = checks_of(&report);
    for (id, passed, _) in &checks {
        assert!(
            !passed,
            "check {id} passes with the pristine {exercise}: it cannot fail, so it proves nothing"
        );
    }
    let first = &checks[0].2;
    assert!(
        first.contains(exercise),
        "failure should name {exercise}, got {first}"
    );
    println!(
        "chapter {chapter}: pristine exercise fails all {} checks",
        checks.len()
    );
    HostSnapshot::assert_clean_since(&before, &format!("chapter {chapter} (pristine exercise)"));
    assert_state_dir_clean(&state);
}

/// One trial per chapter and direction, from the chapter table: a new
/// chapter is tested both ways by adding its row, nothing here.
fn main() {
    let args = libtest_mimic::Arguments::from_args();
    let mut trials = Vec::new();
    for chapter in mini_docker::workshop::CHAPTERS {
        let n = chapter.number;
        let exercise = chapter.exercise_file();
        trials.push(libtest_mimic::Trial::test(
            format!("ch{n:02}_reference_passes"),
            move || catch(|| reference_passes(n)),
        ));
        trials.push(libtest_mimic::Trial::test(
            format!("ch{n:02}_pristine_exercise_fails"),
            move || catch(|| pristine_exercise_fails(n, &exercise)),
        ));
    }
    libtest_mimic::run(&args, trials).exit();
}

/// The assertions above panic, as in a #[test]; a trial reports a failure.
fn catch(test: impl FnOnce() + std::panic::UnwindSafe) -> Result<(), libtest_mimic::Failed> {
    std::panic::catch_unwind(test).map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panicked".into());
        message.into()
    })
}
