//! Chapter 6 — network namespace: interfaces, addresses and routes of its own.
//! Lesson: chapters/06-net.md   Check: mini-docker check 6

use anyhow::Result;
use nix::sched::CloneFlags;
use nix::unistd::Pid;

use mini_docker::net::{Attachment, Netlink};

/// The clone(2) flag this chapter adds: a network stack of its own (only `lo`, down).
pub fn namespaces() -> CloneFlags {
    // TODO(ch06): return the network namespace flag.
    todo!("return CLONE_NEWNET")
}

/// Host side, right after clone: plug the container into the bridge with a
/// veth pair — two interfaces joined by a virtual cable. One end is created
/// straight inside the container's namespace, already named eth0.
pub fn connect_to_bridge(host: &Netlink, container: Pid, link: &Attachment) -> Result<()> {
    // TODO(ch06): with the methods of `host` (core/src/net/netlink.rs):
    //   1. create_veth_into(link.host_end, link.container_end, container)
    //      — the container's end is born inside its namespace, named eth0
    //   2. set_master(link.host_end, link.bridge)   — make it a port of the bridge
    //   3. set_up(link.host_end)
    todo!("create the veth pair into the container, attach it to the bridge")
}

/// Container side (a netlink socket inside the container's namespace):
/// bring up loopback; with a bridge, address eth0 and send everything else
/// to the bridge.
pub fn configure_inside(inside: &Netlink, link: Option<&Attachment>) -> Result<()> {
    // TODO(ch06): set_up("lo") always; then, if there is a link:
    //   add_address(container_end, address, prefix), set_up(container_end),
    //   add_default_route(gateway) — in that order.
    todo!("bring up lo, then eth0 with its address and default route")
}
