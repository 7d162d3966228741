//! Printing check results: colored text, JSON, JUnit XML.

use std::fmt::Write as _;

use anyhow::Result;
use colored::Colorize;

use super::CheckResult;
use crate::selection::Selection;
use crate::workshop;

/// How `check` and `grade` print their report.
#[derive(Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Junit,
}

pub fn print_chapter_heading(chapter: u8) {
    let ch = workshop::chapter(chapter).expect("a chapter of the table");
    println!("{}", format!("Chapter {} — {}", ch.number, ch.title).bold());
}

pub fn print_result(r: &CheckResult) {
    match &r.failure {
        None => println!("  {} {} {}", "PASS".green().bold(), r.id, r.title),
        Some(why) => {
            println!("  {} {} {}", "FAIL".red().bold(), r.id, r.title);
            println!("       {} {}", "why: ".dimmed(), why);
            println!("       {} {}", "hint:".yellow(), r.hint);
        }
    }
}

pub fn print_summary(results: &[CheckResult]) {
    let (score, max) = score(results);
    let passed = results.iter().filter(|r| r.passed()).count();
    let line = format!(
        "{passed}/{} checks passed, {score}/{max} points",
        results.len()
    );
    println!(
        "{}",
        if passed == results.len() {
            line.green().bold()
        } else {
            line.red().bold()
        }
    );
}

fn score(results: &[CheckResult]) -> (u32, u32) {
    let max = results.iter().map(|r| r.points).sum();
    let score = results
        .iter()
        .filter(|r| r.passed())
        .map(|r| r.points)
        .sum();
    (score, max)
}

pub fn print(results: &[CheckResult], selection: Selection, format: Format) -> Result<()> {
    match format {
        Format::Text => {
            // `check` printed each result live; `grade` prints them now.
            if results.iter().all(|r| r.seconds >= 0.0) {
                print_summary(results);
            }
        }
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json(results, selection))?
        ),
        Format::Junit => print!("{}", junit(results)),
    }
    Ok(())
}

pub fn json(results: &[CheckResult], selection: Selection) -> serde_json::Value {
    let (score, max) = score(results);
    let mut chapters = Vec::new();
    let mut numbers: Vec<u8> = results.iter().map(|r| r.chapter).collect();
    numbers.dedup();
    for n in numbers {
        let checks: Vec<_> = results
            .iter()
            .filter(|r| r.chapter == n)
            .map(|r| {
                serde_json::json!({
                    "id": r.id, "title": r.title, "points": r.points,
                    "score": if r.passed() { r.points } else { 0 },
                    "passed": r.passed(), "message": r.failure, "hint": r.hint,
                    "seconds": (r.seconds * 1000.0).round() / 1000.0,
                })
            })
            .collect();
        chapters.push(
            serde_json::json!({ "chapter": n, "title": workshop::chapter(n).map(|c| c.title).unwrap_or("?"), "checks": checks }),
        );
    }
    serde_json::json!({
        "tool": "mini-docker", "selection": selection.to_string(),
        "score": score, "max_score": max,
        "passed": results.iter().filter(|r| r.passed()).count(),
        "failed": results.iter().filter(|r| !r.passed()).count(),
        "chapters": chapters,
    })
}

pub fn junit(results: &[CheckResult]) -> String {
    let failures = results.iter().filter(|r| !r.passed()).count();
    let total: f64 = results.iter().map(|r| r.seconds).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(xml, "<testsuites name=\"mini-docker\" tests=\"{}\" failures=\"{failures}\" time=\"{total:.3}\">", results.len());
    let mut numbers: Vec<u8> = results.iter().map(|r| r.chapter).collect();
    numbers.dedup();
    for n in numbers {
        let suite: Vec<&CheckResult> = results.iter().filter(|r| r.chapter == n).collect();
        let failed = suite.iter().filter(|r| !r.passed()).count();
        let name = escape(&format!(
            "chapter {n}: {}",
            workshop::chapter(n).map(|c| c.title).unwrap_or("?")
        ));
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{name}\" tests=\"{}\" failures=\"{failed}\">",
            suite.len()
        );
        for r in suite {
            let title = escape(&format!("{} {} ({} points)", r.id, r.title, r.points));
            let _ = write!(xml, "    <testcase classname=\"mini-docker.chapter{n:02}\" name=\"{title}\" time=\"{:.3}\"", r.seconds);
            match &r.failure {
                None => xml.push_str("/>\n"),
                Some(why) => {
                    let _ = writeln!(
                        xml,
                        ">\n      <failure message=\"{}\">hint: {}</failure>\n    </testcase>",
                        escape(why),
                        escape(r.hint)
                    );
                }
            }
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

fn escape(text: &str) -> String {
    text.chars()
        .filter(|&c| c == '\n' || c == '\t' || !c.is_control())
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            c => c.to_string(),
        })
        .collect()
}
