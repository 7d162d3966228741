//! `--explain`: the narrated demo mode. Each kernel step is printed to stderr,
//! with the reason the kernel needs it, as it happens.

use colored::Colorize;

/// Print one narrated step when `on`: `[ch05] pivot_root(".", ".")   why`.
pub fn step(on: bool, chapter: u8, call: &str, why: &str) {
    if on {
        eprintln!(
            "{} {:<48} {}",
            format!("[ch{chapter:02}]").cyan(),
            call.bold(),
            why.dimmed()
        );
    }
}
