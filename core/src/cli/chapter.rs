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
