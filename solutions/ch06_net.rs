//! Chapter 6 — network namespace: interfaces, addresses and routes of its own.
//! Lesson: chapters/06-net.md

use anyhow::Result;
use nix::sched::CloneFlags;
use nix::unistd::Pid;

use crate::net::{Attachment, Netlink};

/// The clone(2) flag this chapter adds: a network stack of its own (only `lo`, down).
pub fn namespaces() -> CloneFlags {
    CloneFlags::CLONE_NEWNET
}

/// Host side, right after clone: plug the container into the bridge with a
/// veth pair — two interfaces joined by a virtual cable.
pub fn connect_to_bridge(host: &Netlink, container: Pid, link: &Attachment) -> Result<()> {
    host.create_veth(&link.host_end, &link.container_end)?;
    host.set_master(&link.host_end, &link.bridge)?; // the host end is a port of the bridge
    host.set_up(&link.host_end)?;
    host.move_to_netns(&link.container_end, container)?; // the other end goes inside
    Ok(())
}

/// Container side (a netlink socket inside the container's namespace):
/// bring up loopback; with a bridge, name the interface eth0, address it and
/// send everything else to the bridge.
pub fn configure_inside(inside: &Netlink, link: Option<&Attachment>) -> Result<()> {
    inside.set_up("lo")?; // a new netns has lo, but down: even 127.0.0.1 fails
    if let Some(link) = link {
        inside.rename(&link.container_end, "eth0")?;
        inside.add_address("eth0", link.address, link.prefix)?;
        inside.set_up("eth0")?;
        inside.add_default_route(link.gateway)?; // needs eth0 up and addressed first
    }
    Ok(())
}
