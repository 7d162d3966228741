//! The stepwise container runtime: `mini-docker chapter N run -- CMD`.
//!
//! Two processes matter:
//! - the **supervisor** (this process, on the host) clones the container's first
//!   process, forwards stop signals to it and waits for it (`supervisor.rs`);
//! - the **init** (the clone) builds the container from the inside, chapter by
//!   chapter, then execs the command (`init.rs`).
//!
//! The clone runs the init code directly when mini-docker is single-threaded at
//! that moment (the usual case). If threads exist (HTTP, progress bars, the
//! port proxy), it re-executes `/proc/self/exe __init` instead: a forked copy of
//! a threaded process may deadlock on a lock held by a thread that does not
//! exist in the copy; a fresh exec starts single-threaded (spawn.rs).

pub mod dev;
pub mod explain;
pub mod init;
pub mod inroot;
pub mod placement;
pub mod spawn;
pub mod supervisor;
pub mod tty;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::net::NetworkMode;
use crate::selection::Selection;
use crate::userns::IdMap;

/// Everything the init needs to build the container; sent over a pipe as JSON.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ContainerConfig {
    /// Short random id (also the default hostname).
    pub id: String,
    /// Chapters 1..=chapter are active.
    pub chapter: u8,
    pub selection: Selection,
    /// The command and its arguments.
    pub argv: Vec<String>,
    /// The container's root directory (chapters 2 and up).
    pub rootfs: Option<PathBuf>,
    pub hostname: String,
    /// Run mini-docker's own init as PID 1 (reaps zombies, forwards signals).
    pub init: bool,
    /// The command's environment.
    pub env: Vec<(String, String)>,
    /// Narrate each kernel step on stderr (`--explain`).
    pub explain: bool,
    /// `-v HOST:CTR[:ro]` bind mounts (chapter 5+).
    pub volumes: Vec<Volume>,
    /// Per-container files bind-mounted over the rootfs's (/etc/hosts, /etc/resolv.conf).
    pub etc_files: Vec<(PathBuf, String)>,
    /// Chapter 6+.
    pub network: NetworkMode,
    /// Chapter 6+, bridge: the container's place on the bridge.
    pub attachment: Option<crate::net::Attachment>,
    /// Chapter 7+: the user namespace's id mapping, if any.
    pub userns: Option<IdMap>,
    /// Chapter 8+.
    pub limits: crate::cgroups::Limits,
    /// Chapter 10: the image's layers, mounted as the root.
    pub overlay: Option<crate::image::container::Overlay>,
    /// Where the command starts (image WorkingDir or -w).
    pub workdir: Option<String>,
    /// Who the command runs as (image User or -u): uid[:gid] or names.
    pub user: Option<String>,
    /// `run` without -i: stdin is /dev/null, like docker.
    pub stdin_null: bool,
    /// `run -t`: the init's end of the console socket (the fd number it inherits).
    pub console_fd: Option<i32>,
}

/// `-v HOST:CTR[:ro]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub host: PathBuf,
    pub container: String,
    pub read_only: bool,
}

impl std::str::FromStr for Volume {
    type Err = anyhow::Error;
    fn from_str(text: &str) -> anyhow::Result<Volume> {
        let parts: Vec<&str> = text.split(':').collect();
        let (host, container, read_only) = match parts.as_slice() {
            [h, c] => (*h, *c, false),
            [h, c, "ro"] => (*h, *c, true),
            [h, c, "rw"] => (*h, *c, false),
            _ => anyhow::bail!("-v {text:?}: expected HOSTDIR:CONTAINERDIR[:ro]"),
        };
        if !container.starts_with('/') || container.split('/').any(|p| p == "..") {
            anyhow::bail!("-v {text:?}: the container path must be absolute, without \"..\"");
        }
        let host =
            std::fs::canonicalize(host).map_err(|e| anyhow::anyhow!("-v {text:?}: {host}: {e}"))?;
        Ok(Volume {
            host,
            container: container.to_string(),
            read_only,
        })
    }
}

impl ContainerConfig {
    pub fn has(&self, chapter: u8) -> bool {
        self.chapter >= chapter
    }
}

