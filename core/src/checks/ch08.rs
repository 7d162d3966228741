//! Chapter 8 — cgroups. Runs with `--network none`: only cgroups are under test
//! (and so the same checks run in the cgroup v2 VM, which has no bridge).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{random_hex, status_text, stderr_suffix, Check, Ctx};
use crate::cgroups::v1::CgroupV1;
use crate::cgroups::v2::CgroupV2;
use crate::cgroups::{self, keyed_value, Limits, Mode};
use crate::workshop::Steps;

pub fn checks() -> Vec<Check> {
    vec![
        Check { id: "8.1", title: "the container's cgroup exists while it runs, with the requested limits written", points: 3,
            hint: "write_limits_v2: memory.max, pids.max, cpu.max \"QUOTA PERIOD\"; write_limits_v1: memory.limit_in_bytes, pids.max, cpu.cfs_period_us + cpu.cfs_quota_us", run: limits_written },
        Check { id: "8.2", title: "a memory hog under -m 32m exits 137 and mini-docker says it ran out of memory", points: 2,
            hint: "the memory limit file: memory.max (v2) or memory.limit_in_bytes (v1), in bytes", run: oom_kill },
        Check { id: "8.3", title: "a fork bomb stops at --pids-limit 10; the host can still fork", points: 2,
            hint: "pids.max caps the number of processes (and threads) in the cgroup", run: fork_bomb_contained },
        Check { id: "8.4", title: "--cpus 0.5: a busy loop gets about half a CPU (the cgroup's own usage counter)", points: 2,
            hint: "cpu_quota(0.5) = (50000, 100000); cpu.max \"50000 100000\" or cfs_period_us then cfs_quota_us", run: cpu_half },
        Check { id: "8.5", title: "after exit — also after an OOM kill and a SIGTERM — no cgroup of the container is left", points: 1,
            hint: "the scaffold removes the cgroup; the container must have been limited and run first (8.1)", run: nothing_left },
        Check { id: "8.6", title: "both writers, v1 and v2, on scratch cgroup files (any host): values, rounding, period before quota", points: 2,
            hint: "quota = (cpus * period).round(); write the period too (never assume the default); v1: cpu.cfs_period_us before cpu.cfs_quota_us", run: writers_on_scratch },
    ]
}

const NO_NET: [&str; 2] = ["--network", "none"];

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    NO_NET
        .iter()
        .copied()
        .chain(extra.iter().copied())
        .collect()
}

/// The container's directory in `controller`'s hierarchy, from /proc/PID/cgroup.
fn cgroup_dir(pid: Pid, controller: &str) -> Result<PathBuf> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    let (mount, wanted) = match cgroups::detect()? {
        Mode::V2 => (PathBuf::from("/sys/fs/cgroup"), ""),
        Mode::V1 { .. } => (cgroups::v1::mount_point(controller)?, controller),
    };
    for line in text.lines() {
        let mut fields = line.splitn(3, ':');
        let (_, list, path) = (
            fields.next(),
            fields.next().unwrap_or(""),
            fields.next().unwrap_or(""),
        );
        if list.split(',').any(|c| c == wanted) {
            return Ok(mount.join(path.trim_start_matches('/')));
        }
    }
    bail!("/proc/{pid}/cgroup names no cgroup for {controller}")
}

/// (controller, file, expected) for the limits 32m / 50 pids / 0.5 CPUs.
fn expected_files() -> Result<Vec<(&'static str, &'static str, &'static str)>> {
    Ok(match cgroups::detect()? {
        Mode::V2 => vec![
            ("memory", "memory.max", "33554432"),
            ("pids", "pids.max", "50"),
            ("cpu", "cpu.max", "50000 100000"),
        ],
        Mode::V1 { .. } => vec![
            ("memory", "memory.limit_in_bytes", "33554432"),
            ("pids", "pids.max", "50"),
            ("cpu", "cpu.cfs_quota_us", "50000"),
            ("cpu", "cpu.cfs_period_us", "100000"),
        ],
    })
}

