//! From options to a running container and back: the orchestration of
//! `chapter N run` and `run IMAGE`, top-down in lesson order. Only this
//! module, `supervisor.rs` and `inside.rs` call the chapter steps.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Result};

use super::config::{default_env, merge_env, ContainerConfig};
use super::container_dir::ContainerDir;
use super::root::{prepare_root, Target};
use super::supervisor::{self, HostSide};
use super::tty;
use super::volumes::{make_mount_points, Volume};
use crate::cgroups::{self, ContainerCgroup, Driver};
use crate::lifecycle::state::{MountRecord, State};
use crate::lifecycle::Keeper;
use crate::net::{self, HostNetwork, NetworkMode};
use crate::security::Hardening;
use crate::userns::IdMap;
use crate::workshop::Steps;

/// The options `chapter N run` and `run` share (the CLI's flags, as data).
pub struct RunOptions {
    pub hostname: Option<String>,
    pub init: bool,
    pub explain: bool,
    pub volumes: Vec<Volume>,
    pub network: Option<NetworkMode>,
    pub publish: Vec<net::proxy::PortMap>,
    pub bridge: String,
    pub subnet: net::ipam::Subnet,
    pub userns: bool,
    pub memory: Option<cgroups::Size>,
    pub pids_limit: Option<u64>,
    pub cpus: Option<f64>,
    pub stop_timeout: u64,
    /// Chapter 11: `--cap-add`, `--cap-drop`, `--privileged`, `--read-only`, `--tmpfs`, `--security-opt`.
    pub security: crate::security::SecurityOptions,
    /// Chapter 12: who records the container's life (state.json), if anyone.
    pub keeper: Option<Box<dyn Keeper>>,
}

/// Run a container with chapters 1..=`chapter`; returns its exit status.
pub fn launch(
    chapter: u8,
    mut opts: RunOptions,
    target: Target,
    state_dir: &Path,
    steps: &Steps,
) -> Result<i32> {
    let mut keeper = opts.keeper.take();
    let root = nix::unistd::geteuid().is_root();
    check_privileges(chapter, root, matches!(target, Target::Image { .. }))?;
    check_flags_fit_chapter(chapter, &opts)?;
    let limits = limits(&opts)?;

    // Chapter 7: a user namespace on request, or always when rootless.
    let userns = (chapter >= 7 && (opts.userns || !root)).then(|| {
        if root {
            IdMap::remapped_root()
        } else {
            IdMap::rootless()
        }
    });
    if let Some(map) = &userns {
        refuse_closed_dirs(map, state_dir, &target, &opts.volumes)?;
    }
    // Chapter 11: docker's defaults, decided before anything is made.
    let hardening = (chapter >= 11)
        .then(|| Hardening::from_options(&opts.security, userns.is_some(), opts.cpus.is_some()))
        .transpose()?;
    let hardening = match hardening {
        Some(mut h) => {
            h.seccomp = super::harden::compile_seccomp(&h, state_dir, steps)?;
            Some(h)
        }
        None => None,
    };
    let network_mode = network_mode(chapter, opts.network, root, userns.is_some(), &opts)?;
    let id = match keeper.as_ref().and_then(|k| k.id()) {
        Some(id) => id,
        None => crate::sys::new_id()?,
    };
    let mut described = describe(&target, &opts);
    // An image's container always has a name (docker's); a chapter's rootfs run none.
    let generate = matches!(target, Target::Image { .. });
    // Chapter 6 on: per-container files (/etc/hosts, the writable layer...).
    let container_dir = (chapter >= 6)
        .then(|| ContainerDir::create(state_dir, &id))
        .transpose()?;
    let prepared = prepare_root(
        chapter,
        target,
        state_dir,
        container_dir.as_ref(),
        userns.as_ref(),
        steps,
    )?;
    if let Some(dir) = &container_dir {
        described.name = dir.settle_named(prepared.keep, prepared.name.as_deref(), generate)?;
    }
    // docker's default: the short id (a hostname label is at most 63 bytes).
    let hostname = opts
        .hostname
        .clone()
        .unwrap_or_else(|| crate::sys::short_id(&id).to_string());
    // Chapter 8: the cgroup and its limits exist before the container does.
    let cgroup = cgroup_for(
        chapter,
        &id,
        &limits,
        root,
        hardening.as_ref(),
        opts.explain,
        steps,
    )?;
    // Chapter 6: the bridge, an address, published ports — before clone.
    let options = net::NetworkOptions {
        mode: network_mode,
        bridge: opts.bridge,
        subnet: opts.subnet,
        publish: opts.publish,
    };
    let mut network = HostNetwork::prepare(state_dir, &id, &options)?;
    let etc = match &container_dir {
        Some(dir) => net::files::plan(dir.path(), &hostname, network.address()),
        None => Vec::new(),
    };
    let etc_files: Vec<(PathBuf, String)> = etc
        .iter()
        .map(|f| (f.source.clone(), f.target.clone()))
        .collect();
    if let (Some(rootfs), None) = (&prepared.rootfs, &prepared.overlay) {
        make_mount_points(rootfs, &opts.volumes, &etc_files)?;
    }
    let console = prepared.tty.then(tty::console_pair).transpose()?;
    let mut env = default_env(&hostname, prepared.tty);
    merge_env(&mut env, &prepared.env);
    let config = ContainerConfig {
        env,
        id,
        chapter,
        selection: steps.selection,
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
        hardening,
    };
    let mut output_log = None;
    if let (Some(keeper), Some(dir)) = (keeper.as_mut(), &container_dir) {
        keeper.starting(dir.path(), described.record(&config))?;
        output_log = keeper.output_log();
        // `exec` applies the same environment, user and hardening.
        crate::lifecycle::exec::save_config(dir.path(), &config)?;
    }
    let mut on_started = |pid: i32| {
        if let Some(keeper) = keeper.as_mut() {
            keeper.started(pid);
        }
    };
    let host = HostSide {
        network: &mut network,
        cgroup: cgroup.as_ref(),
        console,
        interactive: prepared.interactive,
        etc_files: &etc,
        on_started: &mut on_started,
        output_log,
    };
    let code = supervisor::run(&config, host, Duration::from_secs(opts.stop_timeout), steps);
    if let (Some(keeper), Ok(code)) = (keeper.as_mut(), &code) {
        let oom_killed = cgroup
            .as_ref()
            .is_some_and(|c| c.oom_kills().is_ok_and(|kills| kills > 0));
        keeper.exited(*code, oom_killed);
    }
    clean_up(container_dir, cgroup);
    code
}

