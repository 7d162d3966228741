//! `create`: everything but the user's process. The host side, in lesson
//! order: read config.json, translate it (chapter 13's steps), make the
//! state directory and the exec fifo, the cgroup and its limits (chapter 8)
//! and devices (chapter 11), join the namespaces the spec names by path,
//! clone the init into the new ones, write its id maps (chapter 7) and put
//! it in its cgroup, wait for "ready", write the pid file — and exit, so the
//! init is reparented to the engine's shim (conmon is a subreaper).

use std::io::{BufRead, BufReader, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::sched::CloneFlags;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxIdMapping, LinuxResources, Spec};

use super::cli::CreateArgs;
use super::plan::{MountPlan, NamespacePlan};
use super::state::{self, Record};
use crate::cgroups::devices::{DeviceCgroup, DeviceRule, DEFAULT_ALLOWED};
use crate::cgroups::v1::CgroupV1;
use crate::cgroups::v2::CgroupV2;
use crate::cgroups::{self, Cgroup, Limits, Mode};
use crate::workshop::Steps;

/// What the init needs, decided on the host before clone.
pub struct InitPlan {
    pub spec: Spec,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub namespaces: NamespacePlan,
    pub mounts: Vec<MountPlan>,
    /// O_PATH fd of the exec fifo (opened for writing through /proc/self/fd).
    pub fifo: OwnedFd,
    /// Connected to --console-socket: the pty master goes there.
    pub console: Option<UnixStream>,
    pub no_pivot: bool,
    pub preserve_fds: u32,
    /// linux.cgroupsPath, relative to each hierarchy's root.
    pub cgroup_path: PathBuf,
}

/// A chapter 13 step: a `todo!()` is one clear line, not a panic.
pub fn step<T>(name: &str, run: impl FnOnce() -> Result<T>) -> Result<T> {
    caught(name, "exercises/ch13_oci.rs", "ch13", run)
}

/// A chapter 11 step (the hardening): unwritten is an error here — an
/// engine asked for it, and a silent skip would weaken the container.
pub fn step_ch11<T>(name: &str, run: impl FnOnce() -> Result<T>) -> Result<T> {
    caught(name, "exercises/ch11_hardening.rs", "ch11", run)
}

