//! `--explain`: the narrated demo mode. Each kernel step is printed to stderr,
//! with the reason the kernel needs it, as it happens.

use colored::Colorize;

/// Print one narrated step when `on`: `[ch05] pivot_root(".", ".")   why`.
pub fn step(on: bool, chapter: u8, call: &str, why: &str) {
    if on {
        // One write(2) per line: the container writes to the same terminal or
        // pipe, and a line split over several writes can be cut in two.
        let line = format!(
            "{} {:<48} {}\n",
            format!("[ch{chapter:02}]").cyan(),
            call.bold(),
            why.dimmed()
        );
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
    }
}
