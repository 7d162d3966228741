//! The stepwise container runtime: `mini-docker chapter N run -- CMD`.
//!
//! Two processes matter:
//! - the **supervisor** (this process, on the host) clones the container's first
//!   process, forwards stop signals to it and waits for it (`supervisor.rs`);
//! - the **init** (the clone, re-executed as `/proc/self/exe __init`) builds the
//!   container from the inside, chapter by chapter, then execs the command (`init.rs`).
//!
//! Why re-exec: the supervisor may have threads (signal forwarding now, HTTP and
//! progress bars later); a forked copy of a threaded process may deadlock on a lock
//! held by a thread that no longer exists. A fresh exec starts single-threaded.

pub mod dev;
pub mod explain;
pub mod init;
pub mod inroot;
pub mod spawn;
pub mod supervisor;

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

/// STATE_DIR/containers/ID: files of one running container; removed when it ends.
pub struct ContainerDir(PathBuf);

impl ContainerDir {
    pub fn create(state_dir: &std::path::Path, id: &str) -> anyhow::Result<ContainerDir> {
        use anyhow::Context;
        let dir = state_dir.join("containers").join(id);
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        std::fs::write(dir.join("supervisor.pid"), std::process::id().to_string())?;
        Ok(ContainerDir(dir))
    }
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for ContainerDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Remove the dirs of containers whose mini-docker is gone (killed with SIGKILL).
pub fn prune_container_dirs(state_dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(state_dir.join("containers")) else {
        return;
    };
    for entry in entries.flatten() {
        let pid = std::fs::read_to_string(entry.path().join("supervisor.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok());
        let alive = pid
            .is_some_and(|p| nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None).is_ok());
        if !alive {
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
