//! Chapter 6 — network namespace: interfaces, addresses and routes of its own.
//! Lesson: chapters/06-net.md   Check: mini-docker check 6

use anyhow::Result;
use nix::sched::CloneFlags;
use nix::unistd::Pid;

use mini_docker::net::{Attachment, Netlink};

/// The clone(2) flag this chapter adds: a network stack of its own (only `lo`, down).
pub fn namespaces() -> CloneFlags {
    // TODO(ch06): return the flag for a network stack of the child's own.
    //             man 7 network_namespaces.
    todo!("namespaces — chapters/06-net.md, \"A network stack of its own\"")
}

/// Host side, right after clone: plug the container into the bridge with a
/// veth pair — two interfaces joined by a virtual cable. One end stays on the
/// host as a port of the bridge; the other moves into the container.
pub fn connect_to_bridge(host: &Netlink, container: Pid, link: &Attachment) -> Result<()> {
    // TODO(ch06): with the host's netlink socket, lay the cable:
    //             - a veth pair exists whose ends are `link.host_end` and
    //               `link.peer` (names are global on the host: why not eth0?);
    //             - the peer end leaves the host for the network namespace of
    //               process `container` — and only that end;
    //             - the host end is a port of `link.bridge`, and carries packets.
    //             What each `Netlink` method does: core/src/net/netlink.rs.
    //             man 4 veth, man 7 rtnetlink, ip-link(8) ("netns", "master");
    //             lesson: "Step by step", steps 1-4.
    todo!("connect_to_bridge — chapters/06-net.md, \"Step by step\"")
}

/// Container side (a netlink socket inside the container's namespace):
/// bring up loopback; with a bridge, name the moved end eth0, address it and
/// send everything else to the bridge.
pub fn configure_inside(inside: &Netlink, link: Option<&Attachment>) -> Result<()> {
    // TODO(ch06): from inside, in every mode with a namespace of its own, the
    //             loopback works. With a `link`: the end that arrived as
    //             `link.peer` is called `link.container_end`, holds
    //             `link.address` on the bridge's subnet (`link.prefix`), carries
    //             packets, and everything non-local goes via `link.gateway`.
    //             The kernel refuses some of these in the wrong order: lesson
    //             "Step by step", steps 5-9, and "The pitfall"; ip-link(8)
    //             ("name"), ip-address(8), ip-route(8).
    todo!("configure_inside — chapters/06-net.md, \"Step by step\"")
}
