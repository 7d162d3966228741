//! Checks: each chapter's behaviour, verified from the host side.
//!
//! A check runs mini-docker as a black box (`mini-docker [--reference=..]
//! chapter N run -- CMD`) and inspects the kernel: /proc/PID/ns/*, mountinfo,
//! /proc/PID/status, ... Checks live here, never in files the learner edits.

// One module per chapter, named in the chapter table (core/src/workshop.rs).
macro_rules! declare_check_modules {
    ($(chapter $number:literal $module:ident { about: $about:tt, steps: $steps:tt, checks: $checks:ident, })*) => {
        $(pub mod $checks;)*

        /// A chapter's checks, in order.
        pub fn for_chapter(chapter: u8) -> Vec<Check> {
            match chapter {
                $($number => $checks::checks(),)*
                _ => Vec::new(),
            }
        }
    };
}
crate::chapter_table!(declare_check_modules);
pub mod fixture;
pub mod hints;
pub mod probe;
pub mod report;
pub mod sandbox;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::selection::Selection;
use crate::{rootfs, workshop};
use report::Format;

/// One check: a claim about the kernel's state, worth `points`.
pub struct Check {
    pub id: &'static str,
    pub title: &'static str,
    pub points: u32,
    /// Printed on failure: the syscall or flag most likely missing.
    pub hint: &'static str,
    pub run: fn(&Ctx) -> Result<()>,
}

pub struct CheckResult {
    pub chapter: u8,
    pub id: &'static str,
    pub title: &'static str,
    pub points: u32,
    pub hint: &'static str,
    /// None = passed; Some(why) = failed.
    pub failure: Option<String>,
    pub seconds: f64,
    /// The chapter ran the reference solution (`--reference`): no points.
    pub from_reference: bool,
}

impl CheckResult {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }

    /// Points earned: a pass of the learner's own code.
    pub fn score(&self) -> u32 {
        match self.passed() && !self.from_reference {
            true => self.points,
            false => 0,
        }
    }
}

/// `mini-docker check N...`: exit 0 iff every check passed.
pub fn check_command(
    chapters: &[u8],
    state_dir: &Path,
    selection: Selection,
    format: Format,
    with: &[String],
) -> Result<i32> {
    let live = format == Format::Text;
    let results = run_chapters_with(chapters, state_dir, selection, live, with)?;
    if with.is_empty() {
        // A run under extra flags is an experiment, not the learner's progress.
        crate::cli::progress::record(state_dir, &results);
    }
    report::print(&results, selection, format)?;
    Ok(if results.iter().all(CheckResult::passed) {
        0
    } else {
        1
    })
}

/// `mini-docker grade`: every chapter; the report carries the verdict.
pub fn grade_command(state_dir: &Path, selection: Selection, format: Format) -> Result<i32> {
    let all: Vec<u8> = workshop::CHAPTERS.iter().map(|c| c.number).collect();
    let results = run_chapters(&all, state_dir, selection, false)?;
    report::print(&results, selection, format)?;
    Ok(0)
}

pub fn run_chapters(
    chapters: &[u8],
    state_dir: &Path,
    selection: Selection,
    live: bool,
) -> Result<Vec<CheckResult>> {
    run_chapters_with(chapters, state_dir, selection, live, &[])
}

/// `with`: flags added to every container run (`check --with=--userns`).
pub fn run_chapters_with(
    chapters: &[u8],
    state_dir: &Path,
    selection: Selection,
    live: bool,
    with: &[String],
) -> Result<Vec<CheckResult>> {
    let mut ctx = Ctx::new(state_dir, selection)?;
    ctx.with = with.to_vec();
    let mut results = Vec::new();
    for &chapter in chapters {
        if live {
            report::print_chapter_heading(chapter);
        }
        for check in for_chapter(chapter) {
            let started = Instant::now();
            // A host that is not ready is not the learner's code: no hint about it.
            let (failure, hint) = match ctx.precondition(chapter) {
                Ok(()) => ((check.run)(&ctx).err(), check.hint),
                Err(e) => (
                    Some(e),
                    "the host or state dir is not ready: fix that first",
                ),
            };
            let result = CheckResult {
                chapter,
                id: check.id,
                title: check.title,
                points: check.points,
                hint,
                failure: failure.map(|e| format!("{e:#}")),
                seconds: started.elapsed().as_secs_f64(),
                from_reference: selection.is_reference(chapter),
            };
            if live {
                report::print_result(&result);
            }
            results.push(result);
        }
    }
    Ok(results)
}

