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
            match earlier_todo(r) {
                // This chapter's hint would send the learner to the wrong file.
                Some(chapter) => println!(
                    "       {} chapter {chapter}'s exercise is not done yet: finish it first (or catch up with --reference)",
                    "hint:".yellow()
                ),
                // The why above; the how only on demand, one level at a time.
                None => println!("       {} {}", "hint:".yellow(), hint_pointer(r)),
            }
        }
    }
}

/// Where the failure's hints are, instead of the answer itself.
pub fn hint_pointer(r: &CheckResult) -> String {
    format!(
        "`mini-docker hint {} {}` (ask again for more)",
        r.chapter, r.id
    )
}

/// The earlier chapter whose `todo!()` made this check fail, if that is the
/// cause ("TODO(ch03) not done yet" in chapter 5's check).
pub fn earlier_todo(r: &CheckResult) -> Option<u8> {
    let why = r.failure.as_deref()?;
    let at = why.find("TODO(ch")? + "TODO(ch".len();
    let chapter: u8 = why.get(at..at + 2)?.parse().ok()?;
    (chapter < r.chapter).then_some(chapter)
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
    if results.iter().any(|r| r.from_reference) {
        println!("(chapters run from the reference solutions earn no points)");
    }
}

/// (points earned, points possible).
fn score<'a>(results: impl IntoIterator<Item = &'a CheckResult>) -> (u32, u32) {
    results
        .into_iter()
        .fold((0, 0), |(got, max), r| (got + r.score(), max + r.points))
}

/// The results grouped by chapter, in order.
fn by_chapter(results: &[CheckResult]) -> Vec<(u8, Vec<&CheckResult>)> {
    let mut numbers: Vec<u8> = results.iter().map(|r| r.chapter).collect();
    numbers.dedup();
    numbers
        .into_iter()
        .map(|n| (n, results.iter().filter(|r| r.chapter == n).collect()))
        .collect()
}

fn title(chapter: u8) -> &'static str {
    workshop::chapter(chapter).map(|c| c.title).unwrap_or("?")
}

pub fn print(results: &[CheckResult], selection: Selection, format: Format) -> Result<()> {
    match format {
        Format::Text => print_points(results),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json(results, selection))?
        ),
        Format::Junit => print!("{}", junit(results)),
    }
    Ok(())
}

/// Text: points per chapter, then the total (each check was printed live).
fn print_points(results: &[CheckResult]) {
    let chapters = by_chapter(results);
    if chapters.len() > 1 {
        for (n, suite) in &chapters {
            let (got, max) = score(suite.iter().copied());
            let passed = suite.iter().filter(|r| r.passed()).count();
            let from = match suite.iter().any(|r| r.from_reference) {
                true => "  (reference: no points)",
                false => "",
            };
            println!(
                "chapter {n:>2} {:<34} {passed}/{} checks  {got:>2}/{max:<2} points{from}",
                title(*n),
                suite.len()
            );
        }
    }
    print_summary(results);
}

pub fn json(results: &[CheckResult], selection: Selection) -> serde_json::Value {
    let (score_all, max_all) = score(results);
    let chapters: Vec<_> = by_chapter(results)
        .into_iter()
        .map(|(n, suite)| {
            let (got, max) = score(suite.iter().copied());
            let checks: Vec<_> = suite
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "id": r.id, "title": r.title, "points": r.points, "score": r.score(),
                        "passed": r.passed(), "message": r.failure, "hint": hint_for(r),
                        "seconds": (r.seconds * 1000.0).round() / 1000.0,
                    })
                })
                .collect();
            serde_json::json!({
                "chapter": n, "title": title(n),
                "from_reference": suite.iter().any(|r| r.from_reference),
                "score": got, "max_score": max,
                "passed": suite.iter().filter(|r| r.passed()).count(),
                "failed": suite.iter().filter(|r| !r.passed()).count(),
                "seconds": (suite.iter().map(|r| r.seconds).sum::<f64>() * 1000.0).round() / 1000.0,
                "checks": checks,
            })
        })
        .collect();
    serde_json::json!({
        "tool": "mini-docker", "selection": selection.to_string(),
        "score": score_all, "max_score": max_all,
        "passed": results.iter().filter(|r| r.passed()).count(),
        "failed": results.iter().filter(|r| !r.passed()).count(),
        "chapters": chapters,
    })
}

/// JUnit XML: a suite per chapter, with its points as properties (chapter,
/// score, max_score, from_reference) and per-suite counts and time.
pub fn junit(results: &[CheckResult]) -> String {
    let failures = results.iter().filter(|r| !r.passed()).count();
    let total: f64 = results.iter().map(|r| r.seconds).sum();
    let (score_all, max_all) = score(results);
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(xml, "<testsuites name=\"mini-docker\" tests=\"{}\" failures=\"{failures}\" time=\"{total:.3}\" score=\"{score_all}\" max_score=\"{max_all}\">", results.len());
    for (n, suite) in by_chapter(results) {
        let failed = suite.iter().filter(|r| !r.passed()).count();
        let time: f64 = suite.iter().map(|r| r.seconds).sum();
        let (got, max) = score(suite.iter().copied());
        let reference = suite.iter().any(|r| r.from_reference);
        let name = escape(&format!("chapter {n}: {}", title(n)));
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{name}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" skipped=\"0\" time=\"{time:.3}\">",
            suite.len()
        );
        let _ = writeln!(
            xml,
            "    <properties>\n      <property name=\"chapter\" value=\"{n}\"/>\n      <property name=\"score\" value=\"{got}\"/>\n      <property name=\"max_score\" value=\"{max}\"/>\n      <property name=\"from_reference\" value=\"{reference}\"/>\n    </properties>"
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
                        escape(&hint_for(r))
                    );
                }
            }
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

/// The hint to show: this check's own, unless an earlier chapter's todo!() is the cause.
fn hint_for(r: &CheckResult) -> String {
    match earlier_todo(r) {
        Some(chapter) => format!("chapter {chapter}'s exercise is not done yet: finish it first (or catch up with --reference)"),
        None => r.hint.to_string(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(chapter: u8, why: &str) -> CheckResult {
        CheckResult {
            chapter,
            id: "5.1",
            title: "t",
            points: 1,
            hint: "this chapter's hint",
            failure: Some(why.to_string()),
            seconds: 0.0,
            from_reference: false,
        }
    }

    #[test]
    fn an_earlier_chapters_todo_replaces_this_chapters_hint() {
        let cause =
            "mini-docker said: exercises/ch03_uts.rs:16: TODO(ch03) not done yet: namespaces";
        assert_eq!(earlier_todo(&failed(5, cause)), Some(3));
        assert!(hint_for(&failed(5, cause)).contains("chapter 3"));
        let own = "exercises/ch05_mount.rs:14: TODO(ch05) not done yet";
        assert_eq!(earlier_todo(&failed(5, own)), None);
        assert_eq!(hint_for(&failed(5, own)), "this chapter's hint");
        assert_eq!(earlier_todo(&failed(5, "EINVAL")), None);
    }

    #[test]
    fn a_failure_points_to_the_hint_command_not_the_answer() {
        let pointer = hint_pointer(&failed(5, "EINVAL"));
        assert!(pointer.contains("mini-docker hint 5 5.1"), "{pointer}");
        assert!(!pointer.contains("this chapter's hint"), "{pointer}");
    }
}