fn limits_written(ctx: &Ctx) -> Result<()> {
    let running = ctx.start(
        8,
        &args(&["-m", "32m", "--pids-limit", "50", "--cpus", "0.5"]),
        ":",
    )?;
    let pid = running.container_pid()?;
    let mut found = Vec::new();
    for (controller, file, want) in expected_files()? {
        let dir = cgroup_dir(pid, controller)?;
        if !dir.components().any(|c| c.as_os_str() == cgroups::PARENT) {
            bail!(
                "the container is in {}, not under a {} cgroup",
                dir.display(),
                cgroups::PARENT
            );
        }
        let got = fs::read_to_string(dir.join(file))
            .with_context(|| format!("read {}", dir.join(file).display()))?;
        found.push((file, got.trim().to_string(), want));
    }
    running.finish()?;
    for (file, got, want) in found {
        if got != want {
            bail!("{file} is {got:?}, expected {want:?}");
        }
    }
    Ok(())
}

const MEMORY_HOG: &str = "head -c 100000000 /dev/zero | sort";

fn oom_kill(ctx: &Ctx) -> Result<()> {
    let o = ctx.output(8, &args(&["-m", "32m"]), &["sh", "-c", MEMORY_HOG], b"")?;
    let stderr = String::from_utf8_lossy(&o.stderr);
    if o.status.code() != Some(137) {
        bail!(
            "the memory hog exited {}, expected 137 (SIGKILL by the OOM killer){}",
            status_text(&o),
            stderr_suffix(&stderr)
        );
    }
    if !stderr.contains("killed: out of memory (limit 32 MiB)") {
        bail!(
            "mini-docker did not say \"killed: out of memory (limit 32 MiB)\"; stderr: {stderr:?}"
        );
    }
    Ok(())
}

fn fork_bomb_contained(ctx: &Ctx) -> Result<()> {
    // The bomb runs in a subshell: when fork fails it gives up, the outer shell lives on.
    let bomb = "(i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); done) 2>/dev/null";
    let running = ctx.start(8, &args(&["--pids-limit", "10"]), bomb)?;
    let dir = cgroup_dir(running.container_pid()?, "pids")?;
    let current: u64 = fs::read_to_string(dir.join("pids.current"))?
        .trim()
        .parse()?;
    let refused = keyed_value(&dir.join("pids.events"), "max").unwrap_or(0);
    running.finish()?;
    if current > 10 {
        bail!("pids.current is {current}, above the limit of 10");
    }
    if refused == 0 {
        bail!("pids.events counts no refused fork: the bomb was never stopped by the limit");
    }
    std::process::Command::new("true")
        .status()
        .context("the host could not fork after the bomb")?;
    Ok(())
}

fn cpu_half(ctx: &Ctx) -> Result<()> {
    let running = ctx.start(8, &args(&["--cpus", "0.5"]), "(while :; do :; done) &")?;
    let pid = running.container_pid()?;
    let cgroup = usage_reader(pid)?;
    std::thread::sleep(Duration::from_millis(300)); // let the loop reach its steady state
    let (u0, t0) = (cgroup()?, Instant::now());
    std::thread::sleep(Duration::from_millis(1200));
    let (u1, t1) = (cgroup()?, Instant::now());
    running.finish()?;
    let share = (u1 - u0) as f64 / (t1 - t0).as_micros() as f64;
    if !(0.3..=0.7).contains(&share) {
        bail!(
            "the busy loop used {share:.2} CPUs over {:.1}s; expected about 0.5",
            (t1 - t0).as_secs_f64()
        );
    }
    Ok(())
}

/// Reads the cgroup's CPU usage in µs: cpu.stat usage_usec (v2) or cpuacct.usage in ns (v1).
fn usage_reader(pid: Pid) -> Result<impl Fn() -> Result<u64>> {
    let v2 = cgroups::detect()? == Mode::V2;
    let dir = cgroup_dir(pid, if v2 { "cpu" } else { "cpuacct" })?;
    Ok(move || {
        if v2 {
            keyed_value(&dir.join("cpu.stat"), "usage_usec").context("read cpu.stat")
        } else {
            let nanos: u64 = fs::read_to_string(dir.join("cpuacct.usage"))?
                .trim()
                .parse()?;
            Ok(nanos / 1000)
        }
    })
}

