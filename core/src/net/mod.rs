//! Chapter 6's scaffold: the host side of a container's network.
//!
//! Before clone: make sure the bridge (and NAT) exist, lease an address, bind
//! published ports. After clone, while the init waits for its config: the
//! learner's steps plug the veth in and configure the inside. When the
//! container ends, the kernel deletes the veth with its network namespace and
//! the lease is released.

pub mod files;
pub mod ipam;
pub mod nat;
pub mod netlink;
pub mod proxy;

use std::net::Ipv4Addr;
use std::path::Path;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

pub use netlink::Netlink;

use crate::sys::lock::FileLock;
use ipam::{Lease, Subnet};
use proxy::{Listeners, PortMap};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum NetworkMode {
    /// Own network namespace with only loopback
    None,
    /// Own namespace, a veth on the host bridge, NAT out (the default)
    Bridge,
    /// The host's network namespace
    Host,
}

/// One container's place on the bridge: what the chapter 6 steps wire up.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Attachment {
    pub bridge: String,
    /// The veth end that stays on the host, a port of the bridge.
    pub host_end: String,
    /// The container's veth end while it is still on the host: created with
    /// this name (names are global on the host, and the host may have an eth0),
    /// then moved into the container's namespace and renamed there.
    pub peer: String,
    /// The name of the container's end once inside: eth0.
    pub container_end: String,
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
}

pub struct NetworkOptions {
    pub mode: NetworkMode,
    pub bridge: String,
    pub subnet: Subnet,
    pub publish: Vec<PortMap>,
}

/// The host-side resources of one container's network, released on drop.
pub struct HostNetwork {
    pub attachment: Option<Attachment>,
    host: Option<Netlink>,
    listeners: Option<Listeners>,
    _lease: Option<Lease>,
}

impl HostNetwork {
    /// Before clone: everything that can fail early, fails here.
    pub fn prepare(state_dir: &Path, owner: &str, options: &NetworkOptions) -> Result<HostNetwork> {
        if options.mode != NetworkMode::Bridge {
            if !options.publish.is_empty() {
                bail!("-p needs --network bridge (a published port is forwarded to the container's bridge address)");
            }
            return Ok(HostNetwork {
                attachment: None,
                host: None,
                listeners: None,
                _lease: None,
            });
        }
        nat::check_bridge_name(&options.bridge)?;
        let listeners = proxy::bind(&options.publish)?;
        let host = Netlink::open()?;
        ensure_bridge(&host, state_dir, options)?;
        // A pair left by a mini-docker killed mid-connect keeps its address out.
        let lease = ipam::allocate(state_dir, options.subnet, &options.bridge, owner, |ip| {
            host.exists(&veth_name("mdv", ip)) || host.exists(&veth_name("mdp", ip))
        })?;
        let attachment = Attachment {
            bridge: options.bridge.clone(),
            host_end: veth_name("mdv", lease.address),
            peer: veth_name("mdp", lease.address),
            container_end: "eth0".to_string(),
            address: lease.address,
            prefix: options.subnet.prefix,
            gateway: options.subnet.gateway(),
        };
        Ok(HostNetwork {
            attachment: Some(attachment),
            host: Some(host),
            listeners: Some(listeners),
            _lease: Some(lease),
        })
    }

    /// After clone, for chapter 6's host-side step (`connect_to_bridge`):
    /// the host's netlink and the container's place on the bridge, if any.
    pub fn bridge_port(&self) -> Option<(&Netlink, &Attachment)> {
        self.host.as_ref().zip(self.attachment.as_ref())
    }

    /// After clone: chapter 6's host-side step, then what it must have left
    /// behind — the pair on the bridge, the container's end gone from the host.
    /// A pair still whole on the host would outlive the container (the kernel
    /// deletes it only with the container's namespace): it is deleted, and the
    /// start fails saying why.
    pub fn connect(&self, step: impl FnOnce(&Netlink, &Attachment) -> Result<()>) -> Result<()> {
        let Some((host, link)) = self.bridge_port() else {
            return Ok(());
        };
        let connected = step(host, link);
        let stranded = host.exists(&link.peer);
        if connected.is_err() || stranded {
            // Deleting either end deletes both.
            let _ = host.delete(&link.host_end);
            let _ = host.delete(&link.peer);
        }
        connected?;
        if stranded {
            bail!(
                "the container's end of the veth, {}, is still in the host's network namespace: connect_to_bridge must move it into the container's (chapters/06-net.md, \"Step by step\")",
                link.peer
            );
        }
        Ok(())
    }