/// What the keeper records that the config does not say: the image, the
/// name, the published ports, `--rm`.
struct Described {
    image: String,
    name: Option<String>,
    ports: Vec<String>,
    auto_remove: bool,
}

fn describe(target: &Target, opts: &RunOptions) -> Described {
    let (image, name, auto_remove) = match target {
        Target::Image { image, options, .. } => (image.clone(), options.name.clone(), options.rm),
        Target::Rootfs { .. } => (String::new(), None, true),
    };
    let ports = opts
        .publish
        .iter()
        .map(|p| format!("{}:{}->{}/tcp", p.host_ip, p.host_port, p.container_port))
        .collect();
    Described {
        image,
        name,
        ports,
        auto_remove,
    }
}

impl Described {
    fn record(self, config: &ContainerConfig) -> State {
        State {
            id: config.id.clone(),
            name: self.name,
            image: self.image,
            command: config.argv.clone(),
            env: config.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            hostname: config.hostname.clone(),
            ports: self.ports,
            mounts: config
                .volumes
                .iter()
                .map(|v| MountRecord {
                    source: v.host.to_string_lossy().into_owned(),
                    destination: v.container.clone(),
                    read_only: v.read_only,
                })
                .collect(),
            ip_address: config.attachment.as_ref().map(|a| a.address.to_string()),
            auto_remove: self.auto_remove,
            ..State::default()
        }
    }
}

/// Removals that share nothing, at once on two cores. Each directory ext4
/// frees is a block freed, and with the `discard` mount option the kernel
/// waits for the disk to drop it (~80 us per directory here); overlayfs's
/// work dir alone is a chain of four (work/work/incompat/volatile), so it
/// gets a core to itself while the other removes the cgroup and the upper.
fn clean_up(container_dir: Option<ContainerDir>, cgroup: Option<ContainerCgroup>) {
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
}

/// What the container's root opens from inside its user namespace must be
/// reachable for it (a state dir made by `mktemp -d` is 0700).
fn refuse_closed_dirs(
    map: &IdMap,
    state_dir: &Path,
    target: &Target,
    volumes: &[Volume],
) -> Result<()> {
    map.refuse_closed_dirs("state dir", state_dir)?;
    if let Target::Rootfs {
        rootfs: Some(dir), ..
    } = target
    {
        map.refuse_closed_dirs("rootfs", dir)?;
    }
    for volume in volumes {
        // The source itself may be closed: it is mounted, not entered.
        if let Some(parent) = volume.host.parent() {
            map.refuse_closed_dirs("-v", parent)?;
        }
    }
    Ok(())
}

