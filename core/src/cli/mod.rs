//! The command line: `args.rs` is the schema (clap); this file parses,
//! dispatches, and turns every failure into one line and docker's exit
//! status. What each command does lives beside it: `chapter.rs`
//! (`chapter N`, `watch`), `images.rs` (`pull`, `images`, `rmi`), and the
//! runtime's `launch` for `run`.

pub mod args;
pub mod chapter;
pub mod images;
pub mod watch;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Parser;

use crate::runtime::launch::launch;
use crate::runtime::root::Target;
use crate::runtime::supervisor::ExitError;
use crate::selection::Selection;
use crate::workshop::{self, StepsFor};
use crate::{cgroups, checks, doctor, net, rootfs, runtime};
use args::{ChapterAction, Cli, Command, RunArgs};

/// The binary's entry point: `steps_for` makes the chapter steps for a selection.
pub fn main(steps_for: StepsFor) -> ExitCode {
    install_panic_hook();
    let cli = Cli::parse();
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
            let code = err.downcast_ref::<ExitError>().map(|e| e.code).unwrap_or(1);
            eprintln!("mini-docker: {err:#}");
            ExitCode::from(code as u8)
        }
    }
}

fn dispatch(cli: Cli, steps_for: StepsFor) -> Result<i32> {
    if let Command::Inside { channel_fd } = cli.command {
        runtime::inside::main(channel_fd, &steps_for);
    }
    let selection = match cli.reference.as_deref() {
        Some(spec) => Selection::parse(spec)?,
        None => Selection::exercises_only(),
    };
    let steps = steps_for(selection);
    let state_dir = absolute(&cli.state_dir.unwrap_or_else(default_state_dir))?;
    runtime::container_dir::make_state_dir_private(&state_dir);
    match cli.command {
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
        Command::Run(args) => {
            let args = *args;
            let target = Target::Image {
                image: args.image,
                command: args.command,
                options: args.image_opts.into(),
            };
            let last = workshop::last_chapter();
            launch(last, args.opts.into(), target, &state_dir, &steps)
        }
        Command::Pull(args) => images::pull(&state_dir, args, &steps),
        Command::Images => images::list(&state_dir),
        Command::Rmi { images: names } => images::remove(&state_dir, &names, &steps),
        Command::Check { chapters, format } => {
            let numbers = parse_chapters(&chapters)?;
            chapter::warn_if_stale();
            checks::check_command(&numbers, &state_dir, selection, format)
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
        Command::Cleanup { bridge } => cleanup(&state_dir, &bridge),
        Command::Rootfs => {
            println!("{}", rootfs::starter(&state_dir)?.display());
            Ok(0)
        }
        Command::Inside { .. } => unreachable!("handled above"),
    }
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
    launch(chapter, args.opts.into(), target, state_dir, steps)
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

/// Root keeps state in /var/lib; anyone else in their home, like rootless docker.
fn default_state_dir() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/lib/mini-docker");
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
    data.unwrap_or_else(|| PathBuf::from("/tmp"))
        .join("mini-docker")
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