/// What every check needs: how to run mini-docker, where its rootfs is.
pub struct Ctx {
    pub exe: PathBuf,
    pub selection: Selection,
    pub state_dir: PathBuf,
    pub rootfs: Result<PathBuf, String>,
    /// Root: every run goes through `__sandbox` (not root: chapter 1 only, no namespaces to make).
    pub sandboxed: bool,
    /// Flags for every container run (`check --with=--userns`).
    pub with: Vec<String>,
}

impl Ctx {
    /// Checks run by this binary (`mini-docker check`); a test sets `exe`
    /// to the binary under test.
    pub fn new(state_dir: &Path, selection: Selection) -> Result<Ctx> {
        let exe = std::env::current_exe().context("find the mini-docker binary")?;
        let rootfs = rootfs::starter(state_dir).map_err(|e| format!("{e:#}"));
        Ok(Ctx {
            exe,
            selection,
            state_dir: state_dir.to_path_buf(),
            rootfs,
            sandboxed: nix::unistd::geteuid().is_root(),
            with: Vec::new(),
        })
    }

    fn precondition(&self, chapter: u8) -> Result<()> {
        if chapter >= 2 && !nix::unistd::geteuid().is_root() {
            bail!("chapter {chapter}'s checks need root: run `sudo mini-docker check {chapter}`");
        }
        if chapter >= 2 {
            self.rootfs()?;
        }
        if chapter == 7 {
            crate::userns::IdMap::remapped_root()
                .refuse_closed_dirs("state dir", &self.state_dir)?;
        }
        Ok(())
    }

    pub fn rootfs(&self) -> Result<&Path> {
        self.rootfs.as_deref().map_err(|e| anyhow!("{e}"))
    }

