//! The command line's schema (clap). What each command does is in the
//! sibling modules; `mod.rs` dispatches.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::checks::report::Format;
use crate::runtime::launch::RunOptions;
use crate::runtime::root::ImageRunOptions;
use crate::runtime::volumes::Volume;
use crate::{cgroups, image, net};

#[derive(Parser)]
#[command(
    name = "mini-docker",
    version,
    about = "Containers from scratch: a real container runtime, one chapter at a time"
)]
pub struct Cli {
    /// Run the reference solutions: all chapters, a range (--reference=1-4) or a list (--reference=1-2,6-7); the rest come from exercises/
    #[arg(long, global = true, num_args = 0..=1, require_equals = true, default_missing_value = "all",
          env = "MINI_DOCKER_REFERENCE", value_name = "CHAPTERS")]
    pub reference: Option<String>,
    /// Where mini-docker keeps everything it writes [default: /var/lib/mini-docker; ~/.local/share/mini-docker when not root]
    #[arg(long, global = true, env = "MINI_DOCKER_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Without a command: your progress, chapter by chapter
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Show a chapter: goal, exercise file, commands to try, status of its checks
    Chapter {
        /// Chapter number
        number: String,
        #[command(subcommand)]
        action: Option<ChapterAction>,
    },
    /// Run chapters' checks against the selected implementation (exit 0 iff all pass)
    Check {
        /// Chapters to check (default: all)
        chapters: Vec<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// A flag for every container the checks start, e.g. --with=--userns (the escape room under a user namespace)
        #[arg(long = "with", value_name = "FLAG", allow_hyphen_values = true)]
        with: Vec<String>,
    },
    /// Every chapter's checks with points: text, JSON or JUnit XML (exit 0; the report carries the verdict)
    Grade {
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// What this host supports, with a fix for what is missing
    Doctor,
    /// Run a command in a new container from an image: all chapters (1-10), like docker run
    Run(Box<RunImageArgs>),
    /// Pull an image from a registry (chapter 9)
    Pull(PullArgs),
    /// List pulled images
    Images,
    /// Remove images, and the blobs no other image uses
    Rmi {
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<String>,
    },
    /// Make (if missing) and print the starter rootfs
    Rootfs,
    /// Remove what containers share: the bridge, its NAT table, stale leases (none may be running)
    Cleanup {
        #[arg(long, default_value = "mdk0")]
        bridge: String,
    },
    /// Every chapter with its status: todo!()s left, how its checks last went
    Progress,
    /// A hint for a check, one level per ask: the concept, where to look, the exact call
    Hint {
        /// Chapter number
        chapter: String,
        /// The check, e.g. 4.3 (default: the first that failed in your last `check N`)
        check: Option<String>,
        /// Every level at once, without advancing (also env MINI_DOCKER_INSTRUCTOR=1)
        #[arg(long, conflicts_with = "reset")]
        all: bool,
        /// Forget the levels shown (of this check, or of the whole chapter)
        #[arg(long)]
        reset: bool,
    },
    /// Rebuild and re-check whenever an exercise file is saved
    Watch {
        /// The chapter to check (default: the first one that does not pass)
        chapter: Option<String>,
    },
    /// List containers
    Ps {
        /// Show all containers (default: running only)
        #[arg(short, long)]
        all: bool,
        /// Only the ids
        #[arg(short, long)]
        quiet: bool,
        /// Do not truncate the output
        #[arg(long)]
        no_trunc: bool,
        /// table (default) or json (one object per line)
        #[arg(long, value_name = "FORMAT")]
        format: Option<String>,
    },
    /// The output a container's shim kept
    Logs {
        /// Follow the output until the container stops
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines
        #[arg(short = 'n', long, value_name = "N")]
        tail: Option<String>,
        /// Prefix each line with its time
        #[arg(short, long)]
        timestamps: bool,
        #[arg(value_name = "CONTAINER")]
        container: String,
    },
    /// Stop running containers: SIGTERM, then SIGKILL after the timeout
    Stop {
        /// Seconds to wait before SIGKILL
        #[arg(short = 't', long = "time", default_value_t = 10, value_name = "SECS")]
        time: u64,
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Send a signal to running containers (default SIGKILL)
    Kill {
        #[arg(
            short = 's',
            long = "signal",
            default_value = "KILL",
            value_name = "SIGNAL"
        )]
        signal: String,
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Start stopped containers (their writable layer kept)
    Start {
        /// Attach: print its output until it ends, and exit with its status
        #[arg(short, long)]
        attach: bool,
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Stop, then start containers
    Restart {
        #[arg(short = 't', long = "time", default_value_t = 10, value_name = "SECS")]
        time: u64,
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Remove containers (a running one only with -f)
    Rm {
        /// Kill a running container first
        #[arg(short, long)]
        force: bool,
        /// Remove anonymous volumes too (containers have none here)
        #[arg(short, long)]
        volumes: bool,
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Run a command in a running container
    Exec {
        /// Keep stdin open
        #[arg(short, long)]
        interactive: bool,
        /// A terminal (a pty of the container's)
        #[arg(short, long)]
        tty: bool,
        /// Run in the background; output goes nowhere
        #[arg(short, long)]
        detach: bool,
        /// Set an environment variable (K=V, or K for the caller's value)
        #[arg(short, long = "env", value_name = "K=V")]
        env: Vec<String>,
        /// Working directory inside the container
        #[arg(short, long, value_name = "DIR")]
        workdir: Option<String>,
        /// Username or UID, [:group]
        #[arg(short, long, value_name = "USER")]
        user: Option<String>,
        #[arg(value_name = "CONTAINER")]
        container: String,
        #[arg(
            value_name = "COMMAND",
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true
        )]
        command: Vec<String>,
    },
    /// Wait for containers to stop; print their exit status
    Wait {
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Details of containers or images, as JSON
    Inspect {
        #[arg(required = true, value_name = "CONTAINER|IMAGE")]
        names: Vec<String>,
    },
    /// Manage containers
    Container {
        #[command(subcommand)]
        action: ContainerAction,
    },
    /// A detached container's keeper (internal)
    /// Serve the Docker Engine API on a unix socket (chapter 14): the docker
    /// CLI drives mini-docker with DOCKER_HOST=unix://SOCKET. Whoever can
    /// write to the socket is root: it is 0660, root and group mini-docker.
    Daemon {
        #[arg(long, default_value = crate::daemon::DEFAULT_SOCKET, value_name = "PATH")]
        socket: PathBuf,
    },
    #[command(name = "__shim", hide = true)]
    Shim {
        #[arg(long)]
        id: String,
        #[arg(last = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// The container's first process, re-executed (internal)
    #[command(name = "__inside", hide = true)]
    Inside { channel_fd: i32 },
    /// Chapter 12's record_exit over a scratch container directory, for check 12 (internal)
    #[command(name = "__record-exit", hide = true)]
    RecordExit {
        dir: PathBuf,
        code: i32,
        #[arg(long)]
        oom_killed: bool,
    },
    /// One of chapter 8's steps over scratch (or given real) cgroup directories, for check 8 (internal)
    #[command(name = "__cgroup", hide = true)]
    CgroupStep {
        /// create, limits, join, oom or remove
        step: String,
        /// v1 or v2
        driver: String,
        /// v2: the root (create) or the cgroup; v1: CONTROLLER=PATH, repeated
        #[arg(long = "dir")]
        dirs: Vec<String>,
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        pid: Option<i32>,
        #[arg(long)]
        memory: Option<u64>,
        #[arg(long)]
        pids: Option<u64>,
        #[arg(long)]
        cpus: Option<f64>,
    },
    /// Chapter 13: the OCI runtime (runc's command line: create, start, state, kill, delete, exec); podman runs it as `mini-docker-runc`
    Runc {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Run `mini-docker ARGS` in namespaces of its own, for a check (internal)
    #[command(name = "__sandbox", hide = true)]
    Sandbox {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

#[derive(Subcommand)]
pub enum ContainerAction {
    /// Remove every container that is not running
    Prune {
        /// Do not ask (there is no prompt here; accepted for docker's scripts)
        #[arg(short, long)]
        force: bool,
    },
}

#[derive(Subcommand)]
pub enum ChapterAction {
    /// Run a command with chapters 1..N only
    Run(Box<RunArgs>),
    /// Chapter 9: pull an image (same as `mini-docker pull`)
    Pull(PullArgs),
    /// Chapter 9: show how a reference resolves (registry, repository, tag, endpoint)
    Resolve {
        // Not `reference`: that id is the global --reference flag's.
        #[arg(value_name = "IMAGE")]
        image: String,
    },
}

#[derive(clap::Args)]
pub struct PullArgs {
    /// e.g. busybox, alpine:3.20, ghcr.io/owner/repo:tag, 127.0.0.1:5000/busybox, name@sha256:...
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// os/arch[/variant] to pick from a multi-platform image [default: this host]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<image::platform::Platform>,
    /// Also unpack the layers now (what `run` does on first use)
    #[arg(long)]
    pub unpack: bool,
}

#[derive(clap::Args)]
pub struct RunFlags {
    /// Hostname inside the container (chapter 3+; default: the container id)
    #[arg(long, value_name = "NAME", value_parser = hostname)]
    pub hostname: Option<String>,
    /// Run mini-docker's init as PID 1: reaps zombies, forwards signals (chapter 4+)
    #[arg(long)]
    pub init: bool,
    /// Narrate each kernel step on stderr, with why (demo mode)
    #[arg(long)]
    pub explain: bool,
    /// Bind mount HOST into the container at CTR, read-only with :ro (chapter 5+)
    #[arg(short = 'v', long = "volume", value_name = "HOST:CTR[:ro]")]
    pub volumes: Vec<Volume>,
    /// Network (chapter 6+) [default: bridge as root, none rootless]
    #[arg(long, value_enum)]
    pub network: Option<net::NetworkMode>,
    /// Publish a container port on the host: [IP:]HOSTPORT:CONTAINERPORT (chapter 6+, bridge)
    #[arg(short = 'p', long = "publish", value_name = "[IP:]HOST:CTR")]
    pub publish: Vec<net::proxy::PortMap>,
    /// The host bridge (chapter 6+)
    #[arg(long, default_value = "mdk0", value_name = "NAME")]
    pub bridge: String,
    /// The bridge's subnet (chapter 6+)
    #[arg(long, default_value = "10.88.0.0/16", value_name = "CIDR")]
    pub subnet: net::ipam::Subnet,
    /// New user namespace: container root is an unprivileged host uid (chapter 7+; automatic when not root)
    #[arg(long)]
    pub userns: bool,
    /// Memory limit, e.g. 32m or 1g (chapter 8+)
    #[arg(short = 'm', long, value_name = "SIZE")]
    pub memory: Option<cgroups::Size>,
    /// Most processes the container may have at once (chapter 8+)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub pids_limit: Option<u64>,
    /// CPU time, in CPUs: 0.5 = half of one CPU (chapter 8+)
    #[arg(long, value_name = "CPUS")]
    pub cpus: Option<f64>,
    /// Seconds to wait after forwarding SIGTERM/SIGINT before SIGKILL
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub stop_timeout: u64,
    #[command(flatten)]
    pub security: SecurityFlags,
}

/// Chapter 11: docker's hardening flags (the defaults are docker's).
#[derive(clap::Args, Default, Clone)]
pub struct SecurityFlags {
    /// Add a capability to docker's default 14 (ALL: every one) (chapter 11+)
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop a capability (ALL: every one) (chapter 11+)
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// DANGER: every capability, no seccomp, no masked paths, every device — as root on the host (chapter 11+)
    #[arg(long)]
    pub privileged: bool,
    /// Mount the container's root filesystem read-only (chapter 11+)
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Mount a tmpfs: PATH[:OPTIONS], e.g. /run:size=64m (chapter 11+)
    #[arg(long, value_name = "PATH[:OPTIONS]")]
    pub tmpfs: Vec<String>,
    /// no-new-privileges, seccomp=unconfined or seccomp=PROFILE.json (chapter 11+)
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<String>,
}

/// `chapter N run [--rootfs DIR] [IMAGE] -- CMD...`
#[derive(clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub opts: RunFlags,
    /// Root filesystem directory (default: the starter rootfs)
    #[arg(long, value_name = "DIR")]
    pub rootfs: Option<PathBuf>,
    /// Chapter 10+: run this image (pulled if missing) instead of a rootfs directory
    #[arg(value_name = "IMAGE")]
    pub image: Option<String>,
    /// The command and its arguments (with an image: default the image's own)
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// `run [OPTIONS] IMAGE [CMD...]`, like docker run.
#[derive(clap::Args)]
pub struct RunImageArgs {
    #[command(flatten)]
    pub opts: RunFlags,
    #[command(flatten)]
    pub image_opts: ImageFlags,
    /// The image (pulled if missing)
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// The command, instead of the image's Cmd
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<String>,
}

/// The `run` flags that only make sense with an image.
#[derive(clap::Args, Default, Clone)]
pub struct ImageFlags {
    /// Remove the container's writable layer when it exits
    #[arg(long)]
    pub rm: bool,
    /// A name for the container (unique)
    #[arg(long, value_name = "NAME", value_parser = container_name)]
    pub name: Option<String>,
    /// Set an environment variable (K=V, or K to copy it from here)
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "DIR", value_parser = absolute_dir)]
    pub workdir: Option<String>,
    /// User to run as: uid[:gid] or name[:group]
    #[arg(short = 'u', long = "user", value_name = "USER")]
    pub user: Option<String>,
    /// Keep stdin attached (otherwise it is /dev/null, like docker)
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// A terminal for the container (with -i: an interactive shell; Ctrl-C and job control work)
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Platform to pull if the image is missing
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<image::platform::Platform>,
    /// Run in the background: print the container id and return (its shim keeps it)
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Log file limits (json-file): max-size=10m, max-file=3 [default: max-size=20m, max-file=5]
    #[arg(long = "log-opt", value_name = "KEY=VALUE")]
    pub log_opt: Vec<String>,
    /// Replace the image's entrypoint (its Cmd too); --entrypoint= clears it
    #[arg(long, value_name = "CMD")]
    pub entrypoint: Option<String>,
}

impl From<ImageFlags> for ImageRunOptions {
    fn from(f: ImageFlags) -> ImageRunOptions {
        ImageRunOptions {
            rm: f.rm,
            name: f.name,
            env: f.env,
            workdir: f.workdir,
            user: f.user,
            interactive: f.interactive,
            tty: f.tty,
            platform: f.platform,
            entrypoint: f.entrypoint,
        }
    }
}

impl From<RunFlags> for RunOptions {
    fn from(f: RunFlags) -> RunOptions {
        RunOptions {
            hostname: f.hostname,
            init: f.init,
            explain: f.explain,
            volumes: f.volumes,
            network: f.network,
            publish: f.publish,
            bridge: f.bridge,
            subnet: f.subnet,
            userns: f.userns,
            memory: f.memory,
            pids_limit: f.pids_limit,
            cpus: f.cpus,
            stop_timeout: f.stop_timeout,
            security: crate::security::SecurityOptions {
                cap_add: f.security.cap_add,
                cap_drop: f.security.cap_drop,
                privileged: f.security.privileged,
                read_only: f.security.read_only,
                tmpfs: f.security.tmpfs,
                security_opt: f.security.security_opt,
            },
            keeper: None,
        }
    }
}

/// `--hostname`: RFC 1123 labels (letters, digits, inner hyphens, 1 to 63
/// each) joined by dots. It also goes into /etc/hosts, where a newline or a
/// tab would add an entry of its own. 64 bytes at most: the kernel's limit
/// (HOST_NAME_MAX), stricter than DNS's 253.
fn hostname(text: &str) -> Result<String, String> {
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if text.len() > 64 || !text.split('.').all(label_ok) {
        return Err(
            "a hostname is letters, digits and inner hyphens, in dot-separated labels \
                    of 1 to 63, at most 64 in all"
                .into(),
        );
    }
    Ok(text.to_string())
}

/// `-w`: made and entered inside the container, so it must say where from.
fn absolute_dir(text: &str) -> Result<String, String> {
    if !text.starts_with('/') {
        return Err("the working directory must be an absolute path".into());
    }
    Ok(text.to_string())
}

/// `--name`, checked before anything is made (docker's rule).
fn container_name(text: &str) -> Result<String, String> {
    crate::runtime::names::validate(text).map_err(|e| format!("{e:#}"))?;
    Ok(text.to_string())
}
