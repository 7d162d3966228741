//! Mutant: the host end joins the bridge but is never brought up: eth0 looks
//! fine inside, yet no packet crosses the cable.
use anyhow::Result;
use mini_docker::net::{Attachment, Netlink};
use nix::unistd::Pid;

pub fn connect_to_bridge(host: &Netlink, container: Pid, link: &Attachment) -> Result<()> {
    host.create_veth(&link.host_end, &link.peer)?;
    host.move_to_netns(&link.peer, container)?;
    host.set_master(&link.host_end, &link.bridge)?;
    Ok(())
}