    /// `mini-docker __sandbox -- [--reference=..] --state-dir D chapter N run ARGS -- CMD`:
    /// mini-docker in namespaces of its own (see sandbox.rs), so a broken
    /// exercise cannot rename the host or leave processes on it.
    pub fn command(&self, chapter: u8, run_args: &[&str], cmd: &[&str]) -> Command {
        let mut command = Command::new(&self.exe);
        command
            .env_remove("MINI_DOCKER_REFERENCE")
            .env_remove("MINI_DOCKER_STATE_DIR");
        if self.sandboxed {
            command.args(["__sandbox", "--"]);
            // SAFETY: runs between fork and exec, and only calls prctl(2), which
            // is async-signal-safe. If the check dies (Ctrl-C, SIGKILL), so does
            // the sandbox, and its init with it (see sandbox.rs): nothing is left.
            unsafe {
                command.pre_exec(|| {
                    match libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) {
                        0 => Ok(()),
                        _ => Err(std::io::Error::last_os_error()),
                    }
                });
            }
        }
        if let Some(arg) = self.selection.to_arg() {
            command.arg(arg);
        }
        command.arg("--state-dir").arg(&self.state_dir);
        command
            .args(["chapter", &chapter.to_string(), "run"])
            .args(&self.with)
            .args(run_args)
            .arg("--")
            .args(cmd);
        // Not "/": a pivot_root without chdir("/") then leaves the container's
        // cwd outside its root, where check 5 can see it.
        match self.state_dir.is_dir() {
            true => command.current_dir(&self.state_dir),
            false => command.current_dir("/"),
        };
        command
    }

    /// Run to completion with `input` on stdin; killed after `OUTPUT_TIMEOUT`.
    pub fn output(
        &self,
        chapter: u8,
        run_args: &[&str],
        cmd: &[&str],
        input: &[u8],
    ) -> Result<Output> {
        self.output_within(chapter, run_args, cmd, input, OUTPUT_TIMEOUT)
    }

    /// `output` with a deadline of its own (a test's, shorter than a check's).
    pub fn output_within(
        &self,
        chapter: u8,
        run_args: &[&str],
        cmd: &[&str],
        input: &[u8],
        timeout: Duration,
    ) -> Result<Output> {
        let mut child = self
            .command(chapter, run_args, cmd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("start mini-docker")?;
        let mut stdin = child.stdin.take().expect("piped");
        let input = input.to_vec();
        std::thread::spawn(move || stdin.write_all(&input));
        wait_output(child, timeout)
    }

    /// Start `script` in a container (via `sh -c`), wait until it printed the
    /// ready line; the container then waits for its stdin to close.
    pub fn start(&self, chapter: u8, run_args: &[&str], script: &str) -> Result<Running> {
        self.start_script(
            chapter,
            run_args,
            &format!("{script}\necho {READY}\nread _unused"),
        )
    }

    /// Like `start`, but the shell then execs `program` (it becomes the container's PID 1).
    pub fn start_then_exec(
        &self,
        chapter: u8,
        run_args: &[&str],
        program: &str,
    ) -> Result<Running> {
        self.start_script(chapter, run_args, &format!("echo {READY}\nexec {program}"))
    }

    /// `mini-docker ARGS` where `running` runs: in its sandbox's PID and
    /// mount namespaces (`__sandbox --enter`), where its state.json's pids
    /// are valid. Chapter 12's `exec` into it, say.
    pub fn in_sandbox_of(&self, running: &Running, args: &[&str]) -> Result<Output> {
        let mut command = Command::new(&self.exe);
        command
            .env_remove("MINI_DOCKER_REFERENCE")
            .env_remove("MINI_DOCKER_STATE_DIR")
            .env("MINI_DOCKER_CHECK_HOST_ONLY", "leak")
            .args(["__sandbox", "--", "--enter"])
            .arg(running.supervisor().to_string());
        if let Some(arg) = self.selection.to_arg() {
            command.arg(arg);
        }
        command.arg("--state-dir").arg(&self.state_dir).args(args);
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("start mini-docker")?;
        wait_output(child, OUTPUT_TIMEOUT)
    }

    fn start_script(&self, chapter: u8, run_args: &[&str], full: &str) -> Result<Running> {
        let mut child = self
            .command(chapter, run_args, &["/bin/sh", "-c", full])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("start mini-docker")?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line.unwrap_or_default()).is_err() {
                    break;
                }
            }
        });
        let mut running = Running {
            child: Some(child),
            stdin,
            lines: rx,
            before_ready: Vec::new(),
            supervisor: None,
            sandboxed: self.sandboxed,
        };
        running.wait_ready()?;
        running.supervisor = Some(running.find_supervisor()?);
        Ok(running)
    }
}

const READY: &str = "__mini_docker_check_ready__";

/// How long a check waits: a broken exercise must fail in seconds.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);
const OUTPUT_TIMEOUT: Duration = Duration::from_secs(20);

/// A container started by a check; killed (with everything in it) when dropped.
pub struct Running {
    /// `mini-docker __sandbox`: its init's PID namespace holds everything the check started.
    child: Option<Child>,
    /// mini-docker itself (PID 2 of the sandbox), as the host sees it.
    supervisor: Option<Pid>,
    /// Started through `__sandbox` (`Ctx::sandboxed`).
    sandboxed: bool,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    /// What the script printed before it was ready.
    pub before_ready: Vec<String>,
}

