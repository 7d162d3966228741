//! The lessons' "Try it" commands are real: every line of a ```sh try block runs
//! (with the reference and a temp state dir) and exits as the lesson says.

mod common;

use std::fs;
use std::process::Command;

use common::*;

struct TryLine {
    file: String,
    command: String,
    expected: i32,
}

fn try_lines() -> Vec<TryLine> {
    let mut lines = Vec::new();
    let dir = format!("{}/chapters", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for path in files {
        let text = fs::read_to_string(&path).unwrap();
        let mut in_try = false;
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                in_try = line.trim() == "```sh try";
                continue;
            }
            let line = line.trim();
            if !in_try || line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (command, expected) = match line.rsplit_once("# exit ") {
                Some((cmd, code)) => (
                    cmd.trim().to_string(),
                    code.trim().parse().expect("# exit N"),
                ),
                None => (line.to_string(), 0),
            };
            lines.push(TryLine {
                file: path.file_name().unwrap().to_string_lossy().into(),
                command,
                expected,
            });
        }
    }
    lines
}

#[test]
fn lesson_try_commands_run_as_documented() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("docs");
    let lines = try_lines();
    assert!(lines.len() >= 20, "only {} try-it lines found", lines.len());
    let before = HostSnapshot::take();
    for line in &lines {
        let rest = line.command.strip_prefix("sudo ").unwrap_or(&line.command);
        let rest = rest.strip_prefix("mini-docker ").unwrap_or_else(|| {
            panic!(
                "{}: try-it line does not start with mini-docker: {}",
                line.file, line.command
            )
        });
        let shell = format!(
            "exec {BIN} --reference --state-dir {} {rest}",
            state.path().display()
        );
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(&shell)
            .env_remove("MINI_DOCKER_REFERENCE")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(line.expected),
            "{}: `{}` exited {:?}, the lesson says {}\nstdout: {}\nstderr: {}",
            line.file,
            line.command,
            out.status.code(),
            line.expected,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    println!("{} try-it commands ran as documented", lines.len());
    HostSnapshot::assert_clean_since(&before, "the lessons' try-it commands");
}

/// The decks' ```bash +exec blocks, as presenterm runs them: each whole block in bash.
fn exec_blocks() -> Vec<(String, String)> {
    let dir = format!("{}/slides", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut blocks = Vec::new();
    for path in files {
        let text = fs::read_to_string(&path).unwrap();
        let mut current: Option<String> = None;
        for line in text.lines() {
            match (&mut current, line.trim_start().starts_with("```")) {
                (None, true) if line.trim() == "```bash +exec" => current = Some(String::new()),
                (Some(block), true) => {
                    blocks.push((
                        path.file_name().unwrap().to_string_lossy().into_owned(),
                        block.clone(),
                    ));
                    current = None;
                }
                (Some(block), false) => {
                    block.push_str(line);
                    block.push('\n');
                }
                _ => {}
            }
        }
    }
    blocks
}

#[test]
fn slide_demos_run() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("slides");
    let blocks = exec_blocks();
    assert!(
        blocks.len() >= 10,
        "only {} live-demo blocks found",
        blocks.len()
    );
    let before = HostSnapshot::take();
    for (file, block) in &blocks {
        // We are root already; `mini-docker` is the binary under test.
        let script = format!(
            "sudo() {{ \"$@\"; }}\nmini-docker() {{ {BIN} --state-dir {} \"$@\"; }}\n{block}",
            state.path().display()
        );
        let out = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .env_remove("MINI_DOCKER_REFERENCE")
            .output()
            .unwrap();
        assert!(
            out.status.success() && !out.stdout.is_empty(),
            "{file}: demo block failed ({:?}):\n{block}\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    println!("{} slide demo blocks ran", blocks.len());
    HostSnapshot::assert_clean_since(&before, "the slides' demos");
}
