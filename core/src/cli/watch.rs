//! `mini-docker watch [N]`: save an exercise, see its checks — like rustlings
//! watch. Each save rebuilds (`cargo build`, the learner's fast profile) and
//! re-runs chapter N's checks with the new binary; after the first report
//! only what changed is printed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use colored::Colorize;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use crate::selection::Selection;
use crate::workshop;

/// The project this binary was built from (the exercises live there).
pub fn project_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

pub fn run(chapter: Option<u8>, state_dir: &Path, selection: Selection) -> Result<i32> {
    let project = project_dir();
    // MINI_DOCKER_WATCH_DIR: another directory to watch (the tests use one).
    let exercises = std::env::var_os("MINI_DOCKER_WATCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| project.join("exercises"));
    if !exercises.is_dir() {
        bail!(
            "no {} here: watch needs the project's source",
            exercises.display()
        );
    }
    // The path, not /proc/self/exe: after a rebuild it names the new binary.
    let exe = std::env::current_exe().context("find the mini-docker binary")?;
    let inotify = Inotify::init(InitFlags::IN_CLOEXEC).context("inotify")?;
    // Editors save by writing in place or by renaming a new file over the old.
    inotify
        .add_watch(
            &exercises,
            AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_MOVED_TO,
        )
        .with_context(|| format!("watch {}", exercises.display()))?;
    println!(
        "{} {} (Ctrl-C to stop)",
        "watching".bold(),
        exercises.display()
    );
    let mut last = BTreeMap::new();
    loop {
        if build(&project)? {
            let number = chapter.unwrap_or_else(|| first_failing(&last));
            let results = check(&exe, number, state_dir, selection)?;
            report_changes(number, &last, &results);
            last = results;
        }
        wait_for_save(&inotify)?;
    }
}

/// `cargo build` as the learner (not root, under sudo): true if it built.
/// MINI_DOCKER_BUILD_COMMAND replaces `cargo build --quiet` (a shell line).
fn build(project: &Path) -> Result<bool> {
    let line = std::env::var("MINI_DOCKER_BUILD_COMMAND")
        .unwrap_or_else(|_| "cargo build --quiet".to_string());
    let mut command = match std::env::var("SUDO_USER") {
        Ok(user) if nix::unistd::geteuid().is_root() => {
            let mut c = Command::new("sudo");
            // A login shell finds the user's cargo (rustup puts it on PATH there).
            c.args(["-u", &user, "-H", "bash", "-lc", &line]);
            c
        }
        _ => {
            let mut c = Command::new("sh");
            c.args(["-c", &line]);
            c
        }
    };
    println!("{}", "building...".dimmed());
    let status = command
        .current_dir(project)
        .status()
        .context("run cargo build")?;
    if !status.success() {
        println!(
            "{}",
            "the build failed: fix the error above and save again".red()
        );
    }
    Ok(status.success())
}

/// check id -> (passed, title, why) from `mini-docker check N --format json`.
type Results = BTreeMap<String, (bool, String, String)>;

fn check(exe: &Path, chapter: u8, state_dir: &Path, selection: Selection) -> Result<Results> {
    let mut command = Command::new(exe);
    if let Some(arg) = selection.to_arg() {
        command.arg(arg);
    }
    let out = command
        .arg("--state-dir")
        .arg(state_dir)
        .args(["check", &chapter.to_string(), "--format", "json"])
        .env_remove("MINI_DOCKER_REFERENCE")
        .output()
        .context("run the checks")?;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "the checks printed no report: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })?;
    let mut results = Results::new();
    for chapter in report["chapters"].as_array().into_iter().flatten() {
        for c in chapter["checks"].as_array().into_iter().flatten() {
            let text = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            results.insert(
                text("id"),
                (
                    c["passed"].as_bool().unwrap_or(false),
                    text("title"),
                    text("message"),
                ),
            );
        }
    }
    Ok(results)
}

/// The chapter of the first check that did not pass last time (1 at first).
fn first_failing(last: &Results) -> u8 {
    last.iter()
        .find(|(_, (passed, _, _))| !passed)
        .and_then(|(id, _)| id.split('.').next()?.parse().ok())
        .unwrap_or_else(|| workshop::CHAPTERS.first().map(|c| c.number).unwrap_or(1))
}

/// Everything the first time; afterwards only the checks whose verdict changed.
fn report_changes(chapter: u8, last: &Results, now: &Results) {
    for (id, (passed, title, why)) in now {
        let before = last.get(id).map(|(p, _, _)| *p);
        if before == Some(*passed) {
            continue;
        }
        match passed {
            true => println!("  {} {id} {title}", "PASS".green().bold()),
            false => println!("  {} {id} {title}\n       why: {why}", "FAIL".red().bold()),
        }
    }
    let passed = now.values().filter(|(p, _, _)| *p).count();
    let line = format!("chapter {chapter}: {passed}/{} checks pass", now.len());
    match passed == now.len() {
        true => println!("{}", line.green().bold()),
        false => println!(
            "{} (`mini-docker hint {chapter}`: a hint for the first that fails)",
            line.bold()
        ),
    }
}

/// Block until an exercise file is saved; then let the editor finish (an
/// editor may write a backup and rename in quick succession).
fn wait_for_save(inotify: &Inotify) -> Result<()> {
    loop {
        let events = inotify.read_events().context("read inotify events")?;
        let saved = events.iter().any(|e| {
            e.name
                .as_ref()
                .is_some_and(|n| n.to_string_lossy().ends_with(".rs"))
        });
        if saved {
            std::thread::sleep(Duration::from_millis(150));
            return Ok(());
        }
    }
}
