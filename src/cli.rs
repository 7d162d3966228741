//! The command line (clap) and what each command does.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand, ValueEnum};

use crate::runtime::supervisor::ExitError;
use crate::selection::{Selection, LAST_CHAPTER};
use crate::userns::IdMap;
use crate::{cgroups, chapters, checks, doctor, image, net, rootfs, runtime, steps};

#[derive(Parser)]
#[command(
    name = "mini-docker",
    version,
    about = "Containers from scratch: a real container runtime, one chapter at a time"
)]
struct Cli {
    /// Run the reference solutions: all chapters, or a range like --reference=1-4 (the rest come from exercises/)
    #[arg(long, global = true, num_args = 0..=1, require_equals = true, default_missing_value = "all",
          env = "MINI_DOCKER_REFERENCE", value_name = "CHAPTERS")]
    reference: Option<String>,
    /// Where mini-docker keeps everything it writes [default: /var/lib/mini-docker; ~/.local/share/mini-docker when not root]
    #[arg(long, global = true, env = "MINI_DOCKER_STATE_DIR", value_name = "DIR")]
    state_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
    #[command(name = "__init", hide = true)]
    Init { config_fd: i32, status_fd: i32 },
}

#[derive(Subcommand)]
enum ChapterAction {
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
struct PullArgs {
    /// e.g. busybox, alpine:3.20, ghcr.io/owner/repo:tag, 127.0.0.1:5000/busybox, name@sha256:...
    #[arg(value_name = "IMAGE")]
    image: String,
    /// os/arch[/variant] to pick from a multi-platform image [default: this host]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<image::platform::Platform>,
    /// Also unpack the layers now (what `run` does on first use)
    #[arg(long)]
    unpack: bool,
}

#[derive(clap::Args)]
struct RunOptions {
    /// Hostname inside the container (chapter 3+; default: the container id)
    #[arg(long, value_name = "NAME")]
    hostname: Option<String>,
    /// Run mini-docker's init as PID 1: reaps zombies, forwards signals (chapter 4+)
    #[arg(long)]
    init: bool,
    /// Narrate each kernel step on stderr, with why (demo mode)
    #[arg(long)]
    explain: bool,
    /// Bind mount HOST into the container at CTR, read-only with :ro (chapter 5+)
    #[arg(short = 'v', long = "volume", value_name = "HOST:CTR[:ro]")]
    volumes: Vec<runtime::Volume>,
    /// Network (chapter 6+) [default: bridge as root, none rootless]
    #[arg(long, value_enum)]
    network: Option<net::NetworkMode>,
    /// Publish a container port on the host: [IP:]HOSTPORT:CONTAINERPORT (chapter 6+, bridge)
    #[arg(short = 'p', long = "publish", value_name = "[IP:]HOST:CTR")]
    publish: Vec<net::proxy::PortMap>,
    /// The host bridge (chapter 6+)
    #[arg(long, default_value = "mdk0", value_name = "NAME")]
    bridge: String,
    /// The bridge's subnet (chapter 6+)
    #[arg(long, default_value = "10.88.0.0/16", value_name = "CIDR")]
    subnet: net::ipam::Subnet,
    /// New user namespace: container root is an unprivileged host uid (chapter 7+; automatic when not root)
    #[arg(long)]
    userns: bool,
    /// Memory limit, e.g. 32m or 1g (chapter 8+)
    #[arg(short = 'm', long, value_name = "SIZE")]
    memory: Option<cgroups::Size>,
    /// Most processes the container may have at once (chapter 8+)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pids_limit: Option<u64>,
    /// CPU time, in CPUs: 0.5 = half of one CPU (chapter 8+)
    #[arg(long, value_name = "CPUS")]
    cpus: Option<f64>,
    /// Seconds to wait after forwarding SIGTERM/SIGINT before SIGKILL
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    stop_timeout: u64,
}

/// `chapter N run [--rootfs DIR] [IMAGE] -- CMD...`
#[derive(clap::Args)]
struct RunArgs {
    #[command(flatten)]
    opts: RunOptions,
    /// Root filesystem directory (default: the starter rootfs)
    #[arg(long, value_name = "DIR")]
    rootfs: Option<PathBuf>,
    /// Chapter 10+: run this image (pulled if missing) instead of a rootfs directory
    #[arg(value_name = "IMAGE")]
    image: Option<String>,
    /// The command and its arguments (with an image: default the image's own)
    #[arg(last = true, value_name = "CMD")]
    command: Vec<String>,
}

/// `run [OPTIONS] IMAGE [CMD...]`, like docker run.
#[derive(clap::Args)]
struct RunImageArgs {
    #[command(flatten)]
    opts: RunOptions,
    #[command(flatten)]
    image_opts: runtime::ImageRunOptions,
    /// The image (pulled if missing)
    #[arg(value_name = "IMAGE")]
    image: String,
    /// The command, instead of the image's Cmd
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    command: Vec<String>,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Junit,
}

pub fn main() -> ExitCode {
    install_panic_hook();
    let cli = Cli::parse();
    // A panic (a todo!() in an exercise) unwinds to here, so every guard on the
    // way (veth, lease, container dir) is dropped and cleans up after itself.
    let Ok(result) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| dispatch(cli)))
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