/// What a container's command sees by default (what docker sets, too).
pub fn default_env(hostname: &str) -> Vec<(String, String)> {
    let mut env = vec![
        (
            "PATH".into(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        ),
        ("HOSTNAME".into(), hostname.into()),
        ("HOME".into(), "/root".into()),
    ];
    if let Ok(term) = std::env::var("TERM") {
        env.push(("TERM".into(), term));
    }
    env
}

/// A short random container id, 12 hex digits like docker's short ids.
pub fn new_id() -> String {
    let mut bytes = [0u8; 6];
    let filled = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if filled.is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes.copy_from_slice(&(nanos as u64 ^ std::process::id() as u64).to_le_bytes()[..6]);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// STATE_DIR/containers/ID: files of one container; removed when it ends,
/// unless kept (`run` without --rm keeps its writable layer, like docker).
pub struct ContainerDir {
    dir: PathBuf,
    keep: std::cell::Cell<bool>,
    name_file: std::cell::RefCell<Option<PathBuf>>,
    /// flock(2)ed while the container runs: a dir nobody holds a lock on
    /// belongs to a dead mini-docker (`prune_container_dirs`). The kernel
    /// drops the lock when we die, even by SIGKILL; no pid file to go stale.
    _running: nix::fcntl::Flock<std::fs::File>,
}

impl ContainerDir {
    pub fn create(state_dir: &std::path::Path, id: &str) -> anyhow::Result<ContainerDir> {
        use anyhow::Context;
        let containers = state_dir.join("containers");
        let dir = containers.join(id);
        let mut made = std::fs::create_dir(&dir);
        if matches!(&made, Err(e) if e.kind() == std::io::ErrorKind::NotFound) {
            // The first container of this state dir: where containers/ goes matters.
            placement::create_dir_apart(&containers)?;
            made = std::fs::create_dir(&dir);
        }
        if let Err(e) = made.or_else(already_there_is_fine) {
            return Err(e).with_context(|| format!("create {}", dir.display()));
        }
        let running = nix::fcntl::Flock::lock(
            std::fs::File::open(&dir)?,
            nix::fcntl::FlockArg::LockExclusiveNonblock,
        )
        .map_err(|(_, e)| anyhow::anyhow!("lock {}: {e}", dir.display()))?;
        Ok(ContainerDir {
            dir,
            keep: std::cell::Cell::new(false),
            name_file: std::cell::RefCell::new(None),
            _running: running,
        })
    }

    pub fn path(&self) -> &std::path::Path {
        &self.dir
    }

    /// `sub`'s path if the directory goes when the container ends (for a
    /// caller that removes part of it early, on another thread).
    pub fn disposable(&self, sub: &str) -> Option<PathBuf> {
        (!self.keep.get()).then(|| self.dir.join(sub))
    }

    /// Keep the directory after exit or not, and claim `name` (unique per state dir).
    pub fn settle(&self, keep: bool, name: Option<&str>) -> anyhow::Result<()> {
        self.keep.set(keep);
        let Some(name) = name else { return Ok(()) };
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !valid {
            anyhow::bail!(
                "--name {name:?}: letters, digits, _ . - (starting with a letter or digit)"
            );
        }
        let names = self
            .dir
            .parent()
            .and_then(|c| c.parent())
            .expect("state dir")
            .join("names");
        std::fs::create_dir_all(&names)?;
        let file = names.join(name);
        let id = self
            .dir
            .file_name()
            .expect("id")
            .to_string_lossy()
            .into_owned();
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&file)
        {
            Ok(mut f) => std::io::Write::write_all(&mut f, id.as_bytes())?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let other = std::fs::read_to_string(&file).unwrap_or_default();
                anyhow::bail!("the name {name:?} is already in use by container {other}")
            }
            Err(e) => return Err(e.into()),
        }
        if !keep {
            *self.name_file.borrow_mut() = Some(file);
        }
        Ok(())
    }
}

