//! The command line: `args.rs` is the schema (clap); this file parses,
//! dispatches, and turns every failure into one line and docker's exit
//! status. What each command does lives beside it: `chapter.rs`
//! (`chapter N`, `watch`), `images.rs` (`pull`, `images`, `rmi`),
//! `containers.rs` (`ps`, `logs`, `stop`, `rm`...), and the runtime's
//! `launch` for `run`.

pub mod args;
pub mod chapter;
pub mod containers;
pub mod hint;
pub mod images;
pub mod progress;
pub mod watch;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Parser;

use crate::runtime::launch::{launch, RunOptions};
use crate::runtime::root::Target;
use crate::runtime::supervisor::ExitError;
use crate::selection::Selection;
use crate::workshop::{self, StepsFor};
use crate::{cgroups, checks, doctor, lifecycle, net, rootfs, runtime};
use args::{ChapterAction, Cli, Command, RunArgs};

/// The binary's entry point: `steps_for` makes the chapter steps for a selection.
pub fn main(steps_for: StepsFor) -> ExitCode {
    install_panic_hook();
    // Chapter 13: called as `mini-docker-runc` (podman's --runtime), speak runc.
    if crate::oci::called_as_runc() {
        return crate::oci::main_as_runc(steps_for);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(err),
    };
    let failure_code = failure_code(cli.command.as_ref());
    // A panic (a todo!() in an exercise) unwinds to here, so every guard on the
    // way (veth, lease, container dir) is dropped and cleans up after itself.
    let Ok(result) =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| dispatch(cli, steps_for)))
    else {
        return ExitCode::from(125);
    };
    match result {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(err) => {
            let code = err
                .downcast_ref::<ExitError>()
                .map(|e| e.code)
                .unwrap_or(failure_code);
            eprintln!("mini-docker: {err:#}");
            ExitCode::from(code.clamp(0, 255) as u8)
        }
    }
}

/// The exit status of mini-docker's own failure, like docker's: 125 for
/// `run` and `chapter N run` (so it never looks like the command's own
/// status) and for `hint` (whose only failures are bad input or the state
/// dir), 1 for the other commands (`docker pull` of a missing image exits 1).
fn failure_code(command: Option<&Command>) -> i32 {
    match command {
        Some(Command::Run(_))
        | Some(Command::Chapter {
            action: Some(ChapterAction::Run(_)),
            ..
        })
        | Some(Command::Hint { .. })
        | Some(Command::Ps { .. })
        | Some(Command::Logs { .. })
        | Some(Command::Stop { .. })
        | Some(Command::Kill { .. })
        | Some(Command::Start { .. })
        | Some(Command::Restart { .. })
        | Some(Command::Rm { .. })
        | Some(Command::Wait { .. })
        | Some(Command::Exec { .. })
        | Some(Command::Inspect { .. })
        | Some(Command::Container { .. }) => 125,
        _ => 1,
    }
}

/// clap's usage errors in one line and exit 125, as docker does for a bad
/// flag; `--help` and `--version` print as usual.
fn usage_error(err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let shows_help = err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand;
    if !err.use_stderr() || shows_help {
        let _ = err.print();
        return ExitCode::from(if err.use_stderr() { 2 } else { 0 });
    }
    eprintln!("mini-docker: {}", one_line(&err.render().to_string()));
    ExitCode::from(125)
}

/// clap's message without the usage and "For more information" paragraphs,
/// its lines joined: "error: unexpected argument '--x' found; tip: ...".
fn one_line(rendered: &str) -> String {
    let mut line = String::new();
    let lines = rendered.lines().map(str::trim).filter(|l| !l.is_empty());
    for part in lines.take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more")) {
        if !line.is_empty() {
            line.push_str(if part.starts_with("tip:") { "; " } else { " " });
        }
        line.push_str(part);
    }
    line.trim_start_matches("error: ").to_string()
}