fn dispatch(cli: Cli) -> Result<i32> {
    if let Command::Init {
        config_fd,
        status_fd,
    } = cli.command
    {
        runtime::init::main(config_fd, status_fd);
    }
    let selection = match cli.reference.as_deref() {
        Some(spec) => Selection::parse(spec)?,
        None => Selection::exercises_only(),
    };
    steps::select(selection);
    let state_dir = absolute(&cli.state_dir.unwrap_or_else(default_state_dir))?;
    match cli.command {
        Command::Chapter {
            number,
            action: None,
        } => chapters::show_intro(parse_chapter(&number)?, &state_dir, selection),
        Command::Chapter {
            number,
            action: Some(ChapterAction::Run(args)),
        } => run_chapter(parse_chapter(&number)?, *args, &state_dir, selection),
        Command::Chapter {
            number,
            action: Some(ChapterAction::Pull(args)),
        } => {
            at_least_chapter(&number, 9)?;
            pull_command(&state_dir, args)
        }
        Command::Chapter {
            number,
            action: Some(ChapterAction::Resolve { image }),
        } => {
            at_least_chapter(&number, 9)?;
            resolve_command(&image)
        }
        Command::Run(args) => {
            let args = *args;
            let target = runtime::Target::Image {
                image: args.image,
                command: args.command,
                options: args.image_opts,
            };
            launch(LAST_CHAPTER, args.opts, target, &state_dir, selection)
        }
        Command::Pull(args) => pull_command(&state_dir, args),
        Command::Images => images_command(&state_dir),
        Command::Rmi { images } => rmi_command(&state_dir, &images),
        Command::Check { chapters, format } => {
            let numbers = parse_chapters(&chapters)?;
            checks::check_command(&numbers, &state_dir, selection, format)
        }
        Command::Grade { format } => checks::grade_command(&state_dir, selection, format),
        Command::Doctor => doctor::run(&state_dir),
        Command::Cleanup { bridge } => {
            if !nix::unistd::geteuid().is_root() {
                bail!("cleanup removes a host bridge and nftables rules: run it with sudo");
            }
            for line in net::cleanup(&state_dir, &bridge)? {
                println!("{line}");
            }
            for line in cgroups::remove_parents() {
                println!("{line}");
            }
            runtime::prune_container_dirs(&state_dir);
            Ok(0)
        }
        Command::Rootfs => {
            println!("{}", rootfs::starter(&state_dir)?.display());
            Ok(0)
        }
        Command::Init { .. } => unreachable!("handled above"),
    }
}

