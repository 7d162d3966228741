//! Mutant: the address as a host address, /32: no subnet is on link, so the
//! gateway is unreachable and the kernel refuses the default route.
use anyhow::Result;
use mini_docker::net::{Attachment, Netlink};

pub fn configure_inside(inside: &Netlink, link: Option<&Attachment>) -> Result<()> {
    inside.set_up("lo")?;
    if let Some(link) = link {
        inside.rename(&link.peer, &link.container_end)?;
        inside.add_address(&link.container_end, link.address, 32)?;
        inside.set_up(&link.container_end)?;
        inside.add_default_route(link.gateway)?;
    }
    Ok(())
}
