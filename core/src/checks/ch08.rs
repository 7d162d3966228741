//! Chapter 8 — cgroups. Runs with `--network none`: only cgroups are under test
//! (and so the same checks run in the cgroup v2 VM, which has no bridge).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{random_hex, status_text, stderr_suffix, Check, Ctx};
use crate::cgroups::v1::{CgroupV1, Hierarchy};
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
        Check { id: "8.7", title: "create, on scratch v2 and v1 trees (any host): v2 hands memory, pids, cpu down top-down (root, then mini-docker); v1 one directory per hierarchy", points: 2,
            hint: "create_v2: write \"+memory +pids +cpu\" (what missing_controllers returns) to ROOT/cgroup.subtree_control, then to ROOT/mini-docker/cgroup.subtree_control, then mkdir ROOT/mini-docker/ID; create_v1: create_dir_all(mount/mini-docker/ID) per hierarchy, once per shared mount, pushing (controller, dir) for each", run: create_on_scratch },
        Check { id: "8.8", title: "join, on scratch v2 and v1 cgroups (any host): the pid is in every hierarchy's cgroup.procs before the container is released", points: 2,
            hint: "join: write the pid to cgroup.procs (v1: in each of cgroup.unique_dirs()), then call release()", run: join_on_scratch },
        Check { id: "8.9", title: "the OOM kill count, on scratch memory.events (v2) and memory.oom_control (v1)", points: 1,
            hint: "keyed_value(memory.events, \"oom_kill\") on v2; keyed_value(memory/memory.oom_control, \"oom_kill\") on v1 — not oom, max or under_oom", run: oom_on_scratch },
        Check { id: "8.10", title: "remove: rmdir on scratch v2 and v1 trees, and on a real cgroup of this host while its last process dies (EBUSY, retried)", points: 2,
            hint: "fs::remove_dir(dir) (never remove_dir_all), retried while it fails with EBUSY (raw_os_error() == Some(libc::EBUSY)), ~20 ms apart for up to a second; v1: every one of unique_dirs(), each once", run: remove_cgroups },
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

/// One 100 MB buffer, filled: killed at once under -m 32m, and done in a
/// blink when it escaped the limit (sort would take seconds on a busy host).
const MEMORY_HOG: &str = "dd if=/dev/zero of=/dev/null bs=100M count=1";

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

/// `mini-docker __cgroup STEP v1|v2 --dir ..`: one of the learner's steps on
/// cgroup objects made over the given directories (scratch ones, or a real
/// cgroup for `remove`). v2: `--dir` is the root (create) or the cgroup;
/// v1: `--dir CONTROLLER=PATH`, the mount (create) or the cgroup's directory.
pub fn cgroup_step_command(steps: &Steps, step: &str, driver: &str, dirs: &[String], options: &StepOptions) -> Result<i32> {
    let ch08 = &steps.ch08_cgroups;
    let pid = Pid::from_raw(options.pid.unwrap_or(0));
    let id = options.id.as_deref().unwrap_or("scratch");
    match driver {
        "v2" => {
            let [dir] = dirs else {
                bail!("__cgroup v2: expected one --dir, got {}", dirs.len())
            };
            let cgroup = CgroupV2 { dir: PathBuf::from(dir) };
            match step {
                "create" => println!("{}", ch08.create_v2(Path::new(dir), id)?.dir.display()),
                "limits" => ch08.write_limits_v2(&cgroup, &options.limits)?,
                "join" => ch08.join_v2(&cgroup, pid, &|| report_release(std::slice::from_ref(&cgroup.dir), pid))?,
                "oom" => println!("{}", ch08.oom_kills_v2(&cgroup)?),
                "remove" => {
                    println!("removing");
                    ch08.remove_v2(&cgroup)?
                }
                other => bail!("__cgroup: unknown step {other:?}"),
            }
        }
        "v1" => {
            let pairs = dirs
                .iter()
                .map(|d| controller_dir(d))
                .collect::<Result<Vec<_>>>()?;
            let cgroup = CgroupV1 { dirs: pairs };
            match step {
                "create" => {
                    let hierarchies: Vec<Hierarchy> = cgroup
                        .dirs
                        .iter()
                        .map(|(controller, mount)| Hierarchy { controller, mount: mount.clone() })
                        .collect();
                    for (controller, dir) in ch08.create_v1(&hierarchies, id)?.dirs {
                        println!("{controller}={}", dir.display());
                    }
                }
                "limits" => ch08.write_limits_v1(&cgroup, &options.limits)?,
                "join" => {
                    let unique: Vec<PathBuf> = cgroup.dirs.iter().map(|(_, d)| d.clone()).collect();
                    ch08.join_v1(&cgroup, pid, &|| report_release(&unique, pid))?
                }
                "oom" => println!("{}", ch08.oom_kills_v1(&cgroup)?),
                "remove" => {
                    println!("removing");
                    ch08.remove_v1(&cgroup)?
                }
                other => bail!("__cgroup: unknown step {other:?}"),
            }
        }
        other => bail!("__cgroup: unknown driver {other:?} (v1 or v2)"),
    }
    use std::io::Write;
    std::io::stdout().flush()?;
    Ok(0)
}