fn run_chapter(chapter: u8, args: RunArgs, state_dir: &Path, selection: Selection) -> Result<i32> {
    let target = match (args.image, chapter) {
        (Some(image), 10..) => {
            // The stepwise run is for looking, not keeping: like `run --rm`.
            let options = runtime::ImageRunOptions {
                rm: true,
                interactive: true,
                ..Default::default()
            };
            runtime::Target::Image {
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
        (None, _) => runtime::Target::Rootfs {
            rootfs: args.rootfs,
            command: args.command,
        },
    };
    launch(chapter, args.opts, target, state_dir, selection)
}

/// Everything `chapter N run` and `run` share: from options to a running container.
fn launch(
    chapter: u8,
    opts: RunOptions,
    target: runtime::Target,
    state_dir: &Path,
    selection: Selection,
) -> Result<i32> {
    let root = nix::unistd::geteuid().is_root();
    if (2..7).contains(&chapter) && !root {
        bail!("chapter {chapter} needs root (chroot and namespaces need CAP_SYS_ADMIN): run it with sudo (rootless comes with chapter 7)");
    }
    if chapter >= 10 && !root {
        bail!("running images needs root here (overlay layers owned by root); chapter 7 shows rootless containers");
    }
    check_flags_fit_chapter(chapter, &opts)?;
    let limits = limits(&opts)?;
    let userns = (chapter >= 7 && (opts.userns || !root)).then(|| {
        if root {
            IdMap::remapped_root()
        } else {
            IdMap::rootless()
        }
    });
    let network_mode = network_mode(
        chapter,
        opts.network,
        root,
        userns.is_some(),
        !opts.publish.is_empty(),
    )?;
    let id = runtime::new_id();
    let container_dir = (chapter >= 6)
        .then(|| runtime::ContainerDir::create(state_dir, &id))
        .transpose()?;
    let prepared = runtime::prepare_root(
        chapter,
        target,
        state_dir,
        container_dir.as_ref(),
        userns.as_ref(),
    )?;
    if let Some(dir) = &container_dir {
        dir.settle(prepared.keep, prepared.name.as_deref())?;
    }
    let hostname = opts.hostname.clone().unwrap_or_else(|| id.clone());
    let cgroup = cgroup_for(chapter, &id, &limits, root)?;
    let options = net::NetworkOptions {
        mode: network_mode,
        bridge: opts.bridge,
        subnet: opts.subnet,
        publish: opts.publish,
    };
    let mut network = net::HostNetwork::prepare(state_dir, &id, &options)?;
    let etc = match &container_dir {
        Some(dir) => net::files::plan(dir.path(), &hostname, network.address()),
        None => Vec::new(),
    };
    let etc_files: Vec<(PathBuf, String)> = etc
        .iter()
        .map(|f| (f.source.clone(), f.target.clone()))
        .collect();
    if let (Some(rootfs), None) = (&prepared.rootfs, &prepared.overlay) {
        runtime::make_mount_points(rootfs, &opts.volumes, &etc_files)?;
    }
    let console = prepared.tty.then(runtime::tty::console_pair).transpose()?;
    let mut env = runtime::default_env(&hostname);
    runtime::merge_env(&mut env, &prepared.env);
    let config = runtime::ContainerConfig {
        env,
        id,
        chapter,
        selection,
        argv: prepared.argv,
        rootfs: prepared.rootfs,
        hostname,
        init: opts.init && chapter >= 4,
        explain: opts.explain,
        volumes: opts.volumes,
        etc_files,
        network: network_mode,
        attachment: network.attachment.clone(),
        userns,
        limits,
        overlay: prepared.overlay,
        workdir: prepared.workdir,
        user: prepared.user,
        stdin_null: prepared.stdin_null,
        console_fd: console
            .as_ref()
            .map(|(_, theirs)| std::os::fd::AsRawFd::as_raw_fd(theirs)),
    };
    let host = runtime::supervisor::HostSide {
        network: &mut network,
        cgroup: cgroup.as_ref(),
        console,
        interactive: prepared.interactive,
        etc_files: &etc,
    };
    let code = runtime::supervisor::run(&config, host, Duration::from_secs(opts.stop_timeout));
    // Removals that share nothing, at once on two cores. Each directory ext4
    // frees is a block freed, and with the `discard` mount option the kernel
    // waits for the disk to drop it (~80 us per directory here); overlayfs's
    // work dir alone is a chain of four (work/work/incompat/volatile), so it
    // gets a core to itself while the other removes the cgroup and the upper.
    let disposable = |sub| container_dir.as_ref().and_then(|d| d.disposable(sub));
    let (work, upper) = (disposable("work"), disposable("upper"));
    std::thread::scope(|both| {
        if let Some(work) = work {
            both.spawn(move || std::fs::remove_dir_all(work));
        }
        drop(cgroup);
        if let Some(upper) = upper {
            let _ = std::fs::remove_dir_all(upper);
        }
    });
    drop(container_dir); // what is left: the /etc files and the directory
    code
}

fn limits(args: &RunOptions) -> Result<cgroups::Limits> {
    if let Some(cpus) = args.cpus {
        let online = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1) as f64;
        // The kernel's smallest CFS quota is 1 ms per 100 ms period: 0.01 CPUs (docker's minimum too).
        if !(0.01..=online).contains(&cpus) {
            bail!(
                "--cpus {cpus}: expected at least 0.01 and at most {online} (this machine's CPUs)"
            );
        }
    }
    Ok(cgroups::Limits {
        memory_bytes: args.memory.map(|s| s.0),
        pids: args.pids_limit,
        cpus: args.cpus,
    })
}

/// From chapter 8 every container gets a cgroup (limits or not: it is how we
/// account for it and find all its processes); rootless only without limits.
fn cgroup_for(
    chapter: u8,
    id: &str,
    limits: &cgroups::Limits,
    root: bool,
) -> Result<Option<cgroups::ContainerCgroup>> {
    if chapter < 8 {
        return Ok(None);
    }
    if !root {
        if limits.any() {
            bail!("-m, --pids-limit and --cpus need root: without a delegated cgroup, a rootless container cannot be limited");
        }
        return Ok(None);
    }
    let cgroup = cgroups::ContainerCgroup::create(id, limits)?;
    cgroup.apply(limits)?;
    Ok(Some(cgroup))
}

/// A flag from a later chapter is a mistake worth one clear line.
fn check_flags_fit_chapter(chapter: u8, args: &RunOptions) -> Result<()> {
    let needs = [
        (!args.volumes.is_empty(), "-v", 5),
        (args.network.is_some(), "--network", 6),
        (!args.publish.is_empty(), "-p", 6),
        (args.userns, "--userns", 7),
        (args.memory.is_some(), "-m", 8),
        (args.pids_limit.is_some(), "--pids-limit", 8),
        (args.cpus.is_some(), "--cpus", 8),
    ];
    for (given, flag, from) in needs {
        if given && chapter < from {
            bail!("{flag} needs chapter {from} or later (this is chapter {chapter})");
        }
    }
    Ok(())
}

/// Bridge by default as root, like docker; rootless gets loopback only.
fn network_mode(
    chapter: u8,
    asked: Option<net::NetworkMode>,
    root: bool,
    userns: bool,
    publish: bool,
) -> Result<net::NetworkMode> {
    use net::NetworkMode::*;
    if chapter < 6 {
        return Ok(Host); // no network namespace before chapter 6
    }
    let mode = asked.unwrap_or(if root { Bridge } else { None });
    if !root && (mode == Bridge || publish) {
        bail!("--network bridge and -p need root: a veth on the host's bridge needs CAP_NET_ADMIN on the host; rootless containers get --network none (loopback)");
    }
    if userns && mode == Host {
        bail!("--network host cannot be used with a user namespace: sysfs can only be mounted in a network namespace the user namespace owns");
    }
    Ok(mode)
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

fn at_least_chapter(number: &str, from: u8) -> Result<()> {
    let chapter = parse_chapter(number)?;
    if chapter < from {
        bail!("this command belongs to chapter {from} (this is chapter {chapter})");
    }
    Ok(())
}

fn pull_command(state_dir: &Path, args: PullArgs) -> Result<i32> {
    let record = image::pull::pull(state_dir, &args.image, args.platform)?;
    if args.unpack {
        image::container::unpack_layers(state_dir, &record, None)?;
    }
    println!(
        "{} {} ({}, {})",
        record.key(),
        record.manifest_digest,
        record.platform,
        human_size(record.size())
    );
    Ok(0)
}

fn resolve_command(text: &str) -> Result<i32> {
    let r = image::pull::resolve(text)?;
    println!("registry:   {}", r.registry);
    println!("repository: {}", r.repository);
    println!("tag:        {}", r.tag.as_deref().unwrap_or("-"));
    println!("digest:     {}", r.digest.as_deref().unwrap_or("-"));
    println!("endpoint:   {}", r.endpoint());
    println!("canonical:  {r}");
    Ok(0)
}

fn images_command(state_dir: &Path) -> Result<i32> {
    let store = image::store::Store::open(state_dir)?;
    println!(
        "{:<40} {:<16} {:<14} {:<22} {:>10}",
        "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"
    );
    for image in store.images()?.values() {
        let tag = image.tag.clone().unwrap_or_else(|| "<none>".into());
        let created = image
            .created
            .as_deref()
            .map(|c| c.get(..19).unwrap_or(c).replace('T', " "))
            .unwrap_or_default();
        let id = image::pull::short(&image.config_digest);
        println!(
            "{:<40} {:<16} {:<14} {:<22} {:>10}",
            image.name,
            tag,
            id,
            created,
            human_size(image.size())
        );
    }
    Ok(0)
}

fn rmi_command(state_dir: &Path, images: &[String]) -> Result<i32> {
    let store = image::store::Store::open(state_dir)?;
    for text in images {
        let r = image::pull::resolve(text)?;
        let key = match &r.digest {
            Some(digest) => format!("{}@{digest}", r.name()),
            None => format!("{}:{}", r.name(), r.tag.as_deref().unwrap_or("latest")),
        };
        let deleted = store.remove(&key)?;
        println!("untagged {key}; deleted {deleted} blob(s) no other image uses");
    }
    Ok(0)
}

/// Compressed size, as a registry counts it.
fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1 << 20) as f64),
        b => format!("{:.1} KiB", b as f64 / 1024.0),
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    Ok(if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    })
}

pub fn parse_chapter(text: &str) -> Result<u8> {
    match text.parse::<u8>() {
        Ok(n) if (1..=LAST_CHAPTER).contains(&n) => Ok(n),
        _ => bail!("unknown chapter {text:?}: chapters are 1 to {LAST_CHAPTER}"),
    }
}

fn parse_chapters(list: &[String]) -> Result<Vec<u8>> {
    if list.is_empty() {
        return Ok((1..=LAST_CHAPTER).collect());
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
        let location = info.location().map(|l| (l.file().to_string(), l.line()));
        let line = describe_panic(message, location);
        let pid = runtime::supervisor::CONTAINER_PID.load(std::sync::atomic::Ordering::SeqCst);
        if pid > 0 {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        if runtime::init::is_init() {
            runtime::init::report_failure(125, &line);
        } else {
            eprintln!("mini-docker: {line}");
        }
    }));
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
                 or catch up with --reference={}",
                if chapter <= 1 {
                    "1".to_string()
                } else {
                    format!("1-{chapter}")
                }
            )
        }
        _ => format!("internal error: {message} ({file}:{line})"),
    }
}
