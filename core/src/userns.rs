//! Chapter 7's scaffold: which host ids a container's ids map to.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::{bail, Result};

use serde::{Deserialize, Serialize};

/// Container ids 0..count are host ids host_uid.. / host_gid...
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMap {
    pub host_uid: u32,
    pub host_gid: u32,
    pub count: u32,
    /// Rootless: gid_map needs setgroups(2) switched off first.
    pub deny_setgroups: bool,
}

impl IdMap {
    /// As root: an unprivileged range, from /etc/subuid and /etc/subgid's
    /// `root` line if there is one, else 100000:65536 (docker's userns-remap).
    pub fn remapped_root() -> IdMap {
        let (host_uid, count) = subid_range("/etc/subuid").unwrap_or((100_000, 65_536));
        let (host_gid, gid_count) = subid_range("/etc/subgid").unwrap_or((100_000, 65_536));
        IdMap {
            host_uid,
            host_gid,
            count: count.min(gid_count),
            deny_setgroups: false,
        }
    }

    /// Rootless: only our own uid and gid, as the container's root.
    pub fn rootless() -> IdMap {
        let (uid, gid) = (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        );
        IdMap {
            host_uid: uid,
            host_gid: gid,
            count: 1,
            deny_setgroups: true,
        }
    }

    /// Is container gid `gid` mapped (devpts wants gid 5, tty)?
    pub fn maps_gid(&self, gid: u32) -> bool {
        gid < self.count
    }

    /// Can the container's root look up names in this host directory? It
    /// is a plain host uid out here: its capabilities cover only files whose
    /// owner and group are both in the map, else the mode bits decide.
    fn can_enter(&self, dir: &fs::Metadata) -> bool {
        let mapped = |id: u32, start: u32| id.checked_sub(start).is_some_and(|n| n < self.count);
        let (uid_mapped, gid_mapped) = (
            mapped(dir.uid(), self.host_uid),
            mapped(dir.gid(), self.host_gid),
        );
        let bit = match () {
            _ if uid_mapped && gid_mapped => return true,
            _ if uid_mapped => 0o100,
            _ if dir.gid() == self.host_gid => 0o010,
            _ => 0o001,
        };
        dir.mode() & bit != 0
    }

    /// The container's root opens `path` (its rootfs, a `-v` source, the
    /// state dir's layers) from inside its namespace: every directory on the
    /// way must let it through. Refused up front, in one line that names the
    /// directory, rather than as EACCES from deep inside the container start.
    pub fn refuse_closed_dirs(&self, what: &str, path: &Path) -> Result<()> {
        let mut ancestors: Vec<&Path> = path.ancestors().collect();
        ancestors.reverse();
        for dir in ancestors {
            let Ok(meta) = fs::metadata(dir) else {
                return Ok(()); // not made yet: mini-docker makes it 0755
            };
            if meta.is_dir() && !self.can_enter(&meta) {
                bail!(
                    "{what} {}: the container's root (host uid {}) cannot enter {} (mode {:o}): \
                     `chmod o+x {}` lets it in, or use another directory",
                    path.display(),
                    self.host_uid,
                    dir.display(),
                    meta.mode() & 0o7777,
                    dir.display()
                );
            }
        }
        Ok(())
    }
}

fn subid_range(path: &str) -> Option<(u32, u32)> {
    let text = fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != "root" {
            return None;
        }
        Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
    })
}
