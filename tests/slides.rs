//! The decks in slides/ are real presenterm presentations: every one renders in
//! presenterm (`./setup.sh --ci` installs it from crates.io) without an error,
//! and presenterm sees exactly the slides the deck's author wrote.
//!
//! No terminal is needed: presenterm's HTML export builds and renders every
//! slide as presenting does, at a fixed size. It does not run the ```bash +exec
//! demos (tests/docs.rs runs those).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The slide separator the decks use.
const END_SLIDE: &str = "<!-- end_slide -->";

/// The export's screen, in character cells: a projector-sized terminal.
const EXPORT_CONFIG: &str = "export:\n  dimensions:\n    rows: 35\n    columns: 120\n";

/// slides/*.md, in order.
fn decks() -> Vec<PathBuf> {
    let mut decks: Vec<PathBuf> = fs::read_dir(Path::new(ROOT).join("slides"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    decks.sort();
    decks
}

/// How many slides the author wrote: the title slide that the front matter
/// makes, then one per non-empty stretch between `<!-- end_slide -->` lines.
/// Read line by line, not as markdown, on purpose: a code fence left open
/// swallows the separators after it, and then presenterm counts fewer.
fn written_slides(deck: &str) -> usize {
    let body = deck
        .strip_prefix("---\n")
        .and_then(|rest| rest.split_once("\n---\n"))
        .map_or(deck, |(_front_matter, body)| body);
    let mut slides = usize::from(body.len() < deck.len());
    let mut current = String::new();
    for line in body.lines().chain([END_SLIDE]) {
        if line.trim() == END_SLIDE {
            slides += usize::from(!current.trim().is_empty());
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    slides
}

/// presenterm's own output, without its escape sequences: colours, progress-line
/// redraws, and the terminal-graphics queries it sends even with no terminal.
fn plain(output: &[u8]) -> String {
    let text = String::from_utf8_lossy(output);
    let mut plain = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            plain.push(c);
            continue;
        }
        match chars.next() {
            // CSI: parameters, then one final byte in @..~.
            Some('[') => {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            // APC, OSC, DCS strings (kitty's queries are APC): up to ESC \ or BEL.
            Some('_' | ']' | 'P') => {
                while let Some(c) = chars.next() {
                    if c == '\u{7}' || c == '\u{1b}' && chars.next() == Some('\\') {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    plain
}

fn presenterm_installed() {
    let found = Command::new("sh")
        .args(["-c", "command -v presenterm"])
        .output()
        .unwrap()
        .status
        .success();
    assert!(
        found,
        "presenterm is not installed: `./setup.sh --ci` installs it \
         (cargo install --locked presenterm, into ~/.cargo/bin: is that on PATH?)"
    );
}

#[test]
fn every_deck_renders_in_presenterm() {
    presenterm_installed();
    let out_dir = std::env::temp_dir().join(format!("mini-docker-slides-{}", std::process::id()));
    let _ = fs::remove_dir_all(&out_dir);
    fs::create_dir_all(&out_dir).unwrap();
    let config = out_dir.join("config.yaml");
    fs::write(&config, EXPORT_CONFIG).unwrap();

    let decks = decks();
    assert!(decks.len() >= 11, "only {} decks in slides/", decks.len());
    let mut failures = Vec::new();
    for deck in &decks {
        let name = deck.file_name().unwrap().to_string_lossy().into_owned();
        let html = out_dir.join(format!("{name}.html"));
        // XDG_CONFIG_HOME: no config or theme of whoever runs the tests takes part.
        let out = Command::new("presenterm")
            .arg("--config-file")
            .arg(&config)
            .arg("--export-html")
            .arg("--output")
            .arg(&html)
            .arg(deck)
            .env("XDG_CONFIG_HOME", &out_dir)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        if !out.status.success() {
            failures.push(format!(
                "{name}: presenterm cannot render it ({}):\n{}{}",
                out.status,
                plain(&out.stdout),
                plain(&out.stderr)
            ));
            continue;
        }
        let rendered = fs::read_to_string(&html)
            .unwrap_or_else(|e| panic!("{name}: presenterm wrote no {}: {e}", html.display()));
        let rendered = rendered.matches("<div class=\"container\">").count();
        let written = written_slides(&fs::read_to_string(deck).unwrap());
        if rendered != written {
            failures.push(format!(
                "{name}: presenterm renders {rendered} slides, the deck has {written} \
                 (a code fence left open swallows the {END_SLIDE}s after it?)"
            ));
        }
    }
    let _ = fs::remove_dir_all(&out_dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!("{} decks render in presenterm", decks.len());
}

#[test]
fn written_slides_counts_the_title_and_each_stretch() {
    let deck = "---\ntitle: t\n---\n\nA\n===\n<!-- end_slide -->\n\nB\n===\n<!-- end_slide -->\n";
    assert_eq!(written_slides(deck), 3);
    assert_eq!(written_slides("A\n<!-- end_slide -->\nB\n"), 2);
}

#[test]
fn plain_drops_colours_and_graphics_queries() {
    let raw = b"\x1b_Gi=1,a=q;AAAA\x1b\\\x1b[38;5;9mfailed to build presentation\x1b[39m\n";
    assert_eq!(plain(raw), "failed to build presentation\n");
}
