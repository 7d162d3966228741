//! The decks in slides/ are real presenterm presentations: every one renders in
//! presenterm (`./setup.sh --ci` installs it from crates.io) without an error,
//! and presenterm sees exactly the slides the deck's author wrote.
//!
//! No terminal is needed: presenterm's HTML export builds and renders every
//! slide as presenting does, at a fixed size. `every_deck_renders_in_presenterm`
//! does not run the ```bash +exec demos (tests/docs.rs checks what they print);
//! `every_slide_fits_the_projector` does, so their output counts in the slide's height.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;

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

/// The workshop projector's terminal.
const PROJECTOR_ROWS: usize = 35;
const PROJECTOR_COLUMNS: usize = 120;

/// presenterm's footer ("3 / 8") is drawn on the second row from the bottom and
/// the last row stays empty: slide content must end above both.
const FOOTER_ROWS: usize = 2;

/// A screen so tall that nothing is cut off: the export of a 35-row screen drops
/// what does not fit without a word, so we render on this one and measure.
const TALL_ROWS: usize = 400;

/// A screen so wide that no code line wraps: comparing it with the projector's
/// shows which code lines presenterm had to wrap (a wrapped diagram is broken).
const WIDE_COLUMNS: usize = 2000;

/// The background presenterm gives code blocks in its default (dark) theme,
/// base16-eighties: the rows that carry it are code rows.
const CODE_BACKGROUND: &str = "background-color: #2d2d2d";

/// One row of an exported slide: its text, and how many of its cells are code.
struct Row {
    text: String,
    code_cells: usize,
}

/// The rows of every slide of presenterm's HTML export.
fn exported_slides(html: &str) -> Vec<Vec<Row>> {
    html.split("<div class=\"container\">")
        .skip(1)
        .map(|slide| {
            slide
                .split("<div class=\"content-line\"><pre>")
                .skip(1)
                .map(|row| exported_row(row.split("</pre>").next().unwrap_or("")))
                .collect()
        })
        .collect()
}

