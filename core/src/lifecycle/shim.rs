//! The shim: the keeper of one detached container (containerd-shim's role).
//!
//! `run -d` (and `start`) re-execute mini-docker as `__shim --id ID -- ARGS`.
//! That process starts a session of its own and forks: the child is the
//! shim, the parent exits at once and the client reaps it, so the shim is
//! nobody's zombie and belongs to no terminal. The shim closes every fd the
//! client left it, points its stdout and stderr at the log writer, and runs
//! the very `launch` a foreground `run` runs. It tells the client over a
//! pipe "started ID" (or why not), then waits for the container's PID 1,
//! records its exit, and ends. Its container dies with it: PID 1 has
//! PR_SET_PDEATHSIG = SIGKILL (spawn.rs), and every other process in the
//! container dies with PID 1 (its PID namespace).

use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;

use super::logs::{self, LogOptions};
use super::state;
use super::{Recorder, Report};
use crate::cli::args::{Cli, Command as CliCommand};
use crate::runtime::launch::{launch, RunOptions};
use crate::runtime::root::Target;
use crate::runtime::supervisor::ExitError;
use crate::selection::Selection;
use crate::workshop::{self, StepsFor};

/// The client's side: start a shim for container `id` with `args` (the
/// `mini-docker` arguments of its `run`), run in `cwd`; returns once the
/// container runs, or with the reason it does not.
pub fn spawn(state_dir: &Path, id: &str, args: &[String], cwd: &Path) -> Result<()> {
    let (from_shim, to_client) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("make the shim's report pipe")?;
    let mut intermediate = {
        // Dropped at the end of this block: our copies of the pipe's write
        // end close, so reading sees EOF when the shim closes its own.
        let mut command = Command::new("/proc/self/exe");
        command
            .arg("--state-dir")
            .arg(state_dir)
            .args(["__shim", "--id", id, "--"])
            .args(args)
            .current_dir(if cwd.is_dir() { cwd } else { Path::new("/") })
            .stdin(Stdio::null())
            .stdout(Stdio::from(to_client.try_clone()?))
            .stderr(Stdio::from(to_client));
        command.spawn().context("start the shim")?
    };
    intermediate.wait().context("wait for the shim's parent")?;
    let mut report = String::new();
    File::from(from_shim)
        .read_to_string(&mut report)
        .context("read the shim's report")?;
    read_report(&report)
}

/// "started ID", or "failed CODE\nMESSAGE", or whatever the shim printed
/// before it could say either (a usage error).
fn read_report(report: &str) -> Result<()> {
    let (first, rest) = report.split_once('\n').unwrap_or((report, ""));
    if first.starts_with("started ") {
        return Ok(());
    }
    let (code, message) = match first.strip_prefix("failed ") {
        Some(code) => (code.trim().parse().unwrap_or(125), rest.trim()),
        None => (125, report.trim()),
    };
    let message = message.trim_start_matches("mini-docker: ");
    if message.is_empty() {
        bail!("the shim ended before the container started");
    }
    Err(ExitError {
        code,
        message: message.to_string(),
    }
    .into())
}

/// The log writer thread of a shim, and the fds it reads from.
pub struct LogWriter(std::thread::JoinHandle<()>);

