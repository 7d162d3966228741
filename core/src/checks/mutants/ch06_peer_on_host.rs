//! Mutant: the pair is made and the host end plugged in, but the peer is never
//! moved: both ends stay in the host's namespace, and the container has no
//! cable (nor would the kernel ever delete the pair).
use anyhow::Result;
use mini_docker::net::{Attachment, Netlink};
use nix::unistd::Pid;

pub fn connect_to_bridge(host: &Netlink, _container: Pid, link: &Attachment) -> Result<()> {
    host.create_veth(&link.host_end, &link.peer)?;
    host.set_master(&link.host_end, &link.bridge)?;
    host.set_up(&link.host_end)?;
    Ok(())
}
