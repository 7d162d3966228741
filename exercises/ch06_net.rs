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
/// veth pair — two interfaces joined by a virtual cable. One end is created
/// straight inside the container's namespace, already named eth0.
pub fn connect_to_bridge(host: &Netlink, container: Pid, link: &Attachment) -> Result<()> {
    // TODO(ch06): from the host's side: a virtual cable whose one end is born in
    //             the container's network namespace (as `link.container_end`),
    //             the other end plugged into the bridge and up. The netlink
    //             facade in core/src/net/netlink.rs has what you need; man 4 veth;
    //             lesson: "Step by step", steps 1-3.
    todo!("connect_to_bridge — chapters/06-net.md, \"Step by step\"")
}

/// Container side (a netlink socket inside the container's namespace):
/// bring up loopback; with a bridge, address eth0 and send everything else
/// to the bridge.
pub fn configure_inside(inside: &Netlink, link: Option<&Attachment>) -> Result<()> {
    // TODO(ch06): from inside: loopback always works; with a link, eth0 gets its
    //             address, comes up and sends everything non-local to the
    //             gateway. The order matters (lesson: "Step by step", steps 4-6,
    //             and the pitfall); man 8 ip-route for the idea.
    todo!("configure_inside — chapters/06-net.md, \"Step by step\"")
}
