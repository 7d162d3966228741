//! `mini-docker progress` (and `mini-docker` alone): every chapter with its
//! status, like `rustlings list` — what is still a `todo!()` in its exercise,
//! and how its checks went the last time `check` ran them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use colored::Colorize;
use serde::{Deserialize, Serialize};

use crate::checks::CheckResult;
use crate::workshop;

/// One chapter's last `check`, kept in STATE_DIR/progress.json.
#[derive(Serialize, Deserialize, Clone)]
pub struct LastCheck {
    pub passed: usize,
    pub total: usize,
    /// The checks ran the reference solution, not the learner's code.
    pub reference: bool,
    /// Seconds since the epoch.
    pub at: u64,
    /// The ids of the checks that failed, in order (`hint N` starts with the first).
    #[serde(default)]
    pub failed: Vec<String>,
}

fn file(state_dir: &Path) -> PathBuf {
    state_dir.join("progress.json")
}

pub fn load(state_dir: &Path) -> BTreeMap<u8, LastCheck> {
    std::fs::read(file(state_dir))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Remember how each chapter's checks went (best effort: a report is not
/// worth failing a check run for).
pub fn record(state_dir: &Path, results: &[CheckResult]) {
    let mut progress = load(state_dir);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for chapter in workshop::CHAPTERS {
        let ran: Vec<&CheckResult> = results
            .iter()
            .filter(|r| r.chapter == chapter.number)
            .collect();
        if let Some(first) = ran.first() {
            progress.insert(
                chapter.number,
                LastCheck {
                    passed: ran.iter().filter(|r| r.passed()).count(),
                    total: ran.len(),
                    reference: first.from_reference,
                    at: now,
                    failed: ran
                        .iter()
                        .filter(|r| !r.passed())
                        .map(|r| r.id.to_string())
                        .collect(),
                },
            );
        }
    }
    if let Ok(json) = serde_json::to_vec_pretty(&progress) {
        let _ = std::fs::create_dir_all(state_dir);
        let temp = file(state_dir).with_extension("json.tmp");
        // Write then rename: a reader never sees half a file.
        if std::fs::write(&temp, json).is_ok() {
            let _ = std::fs::rename(&temp, file(state_dir));
        }
    }
}

/// How many `todo!()`s the learner's file for this chapter still has (None:
/// the sources are not here, e.g. an installed binary).
fn todos_left(chapter: &workshop::Chapter) -> Option<usize> {
    let path = super::watch::project_dir().join(chapter.exercise_file());
    let source = std::fs::read_to_string(path).ok()?;
    Some(source.matches("todo!(").count())
}

/// "3 todo!() left" and its colour.
fn code_status(chapter: &workshop::Chapter) -> (String, colored::Color) {
    match todos_left(chapter) {
        Some(0) => ("written".into(), colored::Color::Green),
        Some(n) => (format!("{n} todo!() left"), colored::Color::Yellow),
        None => ("?".into(), colored::Color::White),
    }
}

/// "5/5 pass" and its colour.
fn check_status(last: Option<&LastCheck>) -> (String, colored::Color) {
    match last {
        Some(c) if c.reference => (
            format!("{}/{} (reference)", c.passed, c.total),
            colored::Color::White,
        ),
        Some(c) if c.passed == c.total => (
            format!("{}/{} pass", c.passed, c.total),
            colored::Color::Green,
        ),
        Some(c) => (
            format!("{}/{} pass", c.passed, c.total),
            colored::Color::Red,
        ),
        None => ("not checked yet".into(), colored::Color::White),
    }
}

pub fn show(state_dir: &Path) -> Result<i32> {
    let progress = load(state_dir);
    let mut next = None;
    println!("{}", "mini-docker: your progress".bold());
    for chapter in workshop::CHAPTERS {
        let last = progress.get(&chapter.number);
        let (code, code_colour) = code_status(chapter);
        let (checks, checks_colour) = check_status(last);
        if next.is_none() && !last.is_some_and(|c| !c.reference && c.passed == c.total) {
            next = Some(chapter.number);
        }
        // Pad first, colour after: escape codes would throw the columns off.
        println!(
            "  {:>2}  {:<32} {} {}",
            chapter.number,
            chapter.title,
            format!("{code:<16}").color(code_colour),
            checks.color(checks_colour)
        );
    }
    match next {
        Some(n) => println!(
            "next: {} (lesson: {})",
            format!("mini-docker chapter {n}").bold(),
            workshop::chapter(n)
                .map(|c| c.lesson_file())
                .unwrap_or_default()
        ),
        None => println!("{}", "every chapter passes its checks".green().bold()),
    }
    if !nix::unistd::geteuid().is_root() && progress.is_empty() {
        println!("(checks run with sudo keep their results in root's state dir: `sudo mini-docker progress`)");
    }
    Ok(0)
}
