//! The mutation suite (run as root): each mutant is a realistic wrong answer
//! to one chapter step (core/src/checks/mutants/), swapped into the reference
//! by MINI_DOCKER_MUTANT. The chapter's checks must catch it: a check fails
//! and its message or hint names the mistake — in seconds, leaving the host
//! (its hostname included) as it was.

mod common;

use common::*;

/// (mutant, chapter, a check that must fail, a word its message or hint must contain)
const MUTANTS: &[(&str, u8, &str, &str)] = &[
    ("ch01_signal_number", 1, "1.4", "128 + signal"),
    ("ch01_exit_code_lost", 1, "1.3", "Exited"),
    ("ch01_exec_error_exits", 1, "1.5", "execvp's error"),
    ("ch01_argv_without_name", 1, "1.6", "argv[0]"),
    ("ch01_no_path_search", 1, "1.6", "$PATH"),
    ("ch01_stop_as_exit", 1, "1.7", "a stop is not an end"),
    ("ch02_no_chdir", 2, "2.2", "chdir"),
    ("ch02_chdir_first", 2, "2.2", "outside the rootfs"),
    ("ch02_no_chroot", 2, "2.1", "chroot"),
    ("ch02_chroot_dot", 2, "2.1", "a relative one like"),
    (
        "ch02_chdir_rootfs",
        2,
        "2.2",
        "its host path no longer exists",
    ),
    ("ch03_no_newuts", 3, "3.1", "CLONE_NEWUTS"),
    ("ch03_no_newipc", 3, "3.2", "CLONE_NEWIPC"),
    ("ch03_no_namespaces", 3, "3.4", "sethostname ran outside"),
    ("ch03_hostname_ignored", 3, "3.3", "sethostname"),
    ("ch03_hostname_fixed", 3, "3.3", "sethostname"),
    ("ch04_no_newpid", 4, "4.1", "CLONE_NEWPID"),
    ("ch04_proc_not_mounted", 4, "4.2", "mount(\"proc\""),
    (
        "ch04_one_wait_per_sigchld",
        4,
        "4.3",
        "one waitpid per signal",
    ),
    ("ch04_wait_command_only", 4, "4.3", "zombies"),
    ("ch04_no_forward", 4, "4.4", "forward"),
    ("ch05_private", 5, "5.3", "MS_PRIVATE"),
    ("ch05_not_private", 5, "5.3", "not left out"),
    ("ch05_no_chdir", 5, "5.6", "chdir(\"/\")"),
    ("ch05_no_detach", 5, "5.2", "umount2"),
    ("ch05_sys_writable", 5, "5.4", "read-write"),
    ("ch06_no_newnet", 6, "6.1", "host's own network"),
    ("ch06_no_master", 6, "6.3", "not a port of mdk0"),
    ("ch06_host_end_down", 6, "6.4", "both veth ends must be up"),
    ("ch06_lo_down", 6, "6.2", "lo is down"),
    ("ch06_route_first", 6, "6.3", "add_default_route"),
    (
        "ch06_address_on_lo",
        6,
        "6.3",
        "eth0 is up with addresses []",
    ),
    ("ch06_fixed_address", 6, "6.6", "link.address"),
    (
        "ch06_peer_on_host",
        6,
        "6.3",
        "still in the host's network namespace",
    ),
    ("ch06_not_renamed", 6, "6.3", "no eth0 in the container"),
    ("ch06_prefix_32", 6, "6.3", "its address and prefix"),
    ("ch06_prefix_24", 6, "6.3", "link.prefix"),
    ("ch06_no_default_route", 6, "6.3", "default route via None"),
    ("ch06_lo_bridge_only", 6, "6.2", "lo is down"),
    ("ch07_no_newuser", 7, "7.1", "CLONE_NEWUSER"),
    ("ch07_no_setgroups_deny", 7, "7.5", "setgroups"),
    ("ch07_uid_map_only", 7, "7.1", "gid_map"),
    ("ch07_identity_map", 7, "7.2", "host_uid"),
    ("ch08_v2_todo", 8, "8.6", "write_limits_v2"),
    ("ch08_quota_truncated", 8, "8.6", "round"),
    ("ch08_quota_first", 8, "8.6", "period first"),
    ("ch08_period_assumed", 8, "8.6", "write the period"),
    ("ch08_memory_in_mib", 8, "8.6", "memory"),
    ("ch08_released_first", 8, "8.8", "join first, then release"),
    ("ch08_subtree_bottom_up", 8, "8.7", "top-down"),
    ("ch08_subtree_parent_only", 8, "8.7", "every ancestor"),
    ("ch08_oom_wrong_field", 8, "8.9", "oom_kill"),
    ("ch08_rmdir_once", 8, "8.10", "EBUSY"),
    ("ch08_v1_one_hierarchy", 8, "8.7", "every hierarchy"),
    ("ch08_rm_r", 8, "8.10", "remove_dir_all"),
    ("ch09_no_library", 9, "9.1", "library/"),
    ("ch09_tag_after_port", 9, "9.1", "not followed by '/'"),
    ("ch09_no_scope", 9, "9.2", "scope="),
    ("ch09_always_bearer", 9, "9.4", "Basic challenge"),
    ("ch09_comma_split", 9, "9.2", "may hold ','"),
    ("ch09_keys_as_sent", 9, "9.6", "Realm="),
    ("ch09_variant_ignored", 9, "9.3", "the variant"),
    ("ch09_variant_exact", 9, "9.3", "without one means v8"),
    ("ch09_first_manifest", 9, "9.3", "same os and architecture"),
    (
        "ch10_wh_alone_accepted",
        10,
        "10.4",
        "\".wh.\" followed by nothing",
    ),
    (
        "ch10_dotdot_accepted",
        10,
        "10.4",
        "not the name of one entry",
    ),
    ("ch10_opaque_as_remove", 10, "10.2", "Opaque"),
    ("ch10_lowers_reversed", 10, "10.2", "top layer first"),
    ("ch10_whiteout_as_file", 10, "10.2", "character device"),
    ("ch10_whiteout_in_cwd", 10, "10.5", "mknodat(parent, name)"),
    (
        "ch10_opaque_user_xattr",
        10,
        "10.2",
        "trusted.overlay.opaque",
    ),
    ("ch10_not_volatile", 10, "10.1", "not volatile"),
    ("ch10_no_userxattr", 10, "10.2", "userxattr"),
    ("ch11_bounding_kept", 11, "11.1", "CapBnd"),
    ("ch11_cgroupfs_writable", 11, "11.16", "for writing"),
    ("ch11_mask_dirs_only", 11, "11.10", "/proc/timer_list"),
    ("ch11_ro_no_remount", 11, "11.8", "core_pattern"),
    ("ch11_seccomp_nnp", 11, "11.13", "NoNewPrivs 1"),
    ("ch12_mnt_first", 12, "12.2", "mnt last"),
    ("ch12_no_pid", 12, "12.2", "PID namespace"),
    ("ch12_no_cgroupns", 12, "12.2", "cgroup namespace"),
    ("ch12_no_mnt", 12, "12.1", "not the container's PID 1"),
    ("ch12_status_kept", 12, "12.6", "not exited"),
    ("ch13_no_newpid", 13, "13.2", "host's pid namespace"),
    ("ch13_uts_forgotten", 13, "13.2", "uts namespace"),
    ("ch13_ro_as_data", 13, "13.3", "/sys"),
    ("ch13_missing_set_is_all", 13, "13.4", "inheritable"),
    ("ch14_length_le", 14, "14.3", "big-endian"),
    ("ch14_stream_last", 14, "14.4", "frame"),
    ("ch14_length_with_header", 14, "14.3", "length"),
    ("ch14_ports_reversed", 14, "14.2", "HOST:CONTAINER"),
    ("ch14_host_ip_dropped", 14, "14.2", "HostIp"),
];