fn caught<T>(name: &str, file: &str, tag: &str, run: impl FnOnce() -> Result<T>) -> Result<T> {
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run));
    std::panic::set_hook(quiet);
    match outcome {
        Ok(result) => result,
        Err(payload) if crate::runtime::harden::is_todo(&payload) => {
            bail!("{file}: TODO({tag}) {name} is not written yet")
        }
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

pub fn create(root: &Path, args: &CreateArgs, steps: &Steps) -> Result<()> {
    let dir = state::container_dir(root, &args.id)?;
    let bundle = args
        .bundle
        .canonicalize()
        .with_context(|| format!("bundle {}", args.bundle.display()))?;
    let spec = super::spec::load(&bundle)?;
    let rootfs = super::spec::rootfs(&spec, &bundle)?;
    let linux = spec.linux().clone().unwrap_or_default();
    let namespaces = step("namespace_plan", || {
        steps
            .ch13_oci
            .namespace_plan(linux.namespaces().as_deref().unwrap_or_default())
    })?;
    refuse_unsafe_namespaces(&namespaces)?;
    let mut mounts = Vec::new();
    for mount in spec.mounts().iter().flatten() {
        mounts.push(step("mount_plan", || steps.ch13_oci.mount_plan(mount))?);
    }
    let process = spec
        .process()
        .clone()
        .context("config.json has no process")?;
    let terminal = process.terminal().unwrap_or(false);
    if terminal && args.console_socket.is_none() {
        bail!("process.terminal is true: --console-socket is required");
    }
    // The state directory: its existence is the container's.
    std::fs::create_dir_all(root).with_context(|| format!("create {}", root.display()))?;
    std::fs::create_dir(&dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            anyhow::anyhow!("container {} already exists", args.id)
        }
        _ => anyhow::anyhow!("create {}: {e}", dir.display()),
    })?;
    let made = Made {
        dir: dir.clone(),
        cgroup_dirs: Vec::new(),
        pid: None,
    };
    let mut made = scopeguard(made);
    let fifo = make_exec_fifo(&dir)?;
    let console = match (&args.console_socket, terminal) {
        (Some(path), true) => Some(
            UnixStream::connect(path)
                .with_context(|| format!("connect to the console socket {}", path.display()))?,
        ),
        _ => None,
    };
    let cgroup_path = linux
        .cgroups_path()
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("/mini-docker/{}", args.id)));
    let cgroup = ContainerCgroup::create(&cgroup_path, linux.resources().as_ref(), steps)?;
    made.cgroup_dirs = cgroup.dirs();
    let host_devices = linux.devices().clone().unwrap_or_default();
    cgroup.restrict_devices(linux.resources().as_ref(), &host_devices, steps)?;
    join_namespaces_by_path(&namespaces)?;

    let plan = InitPlan {
        spec: spec.clone(),
        bundle: bundle.clone(),
        rootfs: rootfs.clone(),
        namespaces,
        mounts,
        fifo,
        console,
        no_pivot: args.no_pivot,
        preserve_fds: args.preserve_fds,
        cgroup_path: cgroup_path
            .strip_prefix("/")
            .unwrap_or(&cgroup_path)
            .to_path_buf(),
    };
    let (ours, theirs) = UnixStream::pair().context("socketpair")?;
    let pid = super::init::spawn(&plan, theirs, steps)?;
    made.pid = Some(pid);
    if plan
        .namespaces
        .clone_flags
        .contains(CloneFlags::CLONE_NEWUSER)
    {
        write_id_maps(pid, linux.uid_mappings(), linux.gid_mappings())?;
    }
    cgroup.add_process(pid)?;
    (&ours).write_all(b"g").context("release the init")?;
    wait_ready(&ours)?;

    let record = Record {
        id: args.id.clone(),
        pid: pid.as_raw(),
        starttime: state::proc_stat(pid.as_raw()).map(|s| s.1).unwrap_or(0),
        bundle,
        rootfs,
        created: state::rfc3339_now(),
        annotations: spec.annotations().clone().unwrap_or_default(),
        cgroup_dirs: made.cgroup_dirs.clone(),
    };
    record.save(&dir)?;
    if let Some(pid_file) = &args.pid_file {
        write_pid_file(pid_file, pid)?;
    }
    made.disarm();
    Ok(())
}

/// Joining a mount or user namespace by path would move this process (and
/// its view of the state directory) too; refused rather than half-done.
fn refuse_unsafe_namespaces(plan: &NamespacePlan) -> Result<()> {
    for (flag, path) in &plan.join {
        if *flag == CloneFlags::CLONE_NEWNS || *flag == CloneFlags::CLONE_NEWUSER {
            bail!(
                "joining a mount or user namespace by path ({}) is not supported",
                path.display()
            );
        }
    }
    if !plan.clone_flags.contains(CloneFlags::CLONE_NEWNS) {
        bail!("config.json: a container needs a mount namespace of its own (linux.namespaces lacks \"mount\")");
    }
    Ok(())
}

/// setns(2) here, before clone: the init is born in them (a PID namespace
/// joined this way holds our children, not us).
fn join_namespaces_by_path(plan: &NamespacePlan) -> Result<()> {
    for (flag, path) in &plan.join {
        let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
        nix::sched::setns(&file, *flag).with_context(|| format!("setns {}", path.display()))?;
    }
    Ok(())
}

/// The fifo the init blocks on: 0622 so a non-root process user can open it.
fn make_exec_fifo(dir: &Path) -> Result<OwnedFd> {
    let path = state::fifo_path(dir);
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o622))
        .with_context(|| format!("mkfifo {}", path.display()))?;
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o622))?;
    let fd = nix::fcntl::open(
        &path,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .with_context(|| format!("open {}", path.display()))?;
    // SAFETY: open returned a fresh fd that we own.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
}

