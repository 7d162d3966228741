//! Chapter 7's scaffold: which host ids a container's ids map to.

use std::fs;

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
