//! Mutant: the veth is made and brought up, but its host end never joins the
//! bridge (no set_master): the cable hangs loose on the host side.
use anyhow::Result;
use mini_docker::net::{Attachment, Netlink};
use nix::unistd::Pid;

pub fn connect_to_bridge(host: &Netlink, container: Pid, link: &Attachment) -> Result<()> {
    host.create_veth(&link.host_end, &link.peer)?;
    host.move_to_netns(&link.peer, container)?;
    host.set_up(&link.host_end)?;
    Ok(())
}