/// The bar: at least this many realistic wrong answers per chapter.
const MUTANTS_PER_CHAPTER: usize = 4;

/// Every chapter of the table (core/src/workshop.rs), and one slot per chapter number.
const SLOTS: usize = last_chapter() as usize + 1;
/// The table's chapters by number (a missing number, another branch's, is skipped).
fn chapters() -> impl Iterator<Item = u8> {
    mini_docker::workshop::CHAPTERS.iter().map(|c| c.number)
}

const fn last_chapter() -> u8 {
    let table = mini_docker::workshop::CHAPTERS;
    let (mut last, mut i) = (0, 0);
    while i < table.len() {
        if table[i].number > last {
            last = table[i].number;
        }
        i += 1;
    }
    last
}

/// No check may take longer than this, mutant or not.
const SLOWEST_CHECK_SECONDS: f64 = 15.0;

fn mutant_caught(mutant: &str, chapter: u8, check: &str, word: &str) {
    require_root();
    let _serial = serial();
    let state = StateDir::new(&format!("mutant-{mutant}"));
    let before = HostSnapshot::take();
    let hostname = nix::unistd::gethostname().unwrap();
    let out = mini_docker_command(
        &state,
        &[
            "--reference",
            "check",
            &chapter.to_string(),
            "--format",
            "json",
        ],
    )
    .env("MINI_DOCKER_MUTANT", mutant)
    .output()
    .expect("run mini-docker");
    let text = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "check {chapter} with {mutant} printed no JSON ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        !out.status.success(),
        "{mutant}: check {chapter} exited 0: not caught"
    );
    let checks = report["chapters"][0]["checks"].as_array().unwrap();
    let failed: Vec<&serde_json::Value> = checks.iter().filter(|c| c["passed"] == false).collect();
    let named = failed.iter().find(|c| c["id"] == check).unwrap_or_else(|| {
        let ids: Vec<_> = failed.iter().map(|c| c["id"].to_string()).collect();
        panic!("{mutant}: check {check} passed (failed: {ids:?})")
    });
    let said = format!("{} {}", named["message"], named["hint"]);
    assert!(
        said.contains(word) || said.contains(&word.replace('"', "\\\"")),
        "{mutant}: check {check} fails but neither its message nor its hint says {word:?}: {said}"
    );
    record(chapter, true);
    CAUGHT_HERE.with(|c| c.set(true));
    for c in checks {
        let seconds = c["seconds"].as_f64().unwrap();
        assert!(
            seconds <= SLOWEST_CHECK_SECONDS,
            "{mutant}: check {} took {seconds}s (limit {SLOWEST_CHECK_SECONDS}s)",
            c["id"]
        );
    }
    assert_eq!(
        nix::unistd::gethostname().unwrap(),
        hostname,
        "{mutant}: the host's hostname changed"
    );
    let ids: Vec<_> = failed.iter().map(|c| c["id"].as_str().unwrap()).collect();
    println!(
        "{mutant}: caught by {ids:?} ({} of {})",
        failed.len(),
        checks.len()
    );
    HostSnapshot::assert_clean_since(&before, &format!("mutant {mutant}"));
    assert_state_dir_clean(&state);
}