/// chroot and namespaces need root until chapter 7 makes rootless possible.
fn check_privileges(chapter: u8, root: bool, image: bool) -> Result<()> {
    if (2..7).contains(&chapter) && !root {
        bail!("chapter {chapter} needs root (chroot and namespaces need CAP_SYS_ADMIN): run it with sudo (rootless comes with chapter 7)");
    }
    if chapter >= 10 && !root && image {
        bail!("running images needs root here (overlay layers owned by root); chapter 7 shows rootless containers");
    }
    Ok(())
}

fn limits(opts: &RunOptions) -> Result<cgroups::Limits> {
    if let Some(cpus) = opts.cpus {
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
        memory_bytes: opts.memory.map(|s| s.0),
        pids: opts.pids_limit,
        cpus: opts.cpus,
    })
}

/// From chapter 8 every container gets a cgroup as root (how we account for
/// it and find all its processes); rootless only without limits.
fn cgroup_for(
    chapter: u8,
    id: &str,
    limits: &cgroups::Limits,
    root: bool,
    hardening: Option<&Hardening>,
    explain: bool,
    steps: &Steps,
) -> Result<Option<ContainerCgroup>> {
    if chapter < 8 {
        return Ok(None);
    }
    if !root {
        if limits.any() {
            bail!("-m, --pids-limit and --cpus need root: without a delegated cgroup, a rootless container cannot be limited");
        }
        return Ok(None);
    }
    // Chapter 11 (not --privileged): only docker's default devices may be
    // opened. Before the container exists: v1 must deny all before allowing
    // each device, and in that window even mknod of /dev/null would fail.
    let devices = hardening.is_some_and(|h| !h.privileged);
    let cgroup = ContainerCgroup::create(id, limits, devices, steps.ch08_cgroups)?;
    super::explain::step(
        explain,
        8,
        &format!("write the limit files of {}", cgroup.describe()),
        "the kernel enforces what these files say",
    );
    match cgroup.driver() {
        Driver::V1(v1) => steps.ch08_cgroups.write_limits_v1(v1, limits)?,
        Driver::V2(v2) => steps.ch08_cgroups.write_limits_v2(v2, limits)?,
    }
    if explain {
        let limits = super::explain::cgroup_limits(cgroup.driver());
        super::explain::observed(true, 8, &limits);
    }
    cgroup.after_limits(limits)?;
    if let Some(hardening) = hardening {
        super::harden::restrict_devices(hardening, &cgroup, explain, steps)?;
    }
    Ok(Some(cgroup))
}

/// A flag from a later chapter is a mistake worth one clear line.
fn check_flags_fit_chapter(chapter: u8, opts: &RunOptions) -> Result<()> {
    let needs = [
        (!opts.volumes.is_empty(), "-v", 5),
        (opts.network.is_some(), "--network", 6),
        (!opts.publish.is_empty(), "-p", 6),
        (opts.userns, "--userns", 7),
        (opts.memory.is_some(), "-m", 8),
        (opts.pids_limit.is_some(), "--pids-limit", 8),
        (opts.cpus.is_some(), "--cpus", 8),
        (!opts.security.cap_add.is_empty(), "--cap-add", 11),
        (!opts.security.cap_drop.is_empty(), "--cap-drop", 11),
        (opts.security.privileged, "--privileged", 11),
        (opts.security.read_only, "--read-only", 11),
        (!opts.security.tmpfs.is_empty(), "--tmpfs", 11),
        (!opts.security.security_opt.is_empty(), "--security-opt", 11),
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
    asked: Option<NetworkMode>,
    root: bool,
    userns: bool,
    opts: &RunOptions,
) -> Result<NetworkMode> {
    use NetworkMode::*;
    if chapter < 6 {
        return Ok(Host); // no network namespace before chapter 6
    }
    let mode = asked.unwrap_or(if root { Bridge } else { None });
    if !root && (mode == Bridge || !opts.publish.is_empty()) {
        bail!("--network bridge and -p need root: a veth on the host's bridge needs CAP_NET_ADMIN on the host; rootless containers get --network none (loopback)");
    }
    if userns && mode == Host {
        bail!("--network host cannot be used with a user namespace: sysfs can only be mounted in a network namespace the user namespace owns");
    }
    Ok(mode)
}
