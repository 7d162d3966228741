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
/// veth pair — two interfaces joined by a virtual cable. One end stays on the
/// host as a port of the bridge; the other moves into the container.
pub fn connect_to_bridge(host: &Netlink, container: Pid, link: &Attachment) -> Result<()> {
    // Steps 1 and 2 in one message: the pair is created with the container's
    // end born in the container's namespace (`ip link add ... peer name ...
    // netns PID`), under a unique name for now (eth0 comes inside). From then
    // on only the container sees that end, and the kernel deletes the pair
    // when that namespace dies. Creating both ends here and then calling
    // `move_to_netns` works too, but a move unregisters the device and waits
    // for the network stack (an RCU grace period): ~30 ms on every start.
    host.create_veth_into(&link.host_end, &link.peer, container)?;
    host.set_master(&link.host_end, &link.bridge)?; // a port of the bridge
    host.set_up(&link.host_end)?; // no carrier unless both ends are up
    Ok(())
}

/// Container side (a netlink socket inside the container's namespace):
/// bring up loopback; with a bridge, name the moved end eth0, address it and
/// send everything else to the bridge.
pub fn configure_inside(inside: &Netlink, link: Option<&Attachment>) -> Result<()> {
    inside.set_up("lo")?; // a new netns has lo, but down: even 127.0.0.1 fails
    if let Some(link) = link {
        // eth0 is free in here. Rename while it is down: older kernels
        // refuse to rename an interface that is up (EBUSY).
        inside.rename(&link.peer, &link.container_end)?;
        // The prefix makes the bridge's subnet, gateway included, "on link".
        inside.add_address(&link.container_end, link.address, link.prefix)?;
        inside.set_up(&link.container_end)?;
        inside.add_default_route(link.gateway)?; // needs eth0 up and addressed first
    }
    Ok(())
}
