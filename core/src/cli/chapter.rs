//! `mini-docker chapter N`: the chapter's card, then the status of its checks.

use std::path::Path;

use anyhow::{Context, Result};
use colored::Colorize;

use crate::checks;
use crate::selection::Selection;
use crate::workshop;

pub fn show(number: u8, state_dir: &Path, selection: Selection) -> Result<i32> {
    let ch = workshop::chapter(number).context("no such chapter")?;
    println!(
        "{}",
        format!("Chapter {} — {}", ch.number, ch.title)
            .bold()
            .cyan()
    );
    println!("{} {}", "Goal:".bold(), ch.goal);
    println!("{} {}", "Lesson:".bold(), ch.lesson_file());
    println!(
        "{} {}  ({})",
        "Exercise:".bold(),
        ch.exercise_file().yellow(),
        ch.task
    );
    println!("{}", "Try:".bold());
    for cmd in ch.try_commands {
        println!("  {}", cmd.green());
    }
    println!(
        "{} cargo build && sudo mini-docker check {}   (or: mini-docker watch {}; stuck? --reference={} runs the reference)",
        "Check:".bold(),
        ch.number,
        ch.number,
        ch.number
    );
    println!();
    if !nix::unistd::geteuid().is_root() && number >= 2 {
        println!("Status of its checks: run `sudo mini-docker chapter {number}` or `sudo mini-docker check {number}`.");
        return Ok(0);
    }
    println!("{}", "Status of its checks:".bold());
    let results = checks::run_chapters(&[number], state_dir, selection, true)?;
    checks::report::print_summary(&results);
    Ok(0)
}

/// An exercise saved after this binary was built means the checks would
/// judge old code (a build that failed leaves the old binary in place): say so.
pub fn warn_if_stale() {
    let Some(built) = std::env::current_exe()
        .and_then(std::fs::metadata)
        .and_then(|m| m.modified())
        .ok()
    else {
        return;
    };
    let exercises = super::watch::project_dir().join("exercises");
    let Ok(entries) = std::fs::read_dir(&exercises) else {
        return; // an installed binary without its sources
    };
    for entry in entries.flatten() {
        let newer = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|saved| saved > built);
        if newer {
            eprintln!(
                "{} exercises/{} was saved after this mini-docker was built: these checks run the \
                 old code. Run `cargo build` (or `mini-docker watch`) first.",
                "note:".yellow().bold(),
                entry.file_name().to_string_lossy()
            );
        }
    }
}