fn nothing_left(ctx: &Ctx) -> Result<()> {
    // After an OOM kill: the container prints its cgroup first.
    let script = format!("cat /proc/self/cgroup; {MEMORY_HOG}");
    let o = ctx.output(8, &args(&["-m", "32m"]), &["sh", "-c", &script], b"")?;
    let printed = String::from_utf8_lossy(&o.stdout);
    let paths: Vec<&str> = printed
        .lines()
        .filter_map(|l| l.rsplit(':').next())
        .filter(|p| p.contains(cgroups::PARENT))
        .collect();
    if paths.is_empty() || o.status.code() != Some(137) {
        bail!(
            "the OOM container did not run as expected (exit {}){}",
            status_text(&o),
            stderr_suffix(&String::from_utf8_lossy(&o.stderr))
        );
    }
    let leftovers: Vec<String> = all_cgroup_dirs(&paths)?
        .into_iter()
        .filter(|d| d.exists())
        .map(|d| d.display().to_string())
        .collect();
    if !leftovers.is_empty() {
        bail!("after the OOM kill these cgroups are left: {leftovers:?}");
    }
    // After SIGTERM to mini-docker.
    let running =
        ctx.start_then_exec(8, &args(&["-m", "32m", "--stop-timeout", "1"]), "sleep 600")?;
    let dir = cgroup_dir(running.container_pid()?, "memory")?;
    kill(running.supervisor(), Signal::SIGTERM)?;
    running.wait_exit()?;
    if dir.exists() {
        bail!("after SIGTERM, {} is left", dir.display());
    }
    Ok(())
}

/// Every hierarchy's directory for the given cgroup paths (as /proc/PID/cgroup names them).
fn all_cgroup_dirs(paths: &[&str]) -> Result<Vec<PathBuf>> {
    let mounts: Vec<PathBuf> = match cgroups::detect()? {
        Mode::V2 => vec![PathBuf::from("/sys/fs/cgroup")],
        Mode::V1 { .. } => ["memory", "pids", "cpu", "cpuacct"]
            .iter()
            .map(|c| cgroups::v1::mount_point(c))
            .collect::<Result<_>>()?,
    };
    Ok(mounts
        .iter()
        .flat_map(|m| {
            paths
                .iter()
                .map(move |p| Path::new(m).join(p.trim_start_matches('/')))
        })
        .collect())
}

/// `mini-docker __write-limits v1|v2 DIR --memory .. --pids .. --cpus ..`: the
/// learner's writer, on a cgroup object made over a scratch directory.
pub fn write_limits_command(steps: &Steps, driver: &str, dir: &Path, limits: &Limits) -> Result<i32> {
    match driver {
        "v1" => steps.ch08_cgroups.write_limits_v1(&scratch_v1(dir), limits)?,
        "v2" => steps.ch08_cgroups.write_limits_v2(&scratch_v2(dir), limits)?,
        other => bail!("__write-limits: unknown driver {other:?} (v1 or v2)"),
    }
    Ok(0)
}

/// v1: a directory per controller (cpu and cpuacct share one, as they often do).
fn scratch_v1(dir: &Path) -> CgroupV1 {
    CgroupV1 {
        dirs: vec![
            ("memory", dir.join("memory")),
            ("pids", dir.join("pids")),
            ("cpu", dir.join("cpu")),
            ("cpuacct", dir.join("cpu")),
        ],
    }
}

fn scratch_v2(dir: &Path) -> CgroupV2 {
    CgroupV2 {
        dir: dir.to_path_buf(),
    }
}

/// Limits whose rounding shows: 0.256789 CPUs = 25678.9 µs per 100 ms, so a
/// truncating quota (25678) differs from the rounded one (25679).
const SCRATCH_MEMORY: u64 = 48 << 20;
const SCRATCH_PIDS: u64 = 57;
const SCRATCH_CPUS: &str = "0.256789";
const SCRATCH_QUOTA: &str = "25679";
/// The scratch files start with a period that is not the default 100000: a
/// writer that leaves the period alone is seen.
const OTHER_PERIOD: &str = "250000";

