//! `ps`, `logs`, `stop`, `kill`, `start`, `restart`, `rm`, `wait`,
//! `inspect`, `container prune`: the CLI's flags onto the lifecycle library
//! (`crate::lifecycle`), which any other front-end would call the same way.

use std::path::Path;

use anyhow::{bail, Context, Result};

use super::args::{Command, ContainerAction};
use crate::lifecycle::{commands, logs};

/// One of the container commands (the others never reach here).
pub fn run(command: Command, state_dir: &Path) -> Result<i32> {
    match command {
        Command::Ps {
            all,
            quiet,
            no_trunc,
            format,
        } => {
            let json = match format.as_deref() {
                None | Some("table") => false,
                Some("json") => true,
                Some(other) => bail!("--format {other:?}: table or json"),
            };
            let how = commands::PsOptions {
                all,
                quiet,
                no_trunc,
                json,
            };
            commands::ps(state_dir, &how)
        }
        Command::Logs {
            follow,
            tail,
            timestamps,
            container,
        } => {
            let tail = match tail.as_deref() {
                None | Some("all") => None,
                Some(n) => Some(
                    n.parse()
                        .ok()
                        .with_context(|| format!("--tail {n:?}: a number of lines, or all"))?,
                ),
            };
            let how = logs::Show {
                follow,
                tail,
                timestamps,
            };
            commands::logs(state_dir, &container, &how)
        }
        Command::Stop { time, containers } => commands::stop(state_dir, &containers, time),
        Command::Kill { signal, containers } => commands::kill(state_dir, &containers, &signal),
        Command::Start { attach, containers } => commands::start(state_dir, &containers, attach),
        Command::Restart { time, containers } => commands::restart(state_dir, &containers, time),
        Command::Rm {
            force, containers, ..
        } => commands::rm(state_dir, &containers, force),
        Command::Wait { containers } => commands::wait(state_dir, &containers),
        Command::Inspect { names } => commands::inspect(state_dir, &names),
        Command::Container {
            action: ContainerAction::Prune { .. },
        } => commands::prune(state_dir),
        _ => unreachable!("not a container command"),
    }
}