impl Running {
    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line == READY => return Ok(()),
                Ok(line) => self.before_ready.push(line),
                Err(_) => {
                    let stderr = self.kill_and_collect_stderr();
                    bail!("the container never got ready{}", stderr_suffix(&stderr));
                }
            }
        }
    }

    /// The supervisor's pid (mini-docker, as the host sees it).
    pub fn supervisor(&self) -> Pid {
        self.supervisor.expect("found when ready")
    }

    fn find_supervisor(&self) -> Result<Pid> {
        let child = Pid::from_raw(self.child.as_ref().expect("running").id() as i32);
        match self.sandboxed {
            true => mini_docker_in(child),
            false => Ok(child),
        }
    }

    /// The container's first process, as the host sees it (the supervisor's child).
    pub fn container_pid(&self) -> Result<Pid> {
        let supervisor = self.supervisor();
        probe::children_of(supervisor)?
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("mini-docker (pid {supervisor}) has no container process"))
    }

    /// Close the container's stdin and wait for mini-docker to exit.
    pub fn finish(mut self) -> Result<Output> {
        drop(self.stdin.take());
        let child = self.child.take().expect("running");
        wait_output(child, EXIT_TIMEOUT)
    }

    /// Wait for mini-docker to exit on its own, stdin still open (so the
    /// container's `read` cannot end it first).
    pub fn wait_exit(mut self) -> Result<Output> {
        let child = self.child.take().expect("running");
        let stdin = self.stdin.take();
        let output = wait_output(child, EXIT_TIMEOUT);
        drop(stdin);
        output
    }

    fn kill_and_collect_stderr(&mut self) -> String {
        match self.child.take() {
            Some(child) => {
                kill_everything(Pid::from_raw(child.id() as i32));
                wait_output(child, Duration::from_secs(5))
                    .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
                    .unwrap_or_default()
            }
            None => String::new(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_everything(Pid::from_raw(child.id() as i32));
            let _ = child.wait();
        }
    }
}

/// mini-docker in the sandbox started as `sandbox` (`Ctx::command`): the child
/// of the sandbox's init that is PID 2 in there (orphans of a container
/// without CLONE_NEWPID are init's children too).
pub fn mini_docker_in(sandbox: Pid) -> Result<Pid> {
    let init = probe::children_of(sandbox)?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("the check's sandbox (pid {sandbox}) has no init process"))?;
    probe::children_of(init)?
        .into_iter()
        .find(|&pid| probe::nspid(pid).is_ok_and(|ids| ids.last() == Some(&2)))
        .ok_or_else(|| anyhow!("no mini-docker process in the check's sandbox"))
}

/// Wait for a child with a deadline, collecting its output.
pub(crate) fn wait_output(child: Child, timeout: Duration) -> Result<Output> {
    let pid = Pid::from_raw(child.id() as i32);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(output) => Ok(output?),
        Err(_) => {
            kill_everything(pid);
            // Wait for the sandbox to exit: by then its namespace is empty.
            let _ = rx.recv_timeout(Duration::from_secs(5));
            bail!("mini-docker did not exit within {}s", timeout.as_secs())
        }
    }
}

/// SIGKILL what a check started as `pid`. A sandbox: its init — the kernel
/// then kills every process in the sandbox's PID namespace, and the sandbox
/// exits once init is reaped, after they are all gone; so waiting for `pid`
/// afterwards waits for all of them. (Killing the sandbox itself would not:
/// its init would die later, by PR_SET_PDEATHSIG.) Otherwise mini-docker and
/// its children.
///
/// A killed mini-docker never runs its clean-up: the cgroups of its
/// container stay behind. So we stop it first (it makes no more), note which
/// containers it runs, and remove their cgroups once everything is dead.
fn kill_everything(pid: Pid) {
    let argv = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let sandbox = argv.split(|&b| b == 0).nth(1) == Some(b"__sandbox".as_slice());
    let children = probe::children_of(pid).unwrap_or_default();
    match (sandbox, children.first()) {
        (true, Some(&init)) => {
            let containers = stop_and_list_containers(pid, init);
            let _ = kill(init, Signal::SIGKILL);
            wait_until_gone(init);
            for id in containers {
                for error in crate::cgroups::remove_container_cgroups(&id) {
                    eprintln!("mini-docker: check: {error:#}");
                }
            }
        }
        _ => {
            for child in children {
                let _ = kill(child, Signal::SIGKILL);
            }
            let _ = kill(pid, Signal::SIGKILL);
        }
    }
}