/// Every process below `root` (by parent pid, as the host sees them).
fn descendants(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let ppid = stat[stat.rfind(')')? + 2..]
                .split(' ')
                .nth(1)?
                .parse()
                .ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    found
}

fn cmdline(pid: u32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&raw)
        .replace('\0', " ")
        .trim()
        .to_string()
}

/// Is `pid` PID 1 of its own namespace (the last NSpid is 1)?
fn is_pid_one(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .and_then(|ids| ids.split_whitespace().last().map(|last| last == "1"))
        .unwrap_or(false)
}

/// Poll until `ready` (or panic after `seconds`).
fn wait_until(seconds: u64, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while !ready() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {seconds}s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// SIGKILL `victim` once a `sleep 600` runs below it; then every process that
/// was below it must be gone within seconds, and the host as before.
fn killed_leaves_nothing(what: &str, mut victim: std::process::Child) {
    let before = HostSnapshot::take();
    let root = victim.id();
    wait_until(
        20,
        &format!("{what}: a `sleep 600` as a container's PID 1"),
        || {
            descendants(root)
                .iter()
                .any(|&p| cmdline(p) == "sleep 600" && is_pid_one(p))
        },
    );
    let below = descendants(root);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(root as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    victim.wait().unwrap();
    wait_until(
        5,
        &format!("{what}: killed, everything below it gone"),
        || {
            below.iter().all(|p| {
                std::fs::read_to_string(format!("/proc/{p}/stat"))
                    .map(|s| s.contains(") Z "))
                    .unwrap_or(true)
            })
        },
    );
    HostSnapshot::assert_clean_since(&before, what);
}

/// The sandbox's init dies with the sandbox (PR_SET_PDEATHSIG), and the
/// kernel kills the rest of its PID namespace: here, a container's PID 1.
fn sandbox_dies_with_its_parent() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("sandbox-killed");
    let state_dir = state.path().to_str().unwrap();
    let args = ["__sandbox", "--", "--reference", "--state-dir", state_dir];
    let child = std::process::Command::new(BIN)
        .args(args)
        .args(["chapter", "4", "run", "--", "sleep", "600"])
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    killed_leaves_nothing("a killed sandbox", child);
}

/// A check killed mid-run (Ctrl-C, SIGKILL) takes its containers with it:
/// check 4.5 runs `sleep 600` as a container's PID 1, which reads no stdin.
fn killed_check_leaves_nothing() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("check-killed");
    let child = mini_docker_command(&state, &["--reference", "check", "4"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    killed_leaves_nothing("a killed `check 4`", child);
}

/// Every mutant file is in the table (none wired but left out), and every
/// chapter has at least MUTANTS_PER_CHAPTER of them. Needs no root.
fn table_is_complete() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/core/src/checks/mutants");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            Some(name.strip_suffix(".rs")?.to_string())
        })
        .filter(|name| name != "mod")
        .collect();
    files.sort();
    let mut listed: Vec<String> = MUTANTS.iter().map(|m| m.0.to_string()).collect();
    listed.sort();
    assert_eq!(files, listed, "the mutant files and the table differ");
    for chapter in chapters() {
        let count = MUTANTS.iter().filter(|m| m.1 == chapter).count();
        assert!(
            count >= MUTANTS_PER_CHAPTER,
            "chapter {chapter} has {count} mutants, fewer than {MUTANTS_PER_CHAPTER}"
        );
        for (mutant, ..) in MUTANTS.iter().filter(|m| m.1 == chapter) {
            assert!(
                mutant.starts_with(&format!("ch{chapter:02}_")),
                "{mutant} is listed under chapter {chapter}"
            );
        }
    }
}

