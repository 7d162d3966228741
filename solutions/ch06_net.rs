//! Chapter 6 — network namespace: interfaces, addresses and routes of its own.
//! Lesson: chapters/06-net.md

use anyhow::Result;
use nix::sched::CloneFlags;
use nix::unistd::Pid;

use mini_docker::net::{Attachment, Netlink};

/// The clone(2) flag this chapter adds: a network stack of its own (only `lo`, down).
pub fn namespaces() -> CloneFlags {
    CloneFlags::CLONE_NEWNET
}

/// Host side, right after clone: plug the container into the bridge with a
/// veth pair — two interfaces joined by a virtual cable. One end is created
/// straight inside the container's namespace, already named eth0.
pub fn connect_to_bridge(host: &Netlink, container: Pid, link: &Attachment) -> Result<()> {
    host.create_veth_into(&link.host_end, &link.container_end, container)?;
    host.set_master(&link.host_end, &link.bridge)?; // the host end is a port of the bridge
    host.set_up(&link.host_end)?;
    Ok(())
}

/// Container side (a netlink socket inside the container's namespace):
/// bring up loopback; with a bridge, address eth0 and send everything else
/// to the bridge.
pub fn configure_inside(inside: &Netlink, link: Option<&Attachment>) -> Result<()> {
    inside.set_up("lo")?; // a new netns has lo, but down: even 127.0.0.1 fails
    if let Some(link) = link {
        inside.add_address(&link.container_end, link.address, link.prefix)?;
        inside.set_up(&link.container_end)?;
        inside.add_default_route(link.gateway)?; // needs eth0 up and addressed first
    }
    Ok(())
}