/// SIGSTOP every process of `sandbox`, whose init is `init` (not init: it
/// makes nothing), and return the ids of the containers they run: the
/// STATE_DIR/containers/ID directories its mini-dockers (the sandbox's own
/// binary) hold open — each holds its container's, locked, while it runs.
/// Stopped, they create no cgroup after we looked; every id found is this
/// sandbox's, no other run's.
fn stop_and_list_containers(sandbox: Pid, init: Pid) -> Vec<String> {
    let exe = |pid: Pid| std::fs::read_link(format!("/proc/{pid}/exe")).ok();
    let mini_docker = exe(sandbox);
    let Ok(ns) = probe::ns_inode(Some(init), "pid") else {
        return Vec::new();
    };
    let members: Vec<Pid> = probe::pids_in_pid_ns(ns)
        .into_iter()
        .filter(|&pid| pid != init)
        .collect();
    for &pid in &members {
        let _ = kill(pid, Signal::SIGSTOP);
    }
    let mut ids: Vec<String> = Vec::new();
    for &pid in &members {
        wait_until_stopped(pid);
        if mini_docker.is_none() || exe(pid) != mini_docker {
            continue;
        }
        for id in container_dirs_held(pid) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

/// kill(SIGSTOP) only asks: a thread in a system call (a mkdir) stops when
/// it returns. Wait until every thread of `pid` is stopped (or dead), 1 s at most.
fn wait_until_stopped(pid: Pid) {
    let deadline = Instant::now() + Duration::from_secs(1);
    let all_stopped = || {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return true; // gone
        };
        tasks.flatten().all(|task| {
            let stat = std::fs::read_to_string(task.path().join("stat"));
            let state = stat
                .ok()
                .and_then(|s| s[s.rfind(')')? + 2..].chars().next());
            matches!(state, None | Some('T' | 't' | 'Z' | 'X'))
        })
    };
    while !all_stopped() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The ids of the STATE_DIR/containers/ID directories `pid` has open.
fn container_dirs_held(pid: Pid) -> Vec<String> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    fds.flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter(|target| target.parent().and_then(Path::file_name) == Some("containers".as_ref()))
        .filter_map(|target| Some(target.file_name()?.to_str()?.to_string()))
        .collect()
}

/// Wait until `init` is reaped (or a zombie): the kernel has then killed
/// every process of its PID namespace. 5 s at most.
fn wait_until_gone(init: Pid) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !matches!(probe::state(init), None | Some('Z')) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// " — mini-docker said: <line>": the todo!() message if there is one, else
/// the last line (errors come last; progress lines come first).
pub fn stderr_suffix(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    match lines.iter().find(|l| l.contains("TODO(")).or(lines.last()) {
        Some(line) => format!(
            " — mini-docker said: {}",
            line.trim().trim_start_matches("mini-docker: ")
        ),
        None => String::new(),
    }
}

/// Fail unless the run exited 0, quoting stderr.
pub fn expect_success(output: &Output, what: &str) -> Result<()> {
    if output.status.code() == Some(0) {
        return Ok(());
    }
    bail!(
        "{what}: exit status {}{}",
        status_text(output),
        stderr_suffix(&String::from_utf8_lossy(&output.stderr))
    )
}

pub fn status_text(output: &Output) -> String {
    match output.status.code() {
        Some(code) => code.to_string(),
        None => format!("{:?}", output.status),
    }
}

/// Random hex for names and markers, so no check can pass by luck or by cache.
pub use crate::sys::random_hex;

/// The breakout helper (core/src/checks/breakout.c), built static by build.rs.
pub const BREAKOUT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/breakout"));

/// The TIOCSTI probe (core/src/checks/tiocsti.c) the tests run in a container.
pub const TIOCSTI: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/tiocsti"));

/// The chapter 11 escape room (core/src/checks/escape.c): one sub-command per breakout.
pub const ESCAPE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/escape"));