impl LogWriter {
    /// Close our stdout and stderr (the writer's only sources once the
    /// container is gone) and let it write the last lines, briefly.
    pub fn finish(self) {
        redirect_to_null(&[1, 2]);
        let deadline = Instant::now() + Duration::from_secs(2);
        while !self.0.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// `__shim --id ID -- ARGS`: become the shim, run the container, exit.
pub fn main(id: &str, args: &[OsString], state_dir: &Path, steps_for: StepsFor) -> ! {
    detach();
    close_inherited_fds();
    // SAFETY: fd 1 is the client's report pipe (open: the client gave it);
    // F_DUPFD_CLOEXEC returns a new fd we then own alone.
    let report_fd = unsafe { libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3) };
    let report: Report = if report_fd >= 0 {
        // SAFETY: report_fd was just made and is owned by nobody else.
        std::rc::Rc::new(std::cell::RefCell::new(Some(unsafe {
            File::from_raw_fd(report_fd)
        })))
    } else {
        Default::default()
    };
    if let Err(err) = run(id, args, state_dir, steps_for, report.clone()) {
        let code = err.downcast_ref::<ExitError>().map_or(125, |e| e.code);
        if let Some(file) = report.borrow_mut().take() {
            let _ = std::io::Write::write_all(
                &mut &file,
                format!("failed {code}\n{err:#}\n").as_bytes(),
            );
        }
    }
    std::process::exit(0);
}

fn run(
    id: &str,
    args: &[OsString],
    state_dir: &Path,
    steps_for: StepsFor,
    report: Report,
) -> Result<()> {
    let cli = Cli::try_parse_from(
        std::iter::once(OsString::from("mini-docker")).chain(args.iter().cloned()),
    )
    .map_err(|e| anyhow::anyhow!("{}", e.render().to_string().lines().next().unwrap_or("")))?;
    let Some(CliCommand::Run(run)) = cli.command else {
        bail!("__shim runs `run IMAGE` arguments only");
    };
    let run = *run;
    // Relative paths (-v ./data:/data) are absolute once parsed: from now on
    // the shim holds no directory of its client's busy.
    let _ = std::env::set_current_dir("/");
    let selection = match cli.reference.as_deref() {
        Some(spec) => Selection::parse(spec)?,
        None => Selection::exercises_only(),
    };
    let steps = steps_for(selection);
    let mut log_options = LogOptions::parse(&run.image_opts.log_opt)?;
    log_options.partial = run.image_opts.tty;
    let dir = state::container_dir(state_dir, id);
    // Made by a front-end before this start (chapter 14's `create`): its
    // stdin comes through the attach socket, not from nowhere.
    if run.image_opts.interactive && dir.is_dir() {
        super::attach::serve_stdin(&dir)?;
    }
    // Before the log thread exists, as the supervisor would: a SIGTERM for
    // the shim must wait for its forwarder, not end us on another thread.
    crate::runtime::signals::stop_signals()
        .thread_block()
        .context("block signals")?;
    let logs = start_log_writer(logs::log_path(&dir, id), log_options)?;
    let strings = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut opts: RunOptions = run.opts.into();
    opts.keeper = Some(Box::new(Recorder::for_shim(
        id.to_string(),
        strings,
        report,
        logs,
        &steps,
    )));
    let target = Target::Image {
        image: run.image,
        command: run.command,
        options: run.image_opts.into(),
    };
    launch(workshop::last_chapter(), opts, target, state_dir, &steps)?;
    Ok(())
}

/// Our stdout and stderr become pipes into the json-file writer: the
/// supervisor copies the container's output to them, as it copies it to a
/// terminal in the foreground.
fn start_log_writer(path: PathBuf, options: LogOptions) -> Result<LogWriter> {
    let cloexec = nix::fcntl::OFlag::O_CLOEXEC;
    let (out_r, out_w) = nix::unistd::pipe2(cloexec).context("stdout log pipe")?;
    let (err_r, err_w) = nix::unistd::pipe2(cloexec).context("stderr log pipe")?;
    for (fd, target) in [(&out_w, 1), (&err_w, 2)] {
        nix::unistd::dup2(fd.as_raw_fd(), target).context("point stdio at the log")?;
    }
    drop((out_w, err_w));
    Ok(LogWriter(logs::spawn_writer(out_r, err_r, path, options)))
}

/// setsid(2) then fork(2): the parent (the client's child) exits at once;
/// the child, in a session of its own and no session leader, can never get
/// a controlling terminal back. Runs first thing: one thread, nothing held.
fn detach() {
    let _ = nix::unistd::setsid();
    // SAFETY: single-threaded at this point (first thing in __shim), so the
    // child is a complete copy; the parent only calls _exit.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Parent { .. }) => {
            // SAFETY: _exit ends the process without running anything of ours.
            unsafe { libc::_exit(0) }
        }
        Ok(nix::unistd::ForkResult::Child) => {}
        Err(err) => {
            eprintln!("mini-docker: fork the shim: {err}");
            std::process::exit(125);
        }
    }
}

/// close_range(3, ~0): nothing of the client's (a test harness's pipe, a
/// terminal) stays open in a process that lives as long as its container.
fn close_inherited_fds() {
    // SAFETY: closes fds by number; nothing in this process uses fds >= 3 yet.
    unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
}

/// Point `fds` at /dev/null (their pipes' readers then see EOF).
fn redirect_to_null(fds: &[i32]) {
    let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") else {
        return;
    };
    let null = OwnedFd::from(null);
    for &fd in fds {
        let _ = nix::unistd::dup2(null.as_raw_fd(), fd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_says_started_or_why_not() {
        assert!(read_report("started abc\n").is_ok());
        let err = read_report("failed 127\nmini-docker: exec nope: not found\n").unwrap_err();
        let exit = err.downcast_ref::<ExitError>().unwrap();
        assert_eq!(
            (exit.code, exit.message.as_str()),
            (127, "exec nope: not found")
        );
        let err = read_report("").unwrap_err().to_string();
        assert!(err.contains("ended before the container started"), "{err}");
    }
}
