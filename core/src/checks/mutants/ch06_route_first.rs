//! Mutant: the default route is added first, before eth0 has its address and
//! is up: the gateway is not reachable yet, the kernel refuses the route.
use anyhow::Result;
use mini_docker::net::{Attachment, Netlink};

pub fn configure_inside(inside: &Netlink, link: Option<&Attachment>) -> Result<()> {
    inside.set_up("lo")?;
    if let Some(link) = link {
        inside.rename(&link.peer, &link.container_end)?;
        inside.add_default_route(link.gateway)?;
        inside.add_address(&link.container_end, link.address, link.prefix)?;
        inside.set_up(&link.container_end)?;
    }
    Ok(())
}