    /// Once the container runs: forward published ports to it.
    pub fn serve_ports(&mut self) {
        if let (Some(listeners), Some(link)) = (self.listeners.take(), &self.attachment) {
            proxy::serve(listeners, link.address);
        }
    }

    pub fn address(&self) -> Option<Ipv4Addr> {
        self.attachment.as_ref().map(|a| a.address)
    }
}

// No Drop for the veth: when the container's network namespace dies with its
// last process, the kernel deletes both ends of the pair. Deleting it here
// would make every exit wait ~30 ms for the network stack (RCU), and a
// SIGKILLed mini-docker could not do it anyway. The lease is released by its
// own Drop; a new container seeing the old veth still there takes another address.
//
// Nor do we wait for the kernel: the namespace is torn down asynchronously,
// so the host end is still listed for a moment after `run --rm` returns
// (13-43 ms here, up to ~0.2 s on a busy host). Waiting for it measured
// 37-43 ms per `run -- true` against 19-20 ms without (median of 30, twice):
// twice the cost of every run for the sake of a rare `cleanup`. So `cleanup`
// gives a port a second to go before it calls it in use (`ports_in_use`), and
// the tests' HostSnapshot gives interfaces two.

/// Interface names are global on the host and at most 15 bytes: a prefix and
/// the address in hex, e.g. mdv0a580002 for 10.88.0.2.
pub fn veth_name(prefix: &str, address: Ipv4Addr) -> String {
    format!("{prefix}{:08x}", u32::from(address))
}

/// The bridge (and NAT) are made once; later containers only look them up.
fn ensure_bridge(host: &Netlink, state_dir: &Path, options: &NetworkOptions) -> Result<()> {
    if host.exists(&options.bridge) {
        return Ok(());
    }
    let _lock = FileLock::exclusive(&state_dir.join("network").join("lock"))?;
    if !host.exists(&options.bridge) {
        refuse_overlap(options.subnet)?;
        // Another state dir may win the race: "exists" is success too.
        let _ = host.create_bridge(&options.bridge);
        let _ = host.add_address(
            &options.bridge,
            options.subnet.gateway(),
            options.subnet.prefix,
        );
        host.set_up(&options.bridge)?;
        nat::enable(host, options.subnet, &options.bridge)?;
    }
    Ok(())
}

/// A bridge subnet that overlaps a host route would cut the host off from
/// that network: refuse it, once, when the bridge is made.
pub fn refuse_overlap(subnet: Subnet) -> Result<()> {
    let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    let ours = (u32::from(subnet.network), u32::MAX << (32 - subnet.prefix));
    for line in routes.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let hex = |i: usize| {
            f.get(i)
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .map(|v| u32::from_be_bytes(v.to_le_bytes()))
        };
        let (Some(dest), Some(mask)) = (hex(1), hex(7)) else {
            continue;
        };
        if mask == 0 {
            continue; // the default route overlaps everything
        }
        let common = mask & ours.1;
        if dest & common == ours.0 & common {
            bail!("--subnet {subnet} overlaps the host's network {}/{} on {}: choose another --subnet", Ipv4Addr::from(dest), mask.count_ones(), f[0]);
        }
    }
    Ok(())
}

/// `mini-docker cleanup`: with no container on it, remove the bridge and its
/// NAT table; other bridges and their tables stay.
pub fn cleanup(state_dir: &Path, bridge: &str) -> Result<Vec<String>> {
    nat::check_bridge_name(bridge)?;
    let mut done = Vec::new();
    let held = ipam::prune_stale(state_dir, bridge);
    if held > 0 {
        bail!("{held} container(s) still hold addresses on {bridge}: stop them first");
    }
    let host = Netlink::open()?;
    if host.exists(bridge) {
        // Leases are per state dir; the bridge's ports show every container
        // on it, whichever state dir started it.
        let ports = ports_in_use(&host, bridge)?;
        if !ports.is_empty() {
            bail!("{} container(s) still use {bridge} (ports {}), maybe from another state dir: stop them first", ports.len(), ports.join(", "));
        }
    }
    done.extend(nat::disable(&host, bridge)?);
    if host.exists(bridge) {
        host.delete(bridge)?;
        done.push(format!("removed bridge {bridge}"));
    }
    Ok(done)
}

/// The bridge's ports that belong to running containers. A container's veth
/// outlives it by a moment — the kernel deletes it with the namespace,
/// asynchronously (see the note above `veth_name`) — so ports that go within a
/// second were dying, and the ones still there are in use.
fn ports_in_use(host: &Netlink, bridge: &str) -> Result<Vec<String>> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        let ports = host.ports(bridge)?;
        if ports.is_empty() || std::time::Instant::now() >= deadline {
            return Ok(ports);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