/// The init says "ready" (waiting on the fifo) or why it failed.
fn wait_ready(ours: &UnixStream) -> Result<()> {
    let mut line = String::new();
    BufReader::new(ours)
        .read_line(&mut line)
        .context("read the init's answer")?;
    match line.trim_end() {
        "ready" => Ok(()),
        "" => bail!("the container's init exited before it was ready"),
        message => bail!("{}", message.strip_prefix("error: ").unwrap_or(message)),
    }
}

/// uid_map and gid_map, every range of the spec's mappings.
fn write_id_maps(
    pid: Pid,
    uids: &Option<Vec<LinuxIdMapping>>,
    gids: &Option<Vec<LinuxIdMapping>>,
) -> Result<()> {
    let lines = |maps: &Option<Vec<LinuxIdMapping>>| -> String {
        maps.iter()
            .flatten()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect()
    };
    for (file, text) in [("uid_map", lines(uids)), ("gid_map", lines(gids))] {
        if text.is_empty() {
            bail!("a user namespace needs linux.uidMappings and linux.gidMappings");
        }
        std::fs::write(format!("/proc/{pid}/{file}"), &text)
            .with_context(|| format!("write /proc/{pid}/{file}"))?;
    }
    Ok(())
}

/// Written to a temporary name and renamed: conmon reads it as soon as it exists.
fn write_pid_file(path: &Path, pid: Pid) -> Result<()> {
    let tmp = path.with_extension("mini-docker-tmp");
    std::fs::write(&tmp, pid.to_string()).with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("rename to {}", path.display()))
}

/// What a failed create removes: the init, the cgroup, the state directory.
struct Made {
    dir: PathBuf,
    cgroup_dirs: Vec<PathBuf>,
    pid: Option<Pid>,
}

struct Guard {
    made: Made,
    armed: bool,
}

fn scopeguard(made: Made) -> Guard {
    Guard { made, armed: true }
}

impl Guard {
    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl std::ops::Deref for Guard {
    type Target = Made;
    fn deref(&self) -> &Made {
        &self.made
    }
}
impl std::ops::DerefMut for Guard {
    fn deref_mut(&mut self) -> &mut Made {
        &mut self.made
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(pid) = self.made.pid {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
        for dir in &self.made.cgroup_dirs {
            let _ = cgroups::remove_dir_retrying(dir);
        }
        let _ = std::fs::remove_dir_all(&self.made.dir);
    }
}

/// The container's cgroup at `linux.cgroupsPath`, v1 or v2, with the
/// library's drivers and chapter 8's limit writers.
enum ContainerCgroup {
    V1(CgroupV1),
    V2(CgroupV2),
}

/// v1 hierarchies a container joins, as runc does (a cpuset in the spec is
/// refused; the cpuset cgroup gets its parent's cpus and mems).
const V1_CONTROLLERS: [&str; 9] = [
    "memory",
    "pids",
    "cpu",
    "cpuacct",
    "devices",
    "freezer",
    "blkio",
    "cpuset",
    "name=systemd",
];

impl ContainerCgroup {
    fn create(
        path: &Path,
        resources: Option<&LinuxResources>,
        steps: &Steps,
    ) -> Result<ContainerCgroup> {
        let relative = path.strip_prefix("/").unwrap_or(path);
        if relative.as_os_str().is_empty()
            || relative
                .components()
                .any(|c| c == std::path::Component::ParentDir)
        {
            bail!(
                "linux.cgroupsPath {}: expected a path below the cgroup root",
                path.display()
            );
        }
        let limits = limits(resources)?;
        let cgroup = match cgroups::detect()? {
            Mode::V2 => {
                let dir = Path::new("/sys/fs/cgroup").join(relative);
                enable_v2_controllers(&dir)?;
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("create {}", dir.display()))?;
                let v2 = CgroupV2 { dir };
                let cgroup = ContainerCgroup::V2(v2);
                if let ContainerCgroup::V2(v2) = &cgroup {
                    steps.ch08_cgroups.write_limits_v2(v2, &limits)?;
                    v2.after_limits(&limits)?;
                }
                cgroup
            }
            Mode::V1 { .. } => {
                let mut dirs = Vec::new();
                for controller in V1_CONTROLLERS {
                    let mount = crate::cgroups::v1::mount_point(controller)?;
                    let dir = mount.join(relative);
                    std::fs::create_dir_all(&dir)
                        .with_context(|| format!("create {}", dir.display()))?;
                    if controller == "cpuset" {
                        inherit_cpuset(&mount, relative)?;
                    }
                    dirs.push((controller, dir));
                }
                let v1 = CgroupV1 { dirs };
                steps.ch08_cgroups.write_limits_v1(&v1, &limits)?;
                if let Some(swap) = resources
                    .and_then(|r| r.memory().as_ref())
                    .and_then(|m| m.swap())
                {
                    let file = v1.dir("memory").join("memory.memsw.limit_in_bytes");
                    if swap > 0 && file.exists() {
                        cgroups::write_file(&file, &swap.to_string())?;
                    }
                }
                ContainerCgroup::V1(v1)
            }
        };
        if let Some(shares) = resources
            .and_then(|r| r.cpu().as_ref())
            .and_then(|c| c.shares())
        {
            cgroup.write_cpu_shares(shares)?;
        }
        Ok(cgroup)
    }

