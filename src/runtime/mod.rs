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
pub mod spawn;
pub mod supervisor;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::selection::Selection;

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
