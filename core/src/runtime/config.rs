//! What the inside is told: everything it needs to build the container.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::volumes::Volume;
use crate::net::NetworkMode;
use crate::selection::Selection;
use crate::userns::IdMap;

/// Everything the inside needs to build the container (sent as `ToInside::Config`).
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
    /// Chapter 11+: docker's defaults, changed by the security flags.
    pub hardening: Option<crate::security::Hardening>,
}

impl ContainerConfig {
    pub fn has(&self, chapter: u8) -> bool {
        self.chapter >= chapter
    }
}

/// What a container's command sees by default (what docker sets, too):
/// nothing from the caller's environment. TERM only with a terminal (`-t`),
/// and HOME is set inside, from the container's /etc/passwd (inside.rs).
pub fn default_env(hostname: &str, tty: bool) -> Vec<(String, String)> {
    let mut env = vec![
        (
            "PATH".into(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        ),
        ("HOSTNAME".into(), hostname.into()),
    ];
    if tty {
        env.push(("TERM".into(), "xterm".into()));
    }
    env
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