fn dispatch(cli: Cli, steps_for: StepsFor) -> Result<i32> {
    if let Some(Command::Inside { channel_fd }) = cli.command {
        runtime::inside::main(channel_fd, &steps_for);
    }
    if let Some(Command::Sandbox { args }) = &cli.command {
        checks::sandbox::main(args);
    }
    if let Some(Command::Shim { id, args }) = &cli.command {
        // First thing: the shim forks, which wants one thread and nothing made.
        let state_dir = cli.state_dir.clone().context("__shim needs --state-dir")?;
        lifecycle::shim::main(id, args, &state_dir, steps_for);
    }
    let selection = match cli.reference.as_deref() {
        Some(spec) => Selection::parse(spec)?,
        None => Selection::exercises_only(),
    };
    let steps = steps_for(selection);
    if let Some(Command::Runc { args }) = &cli.command {
        return Ok(crate::oci::main(args.clone(), &steps));
    }
    let state_dir = match cli.state_dir {
        Some(dir) => absolute(&dir)?,
        None => absolute(&default_state_dir()?)?,
    };
    refuse_foreign_state_dir(&state_dir)?;
    runtime::container_dir::make_state_dir_private(&state_dir);
    let Some(command) = cli.command else {
        return progress::show(&state_dir);
    };
    match command {
        Command::Chapter { number, action } => {
            let chapter = parse_chapter(&number)?;
            match action {
                None => {
                    chapter::warn_if_stale();
                    chapter::show(chapter, &state_dir, selection)
                }
                Some(ChapterAction::Run(args)) => run_chapter(chapter, *args, &state_dir, &steps),
                Some(ChapterAction::Pull(args)) => {
                    at_least_chapter(chapter, 9)?;
                    images::pull(&state_dir, args, &steps)
                }
                Some(ChapterAction::Resolve { image }) => {
                    at_least_chapter(chapter, 9)?;
                    images::resolve(&image, &steps)
                }
            }
        }
        Command::Run(args) if args.image_opts.detach => run_detached(*args, &state_dir, &steps),
        Command::Run(args) => {
            let args = *args;
            let kept = !args.image_opts.rm;
            let log_options = lifecycle::logs::LogOptions::parse(&args.image_opts.log_opt)?;
            let target = Target::Image {
                image: args.image,
                command: args.command,
                options: args.image_opts.into(),
            };
            let mut opts: RunOptions = args.opts.into();
            // A kept container is recorded (`ps -a`, `start`, `rm` know it); `run --rm`
            // leaves nothing to know, and skips the three state writes (~0.5 ms).
            if kept {
                let recorder = lifecycle::Recorder::foreground_logged(&steps, log_options);
                opts.keeper = Some(Box::new(recorder));
            }
            let last = workshop::last_chapter();
            launch(last, opts, target, &state_dir, &steps)
        }
        Command::Exec {
            interactive,
            tty,
            detach,
            env,
            workdir,
            user,
            container,
            command,
        } => {
            let opts = lifecycle::exec::ExecOptions {
                interactive,
                tty,
                detach,
                env,
                workdir,
                user,
            };
            lifecycle::exec::exec(&state_dir, &container, &command, &opts, &steps)
        }
        command @ (Command::Ps { .. }
        | Command::Logs { .. }
        | Command::Stop { .. }
        | Command::Kill { .. }
        | Command::Start { .. }
        | Command::Restart { .. }
        | Command::Rm { .. }
        | Command::Wait { .. }
        | Command::Inspect { .. }
        | Command::Container { .. }) => containers::run(command, &state_dir),
        Command::Pull(args) => images::pull(&state_dir, args, &steps),
        Command::Images => images::list(&state_dir),
        Command::Rmi { images: names } => images::remove(&state_dir, &names, &steps),
        Command::Check {
            chapters,
            format,
            with,
        } => {
            let numbers = parse_chapters(&chapters)?;
            chapter::warn_if_stale();
            checks::check_command(&numbers, &state_dir, selection, format, &with)
        }
        Command::Grade { format } => {
            chapter::warn_if_stale();
            checks::grade_command(&state_dir, selection, format)
        }
        Command::Watch { chapter } => {
            let chapter = chapter.as_deref().map(parse_chapter).transpose()?;
            watch::run(chapter, &state_dir, selection)
        }
        Command::Doctor => doctor::run(&state_dir),
        Command::Daemon { socket } => {
            crate::daemon::run(&socket, &state_dir, steps, cli.reference.clone())
        }
        Command::Cleanup { bridge } => cleanup(&state_dir, &bridge),
        Command::Rootfs => {
            println!("{}", rootfs::starter(&state_dir)?.display());
            Ok(0)
        }
        Command::Progress => progress::show(&state_dir),
        Command::Hint {
            chapter,
            check,
            all,
            reset,
        } => {
            let ask = hint::Ask {
                chapter: parse_chapter(&chapter)?,
                check: check.as_deref(),
                all,
                reset,
            };
            hint::run(&state_dir, ask)
        }
        Command::RecordExit {
            dir,
            code,
            oom_killed,
        } => checks::ch12::record_exit_command(&steps, &dir, code, oom_killed),
        Command::CgroupStep {
            step,
            driver,
            dirs,
            id,
            pid,
            memory,
            pids,
            cpus,
        } => {
            let options = checks::ch08::StepOptions {
                id,
                pid,
                limits: cgroups::Limits {
                    memory_bytes: memory,
                    pids,
                    cpus,
                },
            };
            checks::ch08::cgroup_step_command(&steps, &step, &driver, &dirs, &options)
        }
        Command::Inside { .. }
        | Command::Sandbox { .. }
        | Command::Shim { .. }
        | Command::Runc { .. } => {
            unreachable!("handled above")
        }
    }
}