impl Drop for ContainerDir {
    fn drop(&mut self) {
        if let Some(file) = self.name_file.borrow_mut().take() {
            let _ = std::fs::remove_file(file);
        }
        if !self.keep.get() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn already_there_is_fine(e: std::io::Error) -> std::io::Result<()> {
    match e.kind() {
        std::io::ErrorKind::AlreadyExists => Ok(()),
        _ => Err(e),
    }
}

/// Remove the dirs of containers whose mini-docker is gone (killed with
/// SIGKILL, or a kept container's): nobody holds their lock.
pub fn prune_container_dirs(state_dir: &std::path::Path) {
    placement::remove_leftovers(state_dir);
    let Ok(entries) = std::fs::read_dir(state_dir.join("containers")) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(dir) = std::fs::File::open(entry.path()) else {
            continue;
        };
        let free = nix::fcntl::Flock::lock(dir, nix::fcntl::FlockArg::LockExclusiveNonblock);
        if free.is_ok() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Create the mount points of volumes and /etc files in the rootfs now, as the
/// host's root: a remapped container root may not write into a rootfs owned by
/// the host's root (docker chowns its layers instead). Resolved inside the rootfs.
pub fn make_mount_points(
    rootfs: &std::path::Path,
    volumes: &[Volume],
    etc_files: &[(PathBuf, String)],
) -> anyhow::Result<()> {
    use inroot::Kind;
    for volume in volumes {
        let kind = if volume.host.is_dir() {
            Kind::Dir
        } else {
            Kind::File
        };
        inroot::ensure(rootfs, &volume.container, kind)?;
    }
    for (_, target) in etc_files {
        inroot::ensure(rootfs, target, Kind::File)?;
    }
    Ok(())
}

/// What a container runs in: a rootfs directory (chapters 2-9) or an image (10).
pub enum Target {
    Rootfs {
        rootfs: Option<PathBuf>,
        command: Vec<String>,
    },
    Image {
        image: String,
        command: Vec<String>,
        options: ImageRunOptions,
    },
}

/// The `run` flags that only make sense with an image.
#[derive(clap::Args, Default, Clone)]
pub struct ImageRunOptions {
    /// Remove the container's writable layer when it exits
    #[arg(long)]
    pub rm: bool,
    /// A name for the container (unique)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Set an environment variable (K=V, or K to copy it from here)
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
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
    pub platform: Option<crate::image::platform::Platform>,
}

/// The container's root and command, ready for the config.
pub struct Prepared {
    pub rootfs: Option<PathBuf>,
    pub overlay: Option<crate::image::container::Overlay>,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub stdin_null: bool,
    pub tty: bool,
    pub interactive: bool,
    pub keep: bool,
    pub name: Option<String>,
}

pub fn prepare_root(
    chapter: u8,
    target: Target,
    state_dir: &std::path::Path,
    container_dir: Option<&ContainerDir>,
    userns: Option<&IdMap>,
) -> anyhow::Result<Prepared> {
    use anyhow::{bail, Context};
    match target {
        Target::Rootfs { rootfs, command } => {
            let rootfs = match (chapter, rootfs) {
                (1, _) => None,
                (_, Some(dir)) => Some(
                    dir.canonicalize()
                        .with_context(|| format!("rootfs {}", dir.display()))?,
                ),
                (_, None) => Some(crate::rootfs::starter(state_dir)?),
            };
            if let Some(dir) = rootfs.as_ref().filter(|d| !d.is_dir()) {
                bail!("rootfs {} is not a directory", dir.display());
            }
            Ok(Prepared {
                rootfs,
                overlay: None,
                argv: command,
                env: Vec::new(),
                workdir: None,
                user: None,
                stdin_null: false,
                tty: false,
                interactive: true,
                keep: false,
                name: None,
            })
        }
        Target::Image {
            image,
            command,
            options,
        } => {
            let record = find_or_pull(state_dir, &image, options.platform.clone())?;
            let dir = container_dir.context("an image needs a container directory")?;
            // --userns: layers unpacked with owners in the namespace's range (docker's userns-remap).
            let shift = userns.map(|m| crate::image::layer::IdShift {
                uid: m.host_uid,
                gid: m.host_gid,
                count: m.count,
            });
            let (overlay, config) = crate::image::container::prepare(
                state_dir,
                &record,
                dir.path(),
                shift,
                options.rm,
            )?;
            let mut argv = config.entrypoint.clone();
            argv.extend(if command.is_empty() {
                config.cmd.clone()
            } else {
                command
            });
            if argv.is_empty() {
                bail!("{image} has no Entrypoint or Cmd: give a command");
            }
            let mut env: Vec<(String, String)> = config
                .env
                .iter()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.into(), v.into()))
                .collect();
            for item in &options.env {
                let pair = match item.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (item.clone(), std::env::var(item).unwrap_or_default()),
                };
                merge_env(&mut env, &[pair]);
            }
            Ok(Prepared {
                rootfs: Some(overlay.merged.clone()),
                overlay: Some(overlay),
                argv,
                env,
                workdir: options.workdir.or(config.working_dir),
                user: options.user.or(config.user),
                stdin_null: !options.interactive && !options.tty,
                tty: options.tty,
                interactive: options.interactive,
                keep: !options.rm,
                name: options.name,
            })
        }
    }
}

/// The image in the store, pulled first if it is not there (like docker run).
fn find_or_pull(
    state_dir: &std::path::Path,
    text: &str,
    platform: Option<crate::image::platform::Platform>,
) -> anyhow::Result<crate::image::store::ImageRecord> {
    let reference = crate::image::pull::resolve(text)?;
    let key = match &reference.digest {
        Some(d) => format!("{}@{d}", reference.name()),
        None => format!(
            "{}:{}",
            reference.name(),
            reference.tag.as_deref().unwrap_or("latest")
        ),
    };
    let store = crate::image::store::Store::open(state_dir)?;
    if let Some(record) = store.images()?.remove(&key) {
        return Ok(record);
    }
    eprintln!("mini-docker: {key} not here, pulling");
    crate::image::pull::pull(state_dir, text, platform)
}

/// Set or replace variables by name, in order.
pub fn merge_env(env: &mut Vec<(String, String)>, extra: &[(String, String)]) {
    for (key, value) in extra {
        match env.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.clone(),
            None => env.push((key.clone(), value.clone())),
        }
    }
}