thread_local! {
    /// This thread's mutant was recorded as caught (the trial then records no miss).
    static CAUGHT_HERE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Per chapter: (mutants caught, mutants missed), filled in as the trials run.
static CAUGHT: std::sync::Mutex<[(usize, usize); SLOTS]> = std::sync::Mutex::new([(0, 0); SLOTS]);

/// A mutant of `chapter` ran; `caught`: its check failed naming the mistake
/// (counted even if a later assertion, a slow check or a dirty host, fails it).
fn record(chapter: u8, caught: bool) {
    let mut counts = CAUGHT.lock().unwrap_or_else(|e| e.into_inner());
    counts[chapter as usize].0 += caught as usize;
    counts[chapter as usize].1 += !caught as usize;
}

/// The catch rate, one line per chapter: caught/run, and the total if a
/// filter left some out.
fn print_catch_rates() {
    let counts = CAUGHT.lock().unwrap_or_else(|e| e.into_inner());
    if counts.iter().all(|&(caught, missed)| caught + missed == 0) {
        return;
    }
    println!("\nmutants caught per chapter:");
    for chapter in chapters() {
        let (caught, missed) = counts[chapter as usize];
        let ran = caught + missed;
        let total = MUTANTS.iter().filter(|m| m.1 == chapter).count();
        let not_run = match total - ran {
            0 => String::new(),
            n => format!(" ({n} of {total} not run)"),
        };
        println!("chapter {chapter}: {caught}/{ran}{not_run}");
    }
}

fn main() {
    let args = libtest_mimic::Arguments::from_args();
    let mut trials: Vec<libtest_mimic::Trial> = MUTANTS
        .iter()
        .map(|&(mutant, chapter, check, word)| {
            libtest_mimic::Trial::test(mutant, move || {
                let result = catch(|| mutant_caught(mutant, chapter, check, word));
                if !CAUGHT_HERE.with(|c| c.replace(false)) {
                    record(chapter, false);
                }
                result
            })
        })
        .collect();
    trials.push(libtest_mimic::Trial::test("table_is_complete", || {
        catch(table_is_complete)
    }));
    trials.push(libtest_mimic::Trial::test(
        "sandbox_dies_with_its_parent",
        || catch(sandbox_dies_with_its_parent),
    ));
    trials.push(libtest_mimic::Trial::test(
        "killed_check_leaves_nothing",
        || catch(killed_check_leaves_nothing),
    ));
    let conclusion = libtest_mimic::run(&args, trials);
    print_catch_rates();
    conclusion.exit();
}

/// The assertions above panic, as in a #[test]; a trial reports a failure.
fn catch(test: impl FnOnce() + std::panic::UnwindSafe) -> Result<(), libtest_mimic::Failed> {
    std::panic::catch_unwind(test).map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panicked".into());
        message.into()
    })
}
