//! runc's command line, as podman and conmon call it:
//! `RUNTIME [--root DIR] [--log FILE --log-format json] [--systemd-cgroup] COMMAND ...`.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand};

use crate::workshop::Steps;

/// The OCI spec version this runtime implements (as runc 1.1 reports it).
pub const SPEC_VERSION: &str = "1.0.2-dev";

#[derive(Parser)]
#[command(
    name = "mini-docker-runc",
    disable_version_flag = true,
    about = "mini-docker as an OCI runtime (runc's command line)"
)]
pub struct RuncCli {
    #[command(flatten)]
    pub global: Global,
    /// Print the version and the OCI spec version
    #[arg(short = 'v', long)]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<RuncCommand>,
}

#[derive(Args, Clone, Default)]
pub struct Global {
    /// Where containers' state lives
    #[arg(long, global = true, default_value = "/run/mini-docker-runc")]
    pub root: PathBuf,
    /// Where errors go (conmon reads it)
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// text or json
    #[arg(long = "log-format", global = true)]
    pub log_format: Option<String>,
    /// Manage cgroups through systemd (not supported: refused clearly)
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Debug lines in the log
    #[arg(long, global = true)]
    pub debug: bool,
    /// runc's --rootless (only false/auto are accepted)
    #[arg(long, global = true)]
    pub rootless: Option<String>,
    /// runc's --criu (checkpoints are not supported)
    #[arg(long, global = true, hide = true)]
    pub criu: Option<String>,
}

#[derive(Subcommand)]
pub enum RuncCommand {
    /// Create a container; its process waits for `start`
    Create(CreateArgs),
    /// Run the created container's process
    Start { id: String },
    /// The OCI state of a container (JSON)
    State { id: String },
    /// Send a signal to the container's process (default SIGTERM)
    Kill {
        /// Every process of the container's cgroup
        #[arg(short, long)]
        all: bool,
        id: String,
        signal: Option<String>,
    },
    /// Remove a container (--force: kill it first)
    Delete {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// Run a process in a running container
    Exec(ExecArgs),
    /// What this runtime supports (JSON)
    Features,
    /// Container ids (runc list)
    List {
        #[arg(short, long, default_value = "table")]
        format: String,
        #[arg(short, long)]
        quiet: bool,
    },
}

#[derive(Args)]
pub struct CreateArgs {
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    pub id: String,
}

#[derive(Args)]
pub struct ExecArgs {
    /// The process as an OCI process JSON (config.json's "process")
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    #[arg(short, long)]
    pub detach: bool,
    #[arg(short, long)]
    pub tty: bool,
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    #[arg(long)]
    pub cwd: Option<String>,
    #[arg(short, long)]
    pub env: Vec<String>,
    #[arg(short, long)]
    pub user: Option<String>,
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    #[arg(long)]
    pub apparmor: Option<String>,
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    #[arg(short, long)]
    pub cap: Vec<String>,
    pub id: String,
    /// The command, without --process
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub struct Parsed {
    pub global: Global,
    pub version: bool,
    pub command: Option<RuncCommand>,
}

/// Parse runc's arguments; Err(exit status) after printing usage or an error.
pub fn parse(args: Vec<OsString>) -> std::result::Result<Parsed, i32> {
    let mut argv = vec![OsString::from(super::RUNC_NAME)];
    argv.extend(args.into_iter().map(go_style_flag));
    match RuncCli::try_parse_from(argv) {
        Ok(cli) => Ok(Parsed {
            global: cli.global,
            version: cli.version,
            command: cli.command,
        }),
        Err(err) => {
            let code = if err.use_stderr() { 1 } else { 0 };
            let _ = err.print();
            Err(code)
        }
    }
}

/// runc is a Go program: `-bundle X` means `--bundle X` there.
fn go_style_flag(arg: OsString) -> OsString {
    match arg.to_str() {
        Some(s)
            if s.len() > 2
                && s.starts_with('-')
                && !s.starts_with("--")
                && s.as_bytes()[1].is_ascii_alphabetic()
                && s[1..].split('=').next().is_some_and(|name| {
                    name.len() > 1
                        && name.contains(|c: char| c == '-' || c.is_ascii_lowercase())
                        && KNOWN_LONG.contains(&name)
                }) =>
        {
            OsString::from(format!("-{s}"))
        }
        _ => arg,
    }
}

const KNOWN_LONG: &[&str] = &[
    "root",
    "log",
    "log-format",
    "systemd-cgroup",
    "debug",
    "bundle",
    "pid-file",
    "console-socket",
    "no-pivot",
    "no-new-keyring",
    "process",
    "detach",
    "tty",
    "cwd",
    "env",
    "user",
    "force",
    "all",
    "rootless",
    "preserve-fds",
];

pub fn run(parsed: Parsed, steps: &Steps) -> Result<i32> {
    let global = parsed.global;
    if parsed.version {
        println!(
            "{} version {}\nspec: {SPEC_VERSION}",
            super::RUNC_NAME,
            env!("CARGO_PKG_VERSION")
        );
        return Ok(0);
    }
    if global.systemd_cgroup {
        bail!("--systemd-cgroup is not supported: mini-docker-runc manages cgroups through the cgroup filesystem (run podman with --cgroup-manager cgroupfs)");
    }
    if let Some(mode) = &global.rootless {
        if mode != "false" && mode != "auto" {
            bail!("--rootless {mode}: not supported (run as root)");
        }
    }
    let Some(command) = parsed.command else {
        bail!("no command: expected create, start, state, kill, delete, exec, features or list");
    };
    let root = &global.root;
    match command {
        RuncCommand::Create(args) => super::create::create(root, &args, steps).map(|_| 0),
        RuncCommand::Start { id } => super::state::start(root, &id).map(|_| 0),
        RuncCommand::State { id } => super::state::print_state(root, &id).map(|_| 0),
        RuncCommand::Kill { all, id, signal } => {
            super::state::kill(root, &id, signal.as_deref(), all).map(|_| 0)
        }
        RuncCommand::Delete { force, id } => super::state::delete(root, &id, force).map(|_| 0),
        RuncCommand::Exec(args) => super::exec::exec(root, &args, steps),
        RuncCommand::Features => {
            println!("{}", serde_json::to_string_pretty(&features())?);
            Ok(0)
        }
        RuncCommand::List { format, quiet } => super::state::list(root, &format, quiet).map(|_| 0),
    }
}

/// `runc features`: what config.json may ask of us.
fn features() -> serde_json::Value {
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": SPEC_VERSION,
        "hooks": [],
        "mountOptions": ["bind", "rbind", "ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec",
            "exec", "relatime", "norelatime", "strictatime", "noatime", "nodiratime", "sync", "dirsync",
            "mand", "private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable",
            "runbindable", "defaults"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": crate::security::caps::Capabilities::from_iter(caps::all()).iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
            "seccomp": {"enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD",
                    "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP", "SCMP_ACT_LOG"],
                "operators": ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
                    "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"],
                "archs": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false}
        }
    })
}