/// What `__cgroup` passes to a step besides the directories.
pub struct StepOptions {
    pub id: Option<String>,
    pub pid: Option<i32>,
    pub limits: Limits,
}

/// "memory=/path" -> ("memory", /path), with the controller's static name.
fn controller_dir(arg: &str) -> Result<(&'static str, PathBuf)> {
    const KNOWN: [&str; 5] = ["memory", "pids", "cpu", "cpuacct", "devices"];
    let (name, path) = arg
        .split_once('=')
        .with_context(|| format!("--dir {arg:?}: expected CONTROLLER=PATH"))?;
    let controller = KNOWN
        .into_iter()
        .find(|k| *k == name)
        .with_context(|| format!("--dir {arg:?}: unknown controller {name:?}"))?;
    Ok((controller, PathBuf::from(path)))
}

/// The release the join step gets: it says, at that moment, in which
/// directories' cgroup.procs the pid already is ("released: joined DIR ...").
fn report_release(dirs: &[PathBuf], pid: Pid) -> Result<()> {
    let mut line = String::from("released:");
    for dir in dirs {
        let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        let joined = procs.lines().any(|l| l.trim() == pid.to_string());
        line.push_str(&format!(" {}={}", dir.display(), if joined { "joined" } else { "not-joined" }));
    }
    println!("{line}");
    Ok(())
}

/// Run one step through `__cgroup` (a child: a todo!() or a panic stays there).
fn run_step(ctx: &Ctx, step: &str, driver: &str, dirs: &[String], extra: &[String]) -> Result<std::process::Output> {
    let child = step_command(ctx, step, driver, dirs, extra)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("start mini-docker __cgroup")?;
    super::wait_output(child, Duration::from_secs(10))
}

fn step_command(ctx: &Ctx, step: &str, driver: &str, dirs: &[String], extra: &[String]) -> std::process::Command {
    let mut command = std::process::Command::new(&ctx.exe);
    command.env_remove("MINI_DOCKER_REFERENCE");
    if let Some(arg) = ctx.selection.to_arg() {
        command.arg(arg);
    }
    command.arg("__cgroup").arg(step).arg(driver);
    for dir in dirs {
        command.arg("--dir").arg(dir);
    }
    command
        .args(extra)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .current_dir("/");
    command
}

