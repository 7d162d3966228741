//! The workshop's shape: every chapter has its five parts, exercises and
//! solutions match, scripts pass shellcheck, the Vagrantfile validates.

use std::fs;
use std::path::Path;
use std::process::Command;

use mini_docker::workshop::CHAPTERS;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `pub fn` signature lines, in order.
fn signatures(source: &str) -> Vec<String> {
    source
        .lines()
        .filter(|l| l.starts_with("pub fn "))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_chapter_has_lesson_slides_exercise_solution() {
    for chapter in CHAPTERS {
        let n = chapter.number;
        let lesson = read(&chapter.lesson_file());
        assert!(
            lesson.starts_with(&format!("# Chapter {n} ")),
            "chapter {n} lesson title"
        );
        assert!(
            lesson.contains("```sh try"),
            "chapter {n}: lesson has runnable try-it commands"
        );
        assert!(
            lesson.contains("heck"),
            "chapter {n}: lesson says what the checks verify"
        );
        assert!(
            lesson.to_lowercase().contains("pitfall"),
            "chapter {n}: lesson names a pitfall"
        );
        assert!(
            lesson.contains(&chapter.exercise_file()),
            "chapter {n}: lesson names its exercise"
        );
        let slides = read(&chapter.slides_file());
        assert!(
            slides.contains("<!-- end_slide -->"),
            "chapter {n}: slides are a presenterm deck"
        );
        assert!(
            slides.contains("```bash +exec"),
            "chapter {n}: slides run a live demo"
        );
        let exercise = read(&chapter.exercise_file());
        let solution = read(&chapter.solution_file());
        assert!(
            exercise.contains(&format!("TODO(ch{n:02})")),
            "chapter {n}: exercise has TODO(ch{n:02}) markers"
        );
        assert!(
            exercise.contains("todo!("),
            "chapter {n}: exercise has todo!()s"
        );
        assert!(
            !solution.contains("todo!("),
            "chapter {n}: the solution is complete"
        );
        assert_eq!(
            signatures(&exercise),
            signatures(&solution),
            "chapter {n}: same public signatures"
        );
        assert!(!signatures(&exercise).is_empty());
        for step in chapter.steps {
            assert!(
                signatures(&exercise)
                    .iter()
                    .any(|s| s.starts_with(&format!("pub fn {step}("))
                        || s.starts_with(&format!("pub fn {step}<"))),
                "chapter {n}: the table's step {step} is not a pub fn of {}",
                chapter.exercise_file()
            );
        }
        assert!(
            !mini_docker::checks::for_chapter(n).is_empty(),
            "chapter {n} has no checks"
        );
    }
    assert!(Path::new(ROOT).join("chapters/00-setup.md").exists());
}

#[test]
fn exercise_and_solution_directories_hold_the_same_files() {
    let names = |dir: &str| {
        let mut v: Vec<String> = fs::read_dir(Path::new(ROOT).join(dir))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names("exercises"), names("solutions"));
    let mut from_table: Vec<String> = CHAPTERS
        .iter()
        .map(|c| format!("{}.rs", c.module()))
        .collect();
    from_table.sort();
    assert_eq!(
        names("exercises"),
        from_table,
        "exercises/ holds exactly the chapter table's files"
    );
}

fn tool(name: &str, install: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .unwrap()
        .status
        .success();
    assert!(
        found,
        "{name} is not installed: `./setup.sh --ci` installs it ({install})"
    );
}

#[test]
fn scripts_pass_shellcheck() {
    tool("shellcheck", "apt-get install shellcheck");
    let out = Command::new("shellcheck")
        .current_dir(ROOT)
        .args([
            "setup.sh",
            ".ci/run",
            "scripts/as-root",
            "bench/run.sh",
            "bench/profile.sh",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "shellcheck:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// setup.sh's `debian_mirror SUITE`, run alone against `files` as /etc/apt.
fn debian_mirror(files: &[(&str, &str)], suite: &str) -> Option<String> {
    let etc = std::env::temp_dir().join(format!("mini-docker-apt-{}-{suite}", std::process::id()));
    let _ = fs::remove_dir_all(&etc);
    fs::create_dir_all(etc.join("sources.list.d")).unwrap();
    for (name, text) in files {
        fs::write(etc.join(name), text).unwrap();
    }
    let setup = read("setup.sh");
    let start = setup
        .find("debian_mirror() {")
        .expect("setup.sh defines debian_mirror");
    let function = &setup[start..start + setup[start..].find("\n}\n").unwrap() + 3];
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("{function}\ndebian_mirror {suite}"))
        .env("APT_ETC", &etc)
        .output()
        .unwrap();
    let _ = fs::remove_dir_all(&etc);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn setup_takes_backports_from_the_systems_own_mirror() {
    assert!(
        !read("setup.sh").contains("deb.debian.org"),
        "setup.sh hard-codes a mirror: it must use the system's own"
    );
    let deb822 =
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n\
                  Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\n\
                  Types: deb\nURIs: http://mirror.example/debian http://other.example/debian\n\
                  Suites: bookworm bookworm-updates\nComponents: main\n";
    assert_eq!(
        debian_mirror(&[("sources.list.d/debian.sources", deb822)], "bookworm").as_deref(),
        Some("http://mirror.example/debian")
    );
    let one_line = "# deb http://commented.example/debian bookworm main\n\
                    deb [signed-by=/usr/share/keyrings/x.gpg] http://proxy.example:3142/debian bookworm main\n";
    assert_eq!(
        debian_mirror(&[("sources.list", one_line)], "bookworm").as_deref(),
        Some("http://proxy.example:3142/debian")
    );
    let disabled = "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nEnabled: no\n";
    assert_eq!(
        debian_mirror(&[("sources.list.d/off.sources", disabled)], "bookworm"),
        None,
        "a disabled entry is no mirror"
    );
}

#[test]
fn setup_grants_userns_through_apparmor_only_where_it_is_restricted() {
    let setup = read("setup.sh");
    let guard = "if [ -e /proc/sys/kernel/apparmor_restrict_unprivileged_userns ]; then";
    let block = &setup[setup
        .find(guard)
        .expect("setup.sh checks the AppArmor sysctl")..];
    let block = &block[..block.find("\nfi\n").unwrap()];
    for needed in [
        "/etc/apparmor.d/mini-docker",
        "abi <abi/4.0>,",
        "include <tunables/global>",
        "profile mini-docker \"$bin\" flags=(unconfined) {",
        "  userns,",
        "include if exists <local/mini-docker>",
        "apparmor_parser -r /etc/apparmor.d/mini-docker",
    ] {
        assert!(
            block.contains(needed),
            "the AppArmor block lacks {needed:?}:\n{block}"
        );
    }
}

#[test]
fn vagrantfile_validates() {
    tool("vagrant", "apt-get install vagrant");
    let out = Command::new("vagrant")
        .current_dir(ROOT)
        .arg("validate")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "vagrant validate:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let vagrantfile = read("Vagrantfile");
    for needle in [
        "ubuntu-24.04",
        "cpus = 2",
        "memory = 2048",
        "/workshop",
        "./setup.sh",
    ] {
        assert!(vagrantfile.contains(needle), "Vagrantfile lacks {needle}");
    }
}

#[test]
fn readme_test_command_is_what_ci_runs() {
    let readme = read("README.md");
    let ci = read(".ci/run");
    assert!(readme.contains("./setup.sh") && readme.contains("cargo test"));
    assert!(
        ci.lines().any(|l| l.trim() == "cargo test"),
        ".ci/run calls the README's test command"
    );
}

/// The README's chapter table is the chapter table: a row per chapter, in order.
#[test]
fn readme_lists_every_chapter_of_the_table() {
    let readme = read("README.md");
    let rows: Vec<&str> = readme
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains("](chapters/"))
        .collect();
    assert_eq!(
        rows.len(),
        CHAPTERS.len(),
        "README's chapter table has {} rows, the chapter table {} chapters",
        rows.len(),
        CHAPTERS.len()
    );
    for (row, chapter) in rows.iter().zip(CHAPTERS) {
        let expected = format!(
            "| {} | [{}]({}) | `{}` |",
            chapter.number,
            chapter.slug,
            chapter.lesson_file(),
            chapter.exercise_file()
        );
        assert!(
            row.starts_with(&expected),
            "README row for chapter {}: expected it to start with {expected}\ngot {row}",
            chapter.number
        );
    }
}

/// The GitHub Actions workflow for graders: its "Grade" and "Points" steps,
/// run here as they are written (with this build on PATH and a state dir of
/// the test's own), give a JUnit report and a points summary that add up.
#[test]
fn the_grading_workflow_runs_and_sums_points() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test runs `sudo mini-docker grade`: run it as root (cargo test does, through scripts/as-root)"
    );
    let workflow = read(".github/workflows/grade.yml");
    let step = |name: &str| -> String {
        let start = workflow
            .find(&format!("- name: {name}"))
            .unwrap_or_else(|| panic!("no step {name:?} in the workflow"));
        let rest = &workflow[start..];
        let run = rest.find("run:").expect("a run: line") + "run:".len();
        let body = &rest[run..];
        let end = body.find("\n      - ").unwrap_or(body.len());
        let text = body[..end].trim_start_matches(" |").trim_start_matches(' ');
        // A block scalar: drop its indentation (10 spaces in this file).
        text.lines()
            .map(|l| l.strip_prefix("          ").unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let dir = std::env::temp_dir().join(format!("mini-docker-workflow-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("bin")).unwrap();
    let bin = env!("CARGO_BIN_EXE_mini-docker");
    std::os::unix::fs::symlink(bin, dir.join("bin/mini-docker")).unwrap();
    let path = format!(
        "{}:{}",
        dir.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let summary = dir.join("summary.md");
    for name in ["Grade", "Points"] {
        let script = step(name);
        let out = Command::new("bash")
            .args(["-e", "-c", &script])
            .current_dir(&dir)
            .env("PATH", &path)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("MINI_DOCKER_STATE_DIR", dir.join("state"))
            .env_remove("MINI_DOCKER_REFERENCE")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "step {name}:\n{script}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let xml = fs::read_to_string(dir.join("grade.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("the JUnit report parses");
    let max: u32 = doc
        .root_element()
        .attribute("max_score")
        .unwrap()
        .parse()
        .unwrap();
    let summary = fs::read_to_string(&summary).unwrap();
    assert!(
        summary.contains(&format!("/ {max} points")),
        "the summary sums the points: {summary}"
    );
    assert_eq!(
        summary
            .lines()
            .filter(|l| l
                .strip_prefix("| chapter ")
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit())))
            .count(),
        CHAPTERS.len(),
        "a row per chapter: {summary}"
    );
    fs::remove_dir_all(&dir).unwrap();
}