    fn write_cpu_shares(&self, shares: u64) -> Result<()> {
        match self {
            ContainerCgroup::V1(v1) => v1.write("cpu", "cpu.shares", &shares.to_string()),
            // runc's conversion of shares (2..262144) to cpu.weight (1..10000).
            ContainerCgroup::V2(v2) => {
                let weight = 1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142;
                v2.write("cpu.weight", &weight.to_string())
            }
        }
    }

    fn dirs(&self) -> Vec<PathBuf> {
        match self {
            ContainerCgroup::V1(v1) => {
                let mut dirs: Vec<PathBuf> = Vec::new();
                for (_, dir) in &v1.dirs {
                    if !dirs.contains(dir) {
                        dirs.push(dir.clone());
                    }
                }
                dirs
            }
            ContainerCgroup::V2(v2) => vec![v2.dir.clone()],
        }
    }

    /// The pid into `cgroup.procs` of every directory (v1: each hierarchy),
    /// before the init runs the user's command.
    fn add_process(&self, pid: Pid) -> Result<()> {
        for dir in self.dirs() {
            cgroups::write_file(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// linux.resources.devices: runc's defaults plus what the spec allows,
    /// after a "deny all" — chapter 11's restrict_devices applies the list.
    fn restrict_devices(
        &self,
        resources: Option<&LinuxResources>,
        devices: &[oci_spec::runtime::LinuxDevice],
        steps: &Steps,
    ) -> Result<()> {
        let rules = resources
            .and_then(|r| r.devices().clone())
            .unwrap_or_default();
        if rules.is_empty() {
            return Ok(()); // the spec restricts nothing (a privileged container)
        }
        let mut allowed: Vec<DeviceRule> = DEFAULT_ALLOWED.to_vec();
        for (i, rule) in rules.iter().enumerate() {
            let all = rule
                .typ()
                .is_none_or(|t| t == oci_spec::runtime::LinuxDeviceType::A)
                && rule.major().is_none()
                && rule.minor().is_none();
            match (rule.allow(), i) {
                (false, 0) if all => {}
                (true, _) => allowed.push(device_rule(rule)?),
                _ => bail!("linux.resources.devices: only a leading \"deny all\" then allow rules are supported"),
            }
        }
        if rules.first().is_some_and(|r| r.allow()) {
            bail!("linux.resources.devices: expected a leading \"deny all\" rule");
        }
        for device in devices {
            allowed.push(device_rule(&device.into())?);
        }
        let cgroup = match self {
            ContainerCgroup::V1(v1) => DeviceCgroup::V1(v1),
            ContainerCgroup::V2(v2) => DeviceCgroup::V2(v2),
        };
        step_ch11("restrict_devices", || {
            steps.ch11_hardening.restrict_devices(cgroup, &allowed)
        })
    }
}

fn device_rule(rule: &oci_spec::runtime::LinuxDeviceCgroup) -> Result<DeviceRule> {
    use oci_spec::runtime::LinuxDeviceType as T;
    let kind = match rule.typ().unwrap_or(T::A) {
        T::A => 'a',
        T::B => 'b',
        T::C | T::U => 'c',
        T::P => bail!("a device rule for a fifo makes no sense"),
    };
    let access = rule.access().clone().unwrap_or_else(|| "rwm".into());
    let access: &'static str = match access.as_str() {
        "rwm" | "rmw" | "mrw" | "mwr" | "wrm" | "wmr" => "rwm",
        "rw" | "wr" => "rw",
        "rm" | "mr" => "rm",
        "wm" | "mw" => "wm",
        "r" => "r",
        "w" => "w",
        "m" => "m",
        other => bail!("device access {other:?}: expected letters of rwm"),
    };
    let number = |n: Option<i64>| n.filter(|&n| n >= 0).map(|n| n as u32);
    Ok(DeviceRule {
        kind,
        major: number(rule.major()),
        minor: number(rule.minor()),
        access,
    })
}

/// linux.resources in chapter 8's terms.
fn limits(resources: Option<&LinuxResources>) -> Result<Limits> {
    let Some(resources) = resources else {
        return Ok(Limits::default());
    };
    let memory = resources.memory().as_ref();
    let cpu = resources.cpu().as_ref();
    if cpu.is_some_and(|c| {
        c.cpus().as_ref().is_some_and(|s| !s.is_empty())
            || c.mems().as_ref().is_some_and(|s| !s.is_empty())
    }) {
        bail!("linux.resources.cpu.cpus/mems (cpusets) are not supported");
    }
    if cpu.is_some_and(|c| c.realtime_runtime().is_some() || c.realtime_period().is_some()) {
        bail!("linux.resources.cpu realtime settings are not supported");
    }
    if memory.is_some_and(|m| m.kernel().is_some() || m.kernel_tcp().is_some()) {
        bail!("linux.resources.memory.kernel limits are not supported");
    }
    let cpus = cpu.and_then(|c| match (c.quota(), c.period()) {
        (Some(quota), period) if quota > 0 => Some(quota as f64 / period.unwrap_or(100_000) as f64),
        _ => None,
    });
    Ok(Limits {
        memory_bytes: memory
            .and_then(|m| m.limit())
            .filter(|&l| l > 0)
            .map(|l| l as u64),
        pids: resources
            .pids()
            .as_ref()
            .map(|p| p.limit())
            .filter(|&l| l > 0)
            .map(|l| l as u64),
        cpus,
    })
}

/// A new v1 cpuset is empty (no cpu, no memory node: nothing may join it):
/// each level copies its parent's, top down.
fn inherit_cpuset(mount: &Path, relative: &Path) -> Result<()> {
    let mut dir = mount.to_path_buf();
    for part in relative.components() {
        let parent = dir.clone();
        dir.push(part);
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let own = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
            if own.trim().is_empty() {
                let inherited = std::fs::read_to_string(parent.join(file))
                    .with_context(|| format!("read {}", parent.join(file).display()))?;
                cgroups::write_file(&dir.join(file), inherited.trim())?;
            }
        }
    }
    Ok(())
}

/// v2: each ancestor hands memory, pids and cpu down (cgroup.subtree_control).
fn enable_v2_controllers(dir: &Path) -> Result<()> {
    let root = Path::new("/sys/fs/cgroup");
    let mut ancestors: Vec<&Path> = dir
        .ancestors()
        .skip(1)
        .take_while(|a| a.starts_with(root))
        .collect();
    ancestors.reverse();
    for ancestor in ancestors {
        std::fs::create_dir_all(ancestor)
            .with_context(|| format!("create {}", ancestor.display()))?;
        let available =
            std::fs::read_to_string(ancestor.join("cgroup.controllers")).unwrap_or_default();
        let wanted: Vec<String> = ["memory", "pids", "cpu"]
            .iter()
            .filter(|c| available.split_whitespace().any(|a| a == **c))
            .map(|c| format!("+{c}"))
            .collect();
        if !wanted.is_empty() {
            let _ = std::fs::OpenOptions::new()
                .write(true)
                .open(ancestor.join("cgroup.subtree_control"))
                .and_then(|mut f| f.write_all(wanted.join(" ").as_bytes()));
        }
    }
    Ok(())
}
