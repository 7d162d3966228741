//! Mutant: a fixed address (the first one of the subnet) instead of the one
//! the scaffold allocated: every container gets 10.88.0.2.
use std::net::Ipv4Addr;

use anyhow::Result;
use mini_docker::net::{Attachment, Netlink};

pub fn configure_inside(inside: &Netlink, link: Option<&Attachment>) -> Result<()> {
    inside.set_up("lo")?;
    if let Some(link) = link {
        inside.rename(&link.peer, &link.container_end)?;
        inside.add_address(
            &link.container_end,
            Ipv4Addr::new(10, 88, 0, 2),
            link.prefix,
        )?;
        inside.set_up(&link.container_end)?;
        inside.add_default_route(link.gateway)?;
    }
    Ok(())
}