/// `run -d`: pull here (the progress is the caller's to see), then hand the
/// container to a shim of its own; print its id once it runs.
fn run_detached(
    args: args::RunImageArgs,
    state_dir: &Path,
    steps: &workshop::Steps,
) -> Result<i32> {
    lifecycle::logs::LogOptions::parse(&args.image_opts.log_opt)?;
    // Before the pull: a rootless client would pull, then be refused by launch.
    if !nix::unistd::geteuid().is_root() {
        bail!("run -d needs root here (images are overlay layers owned by root); rootless, `chapter 12 run` records a container that exec can enter");
    }
    let platform = args.image_opts.platform.clone();
    runtime::root::find_or_pull(state_dir, &args.image, platform, steps)?;
    let id = crate::sys::new_id()?;
    let argv: Vec<String> = std::env::args().skip(1).collect();
    lifecycle::shim::spawn(state_dir, &id, &argv, &std::env::current_dir()?)?;
    println!("{id}");
    Ok(0)
}

/// `chapter N run [--rootfs DIR | IMAGE] -- CMD`
fn run_chapter(
    chapter: u8,
    args: RunArgs,
    state_dir: &Path,
    steps: &workshop::Steps,
) -> Result<i32> {
    let target = match (args.image, chapter) {
        (Some(image), 10..) => {
            // The stepwise run is for looking, not keeping: like `run --rm`.
            let options = runtime::root::ImageRunOptions {
                rm: true,
                interactive: true,
                ..Default::default()
            };
            Target::Image {
                image,
                command: args.command,
                options,
            }
        }
        (Some(_), _) => {
            bail!("running an image needs chapter 10 or later (this is chapter {chapter})")
        }
        (None, _) if args.command.is_empty() => {
            bail!("no command: put it after --, e.g. `chapter {chapter} run -- sh`")
        }
        (None, _) => Target::Rootfs {
            rootfs: args.rootfs,
            command: args.command,
        },
    };
    let mut opts: RunOptions = args.opts.into();
    // Chapter 12 on: recorded while it runs (`ps`, `exec` find it), removed at exit.
    if chapter >= 12 {
        opts.keeper = Some(Box::new(lifecycle::Recorder::foreground(steps)));
    }
    launch(chapter, opts, target, state_dir, steps)
}

/// `cleanup`: what containers share, once none runs.
fn cleanup(state_dir: &Path, bridge: &str) -> Result<i32> {
    if !nix::unistd::geteuid().is_root() {
        bail!("cleanup removes a host bridge and nftables rules: run it with sudo");
    }
    for line in net::cleanup(state_dir, bridge)? {
        println!("{line}");
    }
    for line in cgroups::remove_parents() {
        println!("{line}");
    }
    runtime::container_dir::prune_container_dirs(state_dir);
    Ok(0)
}

/// Root keeps state in /var/lib; anyone else in their home, like rootless
/// docker, or else in their XDG_RUNTIME_DIR. Never in a shared place like
/// /tmp: whoever made /tmp/mini-docker first would own everyone's rootfs.
fn default_state_dir() -> Result<PathBuf> {
    if nix::unistd::geteuid().is_root() {
        return Ok(PathBuf::from("/var/lib/mini-docker"));
    }
    let set = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let data = set("XDG_DATA_HOME").or_else(|| set("HOME").map(|h| h.join(".local/share")));
    if let Some(data) = data {
        return Ok(data.join("mini-docker"));
    }
    match set("XDG_RUNTIME_DIR") {
        Some(runtime) if is_owned_by_me(&runtime) => Ok(runtime.join("mini-docker")),
        _ => bail!(
            "no state dir: HOME is not set (nor XDG_DATA_HOME, nor an XDG_RUNTIME_DIR of yours): \
             set HOME or give --state-dir DIR"
        ),
    }
}