/// A row's `<span style=…>text</span>`s, read back as text.
fn exported_row(row: &str) -> Row {
    let mut text = String::new();
    let mut code_cells = 0;
    let mut in_code = false;
    let mut rest = row;
    while let Some(open) = rest.find('<') {
        text.push_str(&unescape(&rest[..open]));
        if in_code {
            code_cells += unescape(&rest[..open]).chars().count();
        }
        let close = rest[open..].find('>').map_or(rest.len(), |c| open + c + 1);
        let tag = &rest[open..close];
        if tag.starts_with("<span") {
            in_code = tag.contains(CODE_BACKGROUND);
        } else if tag.starts_with("</span") {
            in_code = false;
        }
        rest = &rest[close..];
    }
    text.push_str(&unescape(rest));
    Row { text, code_cells }
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

/// How many rows of the projector a slide rendered on the tall screen needs.
/// Slides flow from the top; the title slide is centred, its author line and
/// every slide's footer sit at the bottom.
fn rows_needed(rows: &[Row]) -> usize {
    let body = &rows[..rows.len().saturating_sub(FOOTER_ROWS + 3)];
    let used: Vec<usize> = (0..body.len())
        .filter(|&i| !body[i].text.trim().is_empty())
        .collect();
    match (used.first(), used.last()) {
        (Some(&first), Some(&last)) if first < PROJECTOR_ROWS => last + 1 + FOOTER_ROWS,
        // Centred: its height, and the bottom lines (author, footer) below it.
        (Some(&first), Some(&last)) => last - first + 1 + FOOTER_ROWS + 3,
        _ => 0,
    }
}

/// Code rows: a code line too wide for the screen is wrapped onto more of them.
fn code_rows(rows: &[Row]) -> usize {
    rows.iter().filter(|r| r.code_cells > 0).count()
}

/// The widest code row (padding included) of a slide.
fn widest_code(rows: &[Row]) -> usize {
    rows.iter().map(|r| r.code_cells).max().unwrap_or(0)
}

/// Renders `deck` with presenterm's HTML export on a `rows` x `columns` screen,
/// running its ```bash +exec demos if `run_demos`.
fn export(deck: &Path, dir: &Path, rows: usize, columns: usize, run_demos: bool) -> String {
    let name = deck.file_name().unwrap().to_string_lossy().into_owned();
    let config = dir.join(format!("{rows}x{columns}.yaml"));
    fs::write(
        &config,
        format!("export:\n  dimensions:\n    rows: {rows}\n    columns: {columns}\n"),
    )
    .unwrap();
    let html = dir.join(format!("{name}-{rows}x{columns}.html"));
    let scratch = dir.join("scratch");
    fs::create_dir_all(&scratch).unwrap();
    let path = format!(
        "{}:{}",
        dir.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut presenterm = Command::new("presenterm");
    if run_demos {
        presenterm.arg("--enable-snippet-execution");
    }
    let out = presenterm
        .arg("--config-file")
        .arg(&config)
        .arg("--export-html")
        .arg("--export-temporary-path")
        .arg(&scratch)
        .arg("--output")
        .arg(&html)
        .arg(deck)
        .env("XDG_CONFIG_HOME", dir)
        .env("TMPDIR", &scratch)
        .env("PATH", path)
        .env_remove("MINI_DOCKER_REFERENCE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name}: presenterm cannot render it on {rows}x{columns} ({}):\n{}{}",
        out.status,
        plain(&out.stdout),
        plain(&out.stderr)
    );
    fs::read_to_string(&html)
        .unwrap_or_else(|e| panic!("{name}: presenterm wrote no {}: {e}", html.display()))
}

/// `sudo` and `mini-docker` as the demos call them: we are root already, and
/// `mini-docker` is the binary under test with a state dir of the test's own.
fn demo_commands(dir: &Path, state: &StateDir) {
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let scripts = [
        ("sudo", "#!/bin/sh\nexec \"$@\"\n".to_string()),
        (
            "mini-docker",
            format!(
                "#!/bin/sh\nexec {BIN} --state-dir {} \"$@\"\n",
                state.path().display()
            ),
        ),
    ];
    for (name, script) in scripts {
        let path = bin.join(name);
        fs::write(&path, script).unwrap();
        Command::new("chmod")
            .arg("755")
            .arg(&path)
            .status()
            .unwrap();
    }
}

/// Every slide of every deck fits the projector's 120x35 terminal as presenterm
/// draws it: title, margins, code padding, wrapped lines and the `+exec` demos'
/// output included (the demos run, as the presenter runs them with ctrl+e).
#[test]
fn every_slide_fits_the_projector() {
    require_root();
    presenterm_installed();
    let _serial = serial();
    let state = StateDir::new("slides-fit");
    let dir = std::env::temp_dir().join(format!("mini-docker-slides-fit-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    demo_commands(&dir, &state);
    let before = HostSnapshot::take();

    let mut overflows = Vec::new();
    let mut slides = 0;
    for deck in &decks() {
        let name = deck.file_name().unwrap().to_string_lossy().into_owned();
        let tall = exported_slides(&export(deck, &dir, TALL_ROWS, PROJECTOR_COLUMNS, true));
        // The demos' output has the code background too: compare code without it.
        let narrow = exported_slides(&export(deck, &dir, TALL_ROWS, PROJECTOR_COLUMNS, false));
        let wide = exported_slides(&export(deck, &dir, TALL_ROWS, WIDE_COLUMNS, false));
        assert!(
            tall.len() == narrow.len() && tall.len() == wide.len(),
            "{name}: slide counts differ between renderings"
        );
        for (index, tall) in tall.iter().enumerate() {
            let (narrow, wide) = (&narrow[index], &wide[index]);
            slides += 1;
            let slide = index + 1;
            let needed = rows_needed(tall);
            if needed > PROJECTOR_ROWS {
                overflows.push(format!(
                    "{name} slide {slide}: {needed} rows, {} too many for {PROJECTOR_ROWS} \
                     (demo output included)",
                    needed - PROJECTOR_ROWS
                ));
            }
            let wrapped = code_rows(narrow).saturating_sub(code_rows(wide));
            if wrapped > 0 {
                overflows.push(format!(
                    "{name} slide {slide}: code wraps onto {wrapped} more row(s): its widest code \
                     block needs {} columns, padding included, {} too many ({} fit)",
                    widest_code(wide),
                    widest_code(wide).saturating_sub(widest_code(narrow)),
                    widest_code(narrow)
                ));
            }
        }
    }
    let _ = fs::remove_dir_all(&dir);
    drop(state);
    HostSnapshot::assert_clean_since(&before, "the slides' demos");
    assert!(
        overflows.is_empty(),
        "slides that do not fit the projector ({PROJECTOR_COLUMNS}x{PROJECTOR_ROWS}); split them \
         (a demo can have a slide of its own) or shorten them, and break long demo commands with \
         `\\`. Code blocks get 84 columns in presenterm's default theme: copy the `theme: override:` \
         of slides/10-layers.md's front matter to give them 114 (110 of code):\n{}",
        overflows.join("\n")
    );
    println!("{slides} slides fit {PROJECTOR_COLUMNS}x{PROJECTOR_ROWS}");
}

#[test]
fn exported_rows_measure_text_and_code() {
    let row = exported_row(
        "  <span style=\"background-color: #2d2d2d; color: #fff\">  a &lt; b  </span> x",
    );
    assert_eq!(row.text, "    a < b   x");
    assert_eq!(row.code_cells, 9);
    let rows = |lines: &[&str]| -> Vec<Row> {
        lines
            .iter()
            .map(|t| Row {
                text: t.to_string(),
                code_cells: 0,
            })
            .collect()
    };
    // A top slide of 3 lines ending on row 4, then the footer zone.
    let mut top = vec![""; TALL_ROWS];
    top[2] = "Title";
    top[4] = "text";
    top[TALL_ROWS - 2] = "1 / 3";
    assert_eq!(rows_needed(&rows(&top)), 5 + FOOTER_ROWS);
}

/// The measure is presenterm's own: on a deck of slides one row taller each,
/// the projector-sized export (which cuts off what does not fit, and draws
/// the footer over the row it shares) shows every line of exactly those slides
/// `rows_needed` says fit. And a code line too wide is seen wrapped.
#[test]
fn fit_measure_agrees_with_presenterm_on_the_projector() {
    presenterm_installed();
    let dir = std::env::temp_dir().join(format!("mini-docker-slides-probe-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let mut deck = String::from("---\ntitle: probe\n---\n\n");
    for lines in 24..=34 {
        deck.push_str(&format!("Slide of {lines}\n===\n\n"));
        for line in 1..=lines - 4 {
            deck.push_str(&format!("* line {line} of {lines}\n"));
        }
        deck.push_str("\n<!-- end_slide -->\n\n");
    }
    let wide_code = "x".repeat(PROJECTOR_COLUMNS);
    deck.push_str(&format!("Wide code\n===\n\n```\n{wide_code}\n```\n"));
    let path = dir.join("probe.md");
    fs::write(&path, deck).unwrap();

    let shown = exported_slides(&export(
        &path,
        &dir,
        PROJECTOR_ROWS,
        PROJECTOR_COLUMNS,
        false,
    ));
    let tall = exported_slides(&export(&path, &dir, TALL_ROWS, PROJECTOR_COLUMNS, false));
    let wide = exported_slides(&export(&path, &dir, TALL_ROWS, WIDE_COLUMNS, false));
    let _ = fs::remove_dir_all(&dir);
    let (mut fitting, mut overflowing) = (0, 0);
    for (index, (tall, shown)) in tall.iter().zip(&shown).enumerate().skip(1) {
        let on_screen: Vec<&str> = shown.iter().map(|r| r.text.trim()).collect();
        let body = &tall[..tall.len() - FOOTER_ROWS - 3];
        let all_shown = body
            .iter()
            .map(|r| r.text.trim())
            .filter(|t| !t.is_empty())
            .all(|t| on_screen.contains(&t));
        let fits = rows_needed(tall) <= PROJECTOR_ROWS;
        assert_eq!(
            fits,
            all_shown,
            "slide {}: measured {} rows, but presenterm's {PROJECTOR_ROWS}-row export \
             shows {} of it",
            index + 1,
            rows_needed(tall),
            if all_shown { "all" } else { "not all" }
        );
        if fits {
            fitting += 1;
        } else {
            overflowing += 1;
        }
    }
    assert!(
        fitting > 0 && overflowing > 0,
        "the probe must have slides on both sides of the limit ({fitting} fit, {overflowing} do not)"
    );
    let last = tall.len() - 1;
    assert!(
        code_rows(&tall[last]) > code_rows(&wide[last]),
        "a {PROJECTOR_COLUMNS}-column code line was not seen wrapped"
    );
}
