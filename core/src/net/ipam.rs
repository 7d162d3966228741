//! Address allocation on the bridge's subnet: one lease file per address,
//! taken under a lock, so concurrent containers never share an address.

use std::fs::{self, File};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context, Result};

use crate::sys::lock::FileLock;
use nix::fcntl::{Flock, FlockArg};

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
    /// An flock on the lease file while we live: a pid alone can mislead (in
    /// a PID namespace of its own — a check's sandbox — mini-docker is pid 2,
    /// which on the host is kthreadd, forever alive).
    _held: Flock<File>,
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
        // "OWNER PID BRIDGE locked": who holds it, where, and that its
        // holder keeps it flock()ed while it lives.
        let text = format!("{owner} {} {bridge} {LOCKED}\n", std::process::id());
        let held = write_locked(&path, &text)?;
        return Ok(Lease {
            address,
            path,
            _held: held,
        });
    }
    bail!("no free address left in {subnet} (see {})", dir.display())
}

/// The fourth field of a lease whose holder keeps it flock()ed while it lives.
const LOCKED: &str = "locked";

/// Create the lease file, lock it, then write it: nobody sees it unlocked.
fn write_locked(path: &Path, text: &str) -> Result<Flock<File>> {
    let file = File::create(path).with_context(|| format!("create {}", path.display()))?;
    let mut held = Flock::lock(file, FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| anyhow::anyhow!("lock {}: {e}", path.display()))?;
    held.write_all(text.as_bytes())
        .with_context(|| format!("write {}", path.display()))?;
    Ok(held)
}

/// A lease whose holder is gone: its lock is free (leases written by older
/// versions carry no lock: their holder's pid is gone).
fn is_stale(path: &Path) -> bool {
    let text = fs::read_to_string(path).unwrap_or_default();
    if text.split_whitespace().nth(3) == Some(LOCKED) {
        return match File::open(path) {
            Ok(file) => Flock::lock(file, FlockArg::LockExclusiveNonblock).is_ok(),
            Err(_) => true,
        };
    }
    let holder = text
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<i32>().ok());
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

    /// In a check's sandbox mini-docker is pid 2 — alive on the host as
    /// kthreadd: a killed holder's lease must still be seen as stale.
    #[test]
    fn a_lease_is_stale_once_its_lock_is_free_whatever_its_pid() {
        let dir = std::env::temp_dir().join(format!("ipam-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("10.88.0.2");
        let held = write_locked(&path, &format!("c1 2 mdk0 {LOCKED}\n")).unwrap();
        assert!(!is_stale(&path), "a lease whose lock is held is not stale");
        drop(held); // the holder died (SIGKILL drops the lock the same way)
        assert!(
            is_stale(&path),
            "pid 2 is alive, but the lock is free: stale"
        );
        fs::write(&path, "c1 1\n").unwrap(); // an older version's lease: pid 1 lives
        assert!(!is_stale(&path));
        fs::remove_dir_all(&dir).unwrap();
    }

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