/// A scratch directory under the state dir, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(ctx: &Ctx, what: &str) -> Result<Scratch> {
        let dir = ctx.state_dir.join(format!("check-cgroup-{what}-{}", random_hex(4)?));
        fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        Ok(Scratch(dir))
    }
    /// Create `name` (and its directories) holding `content`.
    fn file(&self, name: &str, content: &str) -> Result<PathBuf> {
        let path = self.0.join(name);
        fs::create_dir_all(path.parent().expect("in a directory"))?;
        fs::write(&path, content)?;
        Ok(path)
    }
    fn dir(&self, name: &str) -> Result<PathBuf> {
        let path = self.0.join(name);
        fs::create_dir_all(&path)?;
        Ok(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// v1 as hosts mount it: memory and pids alone, cpu and cpuacct together.
const V1_MOUNTS: [(&str, &str); 4] = [
    ("memory", "memory"),
    ("pids", "pids"),
    ("cpu", "cpu,cpuacct"),
    ("cpuacct", "cpu,cpuacct"),
];

fn v1_args(scratch: &Scratch, below: &str) -> Result<Vec<String>> {
    V1_MOUNTS
        .iter()
        .map(|(controller, mount)| {
            let dir = scratch.dir(&format!("{mount}{below}"))?;
            Ok(format!("{controller}={}", dir.display()))
        })
        .collect()
}

fn create_on_scratch(ctx: &Ctx) -> Result<()> {
    create_v2_on_scratch(ctx)?;
    create_v1_on_scratch(ctx)
}

/// A v2 root that hands nothing down yet, and a mini-docker/ left by an
/// earlier container (its controllers listed as the kernel would once the
/// root hands them down). Inotify sees the order of the writes.
fn create_v2_on_scratch(ctx: &Ctx) -> Result<()> {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    let scratch = Scratch::new(ctx, "create-v2")?;
    scratch.file("cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n")?;
    scratch.file("cgroup.subtree_control", "")?;
    scratch.file("mini-docker/cgroup.controllers", "cpu memory pids\n")?;
    scratch.file("mini-docker/cgroup.subtree_control", "")?;
    let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
    let flags = AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_CREATE;
    let root_watch = inotify.add_watch(&scratch.0, flags)?;
    let parent_watch = inotify.add_watch(&scratch.0.join(cgroups::PARENT), flags)?;
    let id = format!("c{}", random_hex(4)?);
    let output = run_step(ctx, "create", "v2", &[scratch.0.display().to_string()], &["--id".into(), id.clone()])?;
    super::expect_success(&output, "create_v2")?;
    let mut order = Vec::new(); // "root" / "mini-docker" / "ID"
    loop {
        match inotify.read_events() {
            Ok(events) => order.extend(events.into_iter().filter_map(|e| {
                let name = e.name?.into_string().ok()?;
                match (e.wd == root_watch, e.wd == parent_watch, name.as_str()) {
                    (true, _, "cgroup.subtree_control") => Some("root".to_string()),
                    (_, true, "cgroup.subtree_control") => Some("mini-docker".to_string()),
                    (_, true, n) if n == id => Some("ID".to_string()),
                    _ => None,
                }
            })),
            Err(nix::errno::Errno::EAGAIN) => break,
            Err(e) => return Err(e).context("read inotify events"),
        }
    }
    let container = scratch.0.join(cgroups::PARENT).join(&id);
    if !container.is_dir() {
        bail!("create_v2 made no directory {}", container.display());
    }
    let first = |what: &str| order.iter().position(|o| o == what);
    let (Some(root), Some(parent)) = (first("root"), first("mini-docker")) else {
        bail!("create_v2 did not write both parents' cgroup.subtree_control (the root's and mini-docker's): a controller reaches the container only if every ancestor hands it down (writes seen: {order:?})");
    };
    if parent < root {
        bail!("create_v2 wrote mini-docker's cgroup.subtree_control before the root's: top-down, or the kernel refuses a controller the parent does not have (writes seen: {order:?})");
    }
    for file in ["cgroup.subtree_control", "mini-docker/cgroup.subtree_control"] {
        let written = fs::read_to_string(scratch.0.join(file))?;
        let words: Vec<&str> = written.split_whitespace().collect();
        if words.is_empty() || words.iter().any(|w| !w.starts_with(['+', '-'])) {
            bail!("create_v2 left {file} holding {written:?}: subtree_control takes \"+controller\" words");
        }
    }
    let printed = String::from_utf8_lossy(&output.stdout);
    if printed.trim() != container.display().to_string() {
        bail!("create_v2 returned a cgroup at {:?}, expected {}", printed.trim(), container.display());
    }
    Ok(())
}

/// One mount per controller (cpu and cpuacct share one): a directory in each.
fn create_v1_on_scratch(ctx: &Ctx) -> Result<()> {
    let scratch = Scratch::new(ctx, "create-v1")?;
    let id = format!("c{}", random_hex(4)?);
    let output = run_step(ctx, "create", "v1", &v1_args(&scratch, "")?, &["--id".into(), id.clone()])?;
    super::expect_success(&output, "create_v1")?;
    let printed = String::from_utf8_lossy(&output.stdout);
    for (controller, mount) in V1_MOUNTS {
        let dir = scratch.0.join(mount).join(cgroups::PARENT).join(&id);
        if !dir.is_dir() {
            bail!("create_v1 made no {} (the {controller} hierarchy): v1 needs the container's directory in every hierarchy", dir.display());
        }
        let line = format!("{controller}={}", dir.display());
        if !printed.lines().any(|l| l == line) {
            bail!("create_v1's CgroupV1 has no ({controller}, {}): its dirs are {:?}", dir.display(), printed.lines().collect::<Vec<_>>());
        }
    }
    Ok(())
}

const SCRATCH_PID: &str = "4242";

fn join_on_scratch(ctx: &Ctx) -> Result<()> {
    for driver in ["v2", "v1"] {
        let scratch = Scratch::new(ctx, &format!("join-{driver}"))?;
        let dirs = match driver {
            "v2" => vec![scratch.dir("mini-docker/c")?.display().to_string()],
            _ => v1_args(&scratch, "/mini-docker/c")?,
        };
        let unique: Vec<PathBuf> = dirs
            .iter()
            .map(|d| PathBuf::from(d.split_once('=').map_or(d.as_str(), |(_, p)| p)))
            .collect();
        for dir in &unique {
            fs::write(dir.join("cgroup.procs"), "")?;
        }
        let output = run_step(ctx, "join", driver, &dirs, &["--pid".into(), SCRATCH_PID.into()])?;
        super::expect_success(&output, &format!("join_{driver}"))?;
        let printed = String::from_utf8_lossy(&output.stdout);
        let Some(released) = printed.lines().find(|l| l.starts_with("released:")) else {
            bail!("join_{driver} never called release(): the container would wait forever");
        };
        if released.contains("not-joined") {
            let mut missing: Vec<&str> = released
                .split(' ')
                .filter_map(|w| w.strip_suffix("=not-joined"))
                .collect();
            missing.dedup(); // cpu and cpuacct share a directory
            bail!("join_{driver} released the container before its pid was in {missing:?}: its command would run (and fork) outside the limits — join first, then release");
        }
        for dir in &unique {
            let procs = fs::read_to_string(dir.join("cgroup.procs"))?;
            if procs.trim() != SCRATCH_PID {
                bail!("join_{driver}: {}/cgroup.procs holds {:?}, expected {SCRATCH_PID}", dir.display(), procs.trim());
            }
        }
    }
    Ok(())
}

/// Counters that tell the fields apart: kills 2, OOM events 3, limit hits 17.
fn oom_on_scratch(ctx: &Ctx) -> Result<()> {
    for driver in ["v2", "v1"] {
        let scratch = Scratch::new(ctx, &format!("oom-{driver}"))?;
        let dirs = match driver {
            "v2" => {
                let dir = scratch.dir("c")?;
                scratch.file("c/memory.events", "low 0\nhigh 0\nmax 17\noom 3\noom_kill 2\noom_group_kill 0\n")?;
                vec![dir.display().to_string()]
            }
            _ => {
                let dirs = v1_args(&scratch, "/c")?;
                scratch.file("memory/c/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")?;
                scratch.file("memory/c/memory.failcnt", "17\n")?;
                dirs
            }
        };
        let output = run_step(ctx, "oom", driver, &dirs, &[])?;
        super::expect_success(&output, &format!("oom_kills_{driver}"))?;
        let got = String::from_utf8_lossy(&output.stdout).trim().to_string();
        if got != "2" {
            let file = if driver == "v2" { "memory.events" } else { "memory.oom_control" };
            bail!("oom_kills_{driver} says {got:?} where {file} counts 2 kills (oom_kill): the other fields count limit hits or say \"right now\", not kills");
        }
    }
    Ok(())
}

fn remove_cgroups(ctx: &Ctx) -> Result<()> {
    remove_on_scratch(ctx)?;
    remove_real_while_dying(ctx)
}

/// The container's directories go; mini-docker/ and a sibling container stay.
fn remove_on_scratch(ctx: &Ctx) -> Result<()> {
    for driver in ["v2", "v1"] {
        let scratch = Scratch::new(ctx, &format!("remove-{driver}"))?;
        let dirs = match driver {
            "v2" => vec![scratch.dir("mini-docker/c")?.display().to_string()],
            _ => v1_args(&scratch, "/mini-docker/c")?,
        };
        // The mounts' directories, relative to the scratch dir (v2: the scratch dir itself).
        let mounts: Vec<&str> = match driver {
            "v2" => vec!["."],
            _ => vec!["memory", "pids", "cpu,cpuacct"],
        };
        for mount in &mounts {
            scratch.dir(&format!("{mount}/mini-docker/sibling"))?;
        }
        let output = run_step(ctx, "remove", driver, &dirs, &[])?;
        super::expect_success(&output, &format!("remove_{driver}"))?;
        for mount in &mounts {
            let base = scratch.0.join(mount).join(cgroups::PARENT);
            if base.join("c").exists() {
                bail!("remove_{driver} left {}: every hierarchy's directory must go", base.join("c").display());
            }
            if !base.join("sibling").is_dir() {
                bail!("remove_{driver} removed {}, another container's cgroup: only this container's directory goes", base.join("sibling").display());
            }
        }
    }
    Ok(())
}

/// The real thing: a cgroup of this host's layout whose last process is
/// killed only after the remove step started — rmdir answers EBUSY until it is gone.
fn remove_real_while_dying(ctx: &Ctx) -> Result<()> {
    let name = format!("check-{}", random_hex(4)?);
    let (driver, dirs): (&str, Vec<(String, PathBuf)>) = match cgroups::detect()? {
        Mode::V2 => ("v2", vec![(String::new(), Path::new(cgroups::v2::ROOT).join(cgroups::PARENT).join(&name))]),
        Mode::V1 { .. } => (
            "v1",
            ["memory", "pids"]
                .iter()
                .map(|c| Ok((format!("{c}="), cgroups::v1::mount_point(c)?.join(cgroups::PARENT).join(&name))))
                .collect::<Result<_>>()?,
        ),
    };
    let mut sleeper = std::process::Command::new("sleep")
        .arg("30")
        .stdin(std::process::Stdio::null())
        .spawn()
        .context("start sleep 30 (the cgroup's last process)")?;
    let result = remove_real(ctx, driver, &dirs, &mut sleeper);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let left: Vec<String> = dirs
        .iter()
        .filter(|(_, d)| d.exists())
        .map(|(_, d)| {
            let _ = cgroups::remove_dir_retrying(d);
            d.display().to_string()
        })
        .collect();
    result?;
    if !left.is_empty() {
        bail!("remove_{driver} returned but left {left:?} (the check removed it)");
    }
    Ok(())
}

fn remove_real(ctx: &Ctx, driver: &str, dirs: &[(String, PathBuf)], sleeper: &mut std::process::Child) -> Result<()> {
    for (_, dir) in dirs {
        fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        cgroups::write_file(&dir.join("cgroup.procs"), &sleeper.id().to_string())?;
    }
    let args: Vec<String> = dirs.iter().map(|(prefix, d)| format!("{prefix}{}", d.display())).collect();
    let mut child = step_command(ctx, "remove", driver, &args, &[])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("start mini-docker __cgroup remove")?;
    // The step starts right after "removing": the process is still in there.
    let mut first = String::new();
    let stdout = child.stdout.take().expect("piped");
    let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut first);
    if first.trim() == "removing" {
        std::thread::sleep(Duration::from_millis(250));
    }
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let output = super::wait_output(child, Duration::from_secs(10))?;
    if output.status.code() != Some(0) {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let why = if stderr.contains("busy") {
            " with EBUSY: retry the rmdir while the kernel still counts a dying process"
        } else if stderr.contains("not permitted") {
            " with EPERM: a cgroup's files are the kernel's — rmdir the directory, never rm -r (remove_dir_all)"
        } else {
            ""
        };
        bail!(
            "remove_{driver} on a real cgroup whose last process died 250 ms into the step failed{why}{}",
            stderr_suffix(&stderr)
        );
    }
    Ok(())
}

/// `mini-docker __cgroup limits`, as check 8.6 runs it.
fn check_writer(ctx: &Ctx, driver: &str, dir: &Path) -> Result<()> {
    let files = scratch_files(driver);
    for (name, initial, _) in &files {
        let path = dir.join(name);
        fs::create_dir_all(path.parent().expect("in a directory"))?;
        fs::write(&path, format!("{initial}\n"))?;
    }
    // Watch the cpu files: the order of their writes is the order of the events.
    let watch = (driver == "v1").then(|| watch_writes(&dir.join("cpu"))).transpose()?;
    let dirs: Vec<String> = match driver {
        "v1" => ["memory", "pids", "cpu", "cpuacct"]
            .iter()
            .map(|c| format!("{c}={}", dir.join(if *c == "cpuacct" { "cpu" } else { c }).display()))
            .collect(),
        _ => vec![dir.display().to_string()],
    };
    let limits = [
        "--memory".to_string(),
        SCRATCH_MEMORY.to_string(),
        "--pids".into(),
        SCRATCH_PIDS.to_string(),
        "--cpus".into(),
        SCRATCH_CPUS.into(),
    ];
    let output = run_step(ctx, "limits", driver, &dirs, &limits)?;
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
