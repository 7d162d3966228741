//! Chapter 13: mini-docker as an OCI runtime — runc's command line, so that
//! a real engine (podman, through its shim conmon) runs containers with it.
//!
//! ```text
//! podman ──> conmon ──> mini-docker-runc create --bundle B --pid-file P ID
//!                          │  parses B/config.json (oci-spec), makes the cgroup,
//!                          │  clones the init into new namespaces, then exits:
//!                          ▼  the init is reparented to conmon (a subreaper)
//!                        init: mounts, pivot_root, hostname, rlimits ...
//!                          │  blocks opening <root>/ID/exec.fifo for writing
//! podman ──> mini-docker-runc start ID  ── opens the fifo, reads one byte
//!                          ▼
//!                        init: seccomp, capabilities, user, execve(process.args)
//! ```
//!
//! One core, many front-ends: this module only translates. It uses the same
//! libraries as `mini-docker run` (cgroups/, security/, sys::at) and the same
//! chapter steps (pivot_into, set_hostname, mask_paths, seccomp_filter...),
//! plus chapter 13's own: `namespace_plan`, `mount_plan`, `capability_sets`.
//!
//! - `cli.rs`: runc's flags; `log.rs`: errors as runc writes them (conmon reads them);
//! - `spec.rs`: config.json, checked for what we cannot honour;
//! - `state.rs`: `<root>/<id>/state.json`, the OCI state;
//! - `create.rs` (host side) and `init.rs` (the container's first process),
//!   `mounts.rs`, `process.rs` (what any container process gets: user,
//!   capabilities, rlimits, seccomp), `exec.rs`; the console socket reuses `runtime::tty`.

pub mod cli;
pub mod create;
pub mod exec;
pub mod init;
pub mod log;
pub mod mounts;
pub mod plan;
pub mod process;
pub mod spec;
pub mod state;

use std::ffi::OsString;
use std::process::ExitCode;

use crate::selection::Selection;
use crate::workshop::{Steps, StepsFor};

/// The name `setup.sh` gives the link next to `mini-docker`.
pub const RUNC_NAME: &str = "mini-docker-runc";

/// Was this binary started as `mini-docker-runc`?
pub fn called_as_runc() -> bool {
    std::env::args_os()
        .next()
        .map(std::path::PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n == RUNC_NAME))
        .unwrap_or(false)
}

/// `mini-docker-runc ARGS`: podman cannot pass `--reference`, so the steps
/// are the reference solutions unless MINI_DOCKER_REFERENCE says otherwise
/// (`mini-docker [--reference=..] runc ARGS` runs the learner's code).
pub fn main_as_runc(steps_for: StepsFor) -> ExitCode {
    let selection = match std::env::var("MINI_DOCKER_REFERENCE") {
        Ok(spec) => Selection::parse(&spec).unwrap_or_else(|_| Selection::all_reference()),
        Err(_) => Selection::all_reference(),
    };
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    ExitCode::from(main(args, &steps_for(selection)).clamp(0, 255) as u8)
}

/// runc's command line; returns the exit status (1 on failure, like runc).
pub fn main(args: Vec<OsString>, steps: &Steps) -> i32 {
    let parsed = match cli::parse(args) {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    log::init(&parsed.global);
    match cli::run(parsed, steps) {
        Ok(code) => code,
        Err(err) => {
            log::error(&format!("{err:#}"));
            1
        }
    }
}
