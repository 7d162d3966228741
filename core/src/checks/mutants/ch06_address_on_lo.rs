//! Mutant: the container's address goes on lo (the interface just brought up)
//! instead of eth0.
use anyhow::Result;
use mini_docker::net::{Attachment, Netlink};

pub fn configure_inside(inside: &Netlink, link: Option<&Attachment>) -> Result<()> {
    inside.set_up("lo")?;
    if let Some(link) = link {
        inside.rename(&link.peer, &link.container_end)?;
        inside.add_address("lo", link.address, link.prefix)?;
        inside.set_up(&link.container_end)?;
        inside.add_default_route(link.gateway)?;
    }
    Ok(())
}