fn is_owned_by_me(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .is_ok_and(|m| m.is_dir() && m.uid() == nix::unistd::geteuid().as_raw())
}

/// A state dir another unprivileged user owns is theirs to plant a rootfs
/// or an image in, which our container would then run: refused. (Root's
/// dirs are fine: root can do anything to us anyway.)
fn refuse_foreign_state_dir(state_dir: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let me = nix::unistd::geteuid();
    let Ok(meta) = std::fs::metadata(state_dir) else {
        return Ok(()); // made by us on first use
    };
    if !me.is_root() && meta.uid() != me.as_raw() && meta.uid() != 0 {
        bail!(
            "state dir {} belongs to uid {}, not to you (uid {me}): give --state-dir a directory of yours",
            state_dir.display(),
            meta.uid()
        );
    }
    Ok(())
}

fn at_least_chapter(chapter: u8, from: u8) -> Result<()> {
    if chapter < from {
        bail!("this command belongs to chapter {from} (this is chapter {chapter})");
    }
    Ok(())
}

fn absolute(path: &Path) -> Result<PathBuf> {
    Ok(if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    })
}

/// A chapter number this build knows (from the chapter table).
pub fn parse_chapter(text: &str) -> Result<u8> {
    let last = workshop::last_chapter();
    match text.parse::<u8>().ok().and_then(workshop::chapter) {
        Some(chapter) => Ok(chapter.number),
        None => bail!("unknown chapter {text:?}: chapters are 1 to {last}"),
    }
}

fn parse_chapters(list: &[String]) -> Result<Vec<u8>> {
    if list.is_empty() {
        return Ok(workshop::CHAPTERS.iter().map(|c| c.number).collect());
    }
    list.iter().map(|t| parse_chapter(t)).collect()
}

/// A todo!() in an exercise prints one friendly line naming the file; any other
/// panic one line too. Never a backtrace, never a running container left behind
/// (the panic then unwinds to main, which exits 125).
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("panic");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            // `mini-docker chapter 5 | head`: the reader left; stop quietly,
            // with the status a process killed by SIGPIPE has.
            std::process::exit(128 + libc::SIGPIPE);
        }
        let location = info.location().map(|l| (l.file().to_string(), l.line()));
        let line = describe_panic(message, location);
        let pid = runtime::supervisor::CONTAINER_PID.load(std::sync::atomic::Ordering::SeqCst);
        if pid > 0 {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        if runtime::inside::is_inside() {
            runtime::inside::report_failure(125, &line);
        } else {
            eprintln!("mini-docker: {line}");
        }
    }));
}

/// The smallest `--reference` that gets a learner past chapter `k` and keeps
/// the chapters they wrote: `k` and the earlier chapters whose exercise still
/// has a `todo!()` (read from the sources when they are at hand).
fn catch_up(k: u8) -> String {
    let exercises = watch::project_dir().join("exercises");
    let unfinished: Vec<u8> = workshop::CHAPTERS
        .iter()
        .filter(|c| c.number < k)
        .filter(|c| {
            std::fs::read_to_string(exercises.join(format!("{}.rs", c.module())))
                .map(|source| source.contains("todo!("))
                .unwrap_or(true) // no sources: assume nothing is done
        })
        .map(|c| c.number)
        .chain([k])
        .collect();
    Selection::of(&unfinished)
        .to_arg()
        .unwrap_or_else(|| format!("--reference={k}"))
}

fn describe_panic(message: &str, location: Option<(String, u32)>) -> String {
    let (file, line) = location.unwrap_or_default();
    match file.find("exercises/") {
        Some(at) if message.starts_with("not yet implemented") => {
            let file = &file[at..];
            let chapter = file
                .get(12..14)
                .and_then(|n| n.parse::<u8>().ok())
                .unwrap_or(0);
            let what = message
                .trim_start_matches("not yet implemented")
                .trim_start_matches(": ");
            format!(
                "{file}:{line}: TODO(ch{chapter:02}) not done yet: {what}. Edit it and rebuild, \
                 or catch up with {}",
                catch_up(chapter)
            )
        }
        _ => format!("internal error: {message} ({file}:{line})"),
    }
}
