//! `mini-docker hint N [CHECK]`: help on demand, one level at a time — the
//! concept, then where to look, then the exact call (checks/hints.rs). How far
//! each check has gone is remembered per learner in STATE_DIR/hints.json.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use colored::Colorize;

use crate::checks::{self, hints, Check};
use crate::workshop;

/// The highest level; asked again after it, every level is shown.
const LAST_LEVEL: u8 = 3;

const LEVEL_NAMES: [&str; 3] = ["the concept", "where to look", "the exact call"];

/// What `hint` was asked to do.
pub struct Ask<'a> {
    pub chapter: u8,
    pub check: Option<&'a str>,
    /// Every level at once, nothing remembered (`--all`, MINI_DOCKER_INSTRUCTOR=1).
    pub all: bool,
    /// Forget the levels shown.
    pub reset: bool,
}

pub fn run(state_dir: &Path, ask: Ask) -> Result<i32> {
    let checks = checks::for_chapter(ask.chapter);
    if ask.reset {
        return reset(
            state_dir,
            ask.chapter,
            ask.check
                .map(|c| find(&checks, ask.chapter, c))
                .transpose()?,
        );
    }
    let (check, why_this_one) = match ask.check {
        Some(text) => (find(&checks, ask.chapter, text)?, None),
        None => pick(state_dir, ask.chapter, &checks)?,
    };
    let Some(levels) = hints::levels(ask.chapter, check) else {
        bail!("check {} has no hints yet: read its lesson", check.id);
    };
    let exercise = workshop::chapter(ask.chapter)
        .map(|c| c.exercise_file())
        .unwrap_or_default();
    println!(
        "{}",
        format!("Check {} — {} ({exercise})", check.id, check.title).bold()
    );
    if let Some(why) = why_this_one {
        println!("  ({why})");
    }
    if ask.all || instructor() {
        for n in 1..=LAST_LEVEL {
            print_level(&levels, n);
        }
        return Ok(0);
    }
    let mut shown = load(state_dir);
    let before = shown.get(check.id).copied().unwrap_or(0);
    let level = (before + 1).min(LAST_LEVEL);
    match before >= LAST_LEVEL {
        // Past the last level: everything, for the whole picture.
        true => (1..=LAST_LEVEL).for_each(|n| print_level(&levels, n)),
        false => print_level(&levels, level),
    }
    shown.insert(check.id.to_string(), level);
    save(state_dir, &shown)?;
    let again = format!("mini-docker hint {} {}", ask.chapter, check.id);
    match level < LAST_LEVEL {
        true => println!(
            "Still stuck? `{again}` again for level {}: {}.",
            level + 1,
            LEVEL_NAMES[level as usize]
        ),
        false => println!("That is the last level (`{again} --reset` starts over)."),
    }
    Ok(0)
}

fn print_level(levels: &hints::Levels, n: u8) {
    let label = format!(
        "level {n} of {LAST_LEVEL}, {}:",
        LEVEL_NAMES[n as usize - 1]
    );
    println!("  {} {}", label.yellow(), levels.level(n));
}

/// `MINI_DOCKER_INSTRUCTOR=1`: every level, as `--all`.
fn instructor() -> bool {
    std::env::var("MINI_DOCKER_INSTRUCTOR")
        .is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false" | "no"))
}

/// `4.3` (or just `3`) among chapter 4's checks.
fn find<'a>(checks: &'a [Check], chapter: u8, text: &str) -> Result<&'a Check> {
    let id = match text.contains('.') {
        true => text.to_string(),
        false => format!("{chapter}.{text}"),
    };
    match checks.iter().find(|c| c.id == id) {
        Some(check) => Ok(check),
        None => bail!(
            "unknown check {text:?} in chapter {chapter}: its checks are {}",
            checks.iter().map(|c| c.id).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The first check that failed in the last `check N`; else the first check.
fn pick<'a>(
    state_dir: &Path,
    chapter: u8,
    checks: &'a [Check],
) -> Result<(&'a Check, Option<String>)> {
    let Some(first) = checks.first() else {
        bail!("chapter {chapter} has no checks yet");
    };
    let last = super::progress::load(state_dir).remove(&chapter);
    let failed = last.as_ref().and_then(|l| {
        l.failed
            .iter()
            .find_map(|id| checks.iter().find(|c| c.id == id))
    });
    let why = match (&last, failed) {
        (_, Some(check)) => {
            return Ok((
                check,
                Some(format!(
                    "the first check that failed in your last `check {chapter}`"
                )),
            ))
        }
        (Some(l), None) if l.passed == l.total => {
            format!("every check passed in your last `check {chapter}`: here is the first")
        }
        (Some(_), None) => format!("the first check of chapter {chapter}"),
        (None, None) if !nix::unistd::geteuid().is_root() => format!(
            "no `check {chapter}` recorded in {}: the first check (checks run with sudo record in \
             root's state dir: `sudo mini-docker hint {chapter}`)",
            state_dir.display()
        ),
        (None, None) => format!("no `check {chapter}` recorded yet: the first check"),
    };
    Ok((first, Some(why)))
}

/// `--reset`: forget one check's level, or every check's of the chapter.
fn reset(state_dir: &Path, chapter: u8, check: Option<&Check>) -> Result<i32> {
    let mut shown = load(state_dir);
    let prefix = format!("{chapter}.");
    match check {
        Some(check) => {
            shown.remove(check.id);
            println!("Forgot the hints shown for check {}.", check.id);
        }
        None => {
            shown.retain(|id, _| !id.starts_with(&prefix));
            println!("Forgot the hints shown for chapter {chapter}.");
        }
    }
    save(state_dir, &shown)?;
    Ok(0)
}

fn file(state_dir: &Path) -> PathBuf {
    state_dir.join("hints.json")
}

/// Check id -> the highest level shown. A missing or unreadable file is a
/// learner who has not asked yet.
fn load(state_dir: &Path) -> BTreeMap<String, u8> {
    std::fs::read(file(state_dir))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Write then rename: a reader (another `hint`) never sees half a file.
fn save(state_dir: &Path, shown: &BTreeMap<String, u8>) -> Result<()> {
    let json = serde_json::to_vec_pretty(shown)?;
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("create the state dir {}", state_dir.display()))?;
    let temp = file(state_dir).with_extension("json.tmp");
    std::fs::write(&temp, json).with_context(|| format!("write {}", temp.display()))?;
    std::fs::rename(&temp, file(state_dir))
        .with_context(|| format!("rename {} into place", temp.display()))?;
    Ok(())
}
