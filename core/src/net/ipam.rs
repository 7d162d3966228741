//! Address allocation on the bridge's subnet: one lease file per address,
//! taken under a lock, so concurrent containers never share an address.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context, Result};

use crate::sys::lock::FileLock;

/// An IPv4 subnet like 10.88.0.0/16.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subnet {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl FromStr for Subnet {
    type Err = anyhow::Error;
    fn from_str(text: &str) -> Result<Subnet> {
        let (addr, prefix) = text
            .split_once('/')
            .with_context(|| format!("subnet {text:?}: expected CIDR like 10.88.0.0/16"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .with_context(|| format!("subnet {text:?}: bad address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| (8..=30).contains(p))
            .with_context(|| format!("subnet {text:?}: prefix must be 8..30"))?;
        let mask = u32::MAX << (32 - prefix);
        Ok(Subnet {
            network: Ipv4Addr::from(u32::from(addr) & mask),
            prefix,
        })
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Subnet {
    /// The bridge's own address: the first host address.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }
    fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> {
        let first = u32::from(self.network) + 2;
        let broadcast = u32::from(self.network) | (u32::MAX >> self.prefix);
        (first..broadcast).map(Ipv4Addr::from)
    }
}

/// An address held by one container; the file is removed on release or drop.
#[derive(Debug)]
pub struct Lease {
    pub address: Ipv4Addr,
    path: PathBuf,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

pub fn leases_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("network").join("leases")
}

/// Take the lowest free address on `bridge`. `taken_elsewhere` lets the
/// caller veto an address another state dir uses (its host-side veth exists).
pub fn allocate(
    state_dir: &Path,
    subnet: Subnet,
    bridge: &str,
    owner: &str,
    taken_elsewhere: impl Fn(Ipv4Addr) -> bool,
) -> Result<Lease> {
    let dir = leases_dir(state_dir);
    fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let _lock = FileLock::exclusive(&state_dir.join("network").join("lock"))?;
    for address in subnet.hosts() {
        let path = dir.join(address.to_string());
        if path.exists() && !is_stale(&path) {
            continue;
        }
        if taken_elsewhere(address) {
            continue;
        }
        // "OWNER PID BRIDGE": who holds it, whether it still lives, and where.
        fs::write(&path, format!("{owner} {} {bridge}\n", std::process::id()))
            .with_context(|| format!("write {}", path.display()))?;
        return Ok(Lease { address, path });
    }
    bail!("no free address left in {subnet} (see {})", dir.display())
}

/// A lease whose holder (a mini-docker pid) is gone.
fn is_stale(path: &Path) -> bool {
    let holder = fs::read_to_string(path)
        .ok()
        .and_then(|t| t.split_whitespace().nth(1)?.parse::<i32>().ok());
    match holder {
        Some(pid) => {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
                == Err(nix::errno::Errno::ESRCH)
        }
        None => true,
    }
}

/// The bridge a lease file names, if it names one.
fn lease_bridge(path: &Path) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    text.split_whitespace().nth(2).map(str::to_string)
}

/// Remove leases whose holder died (cleanup); returns how many are still
/// held on `bridge` (a lease that names no bridge counts for every bridge).
pub fn prune_stale(state_dir: &Path, bridge: &str) -> usize {
    let Ok(entries) = fs::read_dir(leases_dir(state_dir)) else {
        return 0;
    };
    let mut held = 0;
    for entry in entries.flatten() {
        if is_stale(&entry.path()) {
            let _ = fs::remove_file(entry.path());
        } else if lease_bridge(&entry.path()).is_none_or(|on| on == bridge) {
            held += 1;
        }
    }
    held
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises_subnets() {
        let s: Subnet = "10.88.3.7/16".parse().unwrap();
        assert_eq!(s.network, Ipv4Addr::new(10, 88, 0, 0));
        assert_eq!(s.gateway(), Ipv4Addr::new(10, 88, 0, 1));
        assert_eq!(s.hosts().next(), Some(Ipv4Addr::new(10, 88, 0, 2)));
        assert_eq!(s.hosts().last(), Some(Ipv4Addr::new(10, 88, 255, 254)));
        for bad in ["10.88.0.0", "10.88.0.0/33", "x/16", "10.88.0.0/4"] {
            assert!(bad.parse::<Subnet>().is_err(), "{bad}");
        }
    }
}