/// (file under the scratch dir, its initial content, what the writer must leave)
fn scratch_files(driver: &str) -> Vec<(&'static str, String, String)> {
    let memory = SCRATCH_MEMORY.to_string();
    let pids = SCRATCH_PIDS.to_string();
    match driver {
        "v1" => vec![
            ("memory/memory.limit_in_bytes", "9223372036854771712".into(), memory),
            ("pids/pids.max", "max".into(), pids),
            ("cpu/cpu.cfs_period_us", OTHER_PERIOD.into(), "100000".into()),
            ("cpu/cpu.cfs_quota_us", "-1".into(), SCRATCH_QUOTA.into()),
        ],
        _ => vec![
            ("memory.max", "max".into(), memory),
            ("pids.max", "max".into(), pids),
            ("cpu.max", format!("max {OTHER_PERIOD}"), format!("{SCRATCH_QUOTA} 100000")),
        ],
    }
}

/// Both writers run on every host: v1 and v2 alike get checked on plain files.
fn writers_on_scratch(ctx: &Ctx) -> Result<()> {
    for driver in ["v1", "v2"] {
        let dir = ctx
            .state_dir
            .join(format!("check-cgroup-{driver}-{}", random_hex(4)?));
        let result = check_writer(ctx, driver, &dir);
        let _ = fs::remove_dir_all(&dir);
        result?;
    }
    Ok(())
}

fn check_writer(ctx: &Ctx, driver: &str, dir: &Path) -> Result<()> {
    let files = scratch_files(driver);
    for (name, initial, _) in &files {
        let path = dir.join(name);
        fs::create_dir_all(path.parent().expect("in a directory"))?;
        fs::write(&path, format!("{initial}\n"))?;
    }
    // Watch the cpu files: the order of their writes is the order of the events.
    let watch = (driver == "v1").then(|| watch_writes(&dir.join("cpu"))).transpose()?;
    let mut command = std::process::Command::new(&ctx.exe);
    command.env_remove("MINI_DOCKER_REFERENCE");
    if let Some(arg) = ctx.selection.to_arg() {
        command.arg(arg);
    }
    command
        .arg("__write-limits")
        .arg(driver)
        .arg(dir)
        .args(["--memory", &SCRATCH_MEMORY.to_string()])
        .args(["--pids", &SCRATCH_PIDS.to_string()])
        .args(["--cpus", SCRATCH_CPUS])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .current_dir("/");
    let child = command.spawn().context("start mini-docker __write-limits")?;
    let output = super::wait_output(child, Duration::from_secs(10))?;
    super::expect_success(&output, &format!("write_limits_{driver}"))?;
    for (name, _, want) in &files {
        let got = fs::read_to_string(dir.join(name))?;
        if got.trim() != want {
            bail!("write_limits_{driver} with -m {SCRATCH_MEMORY} --pids-limit {SCRATCH_PIDS} --cpus {SCRATCH_CPUS}: {name} holds {:?}, expected {want:?}", got.trim());
        }
    }
    if let Some(inotify) = watch {
        let order = write_order(&inotify)?;
        let first = |file: &str| order.iter().position(|n| n == file);
        if let (Some(period), Some(quota)) = (first("cpu.cfs_period_us"), first("cpu.cfs_quota_us")) {
            if quota < period {
                bail!("write_limits_v1 wrote cpu.cfs_quota_us before cpu.cfs_period_us: the kernel checks a quota against the period in place, so write the period first");
            }
        }
    }
    Ok(())
}

fn watch_writes(dir: &Path) -> Result<nix::sys::inotify::Inotify> {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
    inotify
        .add_watch(dir, AddWatchFlags::IN_MODIFY)
        .with_context(|| format!("inotify watch {}", dir.display()))?;
    Ok(inotify)
}

/// The names of the files written, in the order the writes happened.
fn write_order(inotify: &nix::sys::inotify::Inotify) -> Result<Vec<String>> {
    let mut names = Vec::new();
    loop {
        match inotify.read_events() {
            Ok(events) => names.extend(
                events
                    .into_iter()
                    .filter_map(|e| e.name?.into_string().ok()),
            ),
            Err(nix::errno::Errno::EAGAIN) => return Ok(names),
            Err(e) => return Err(e).context("read inotify events"),
        }
    }
}
