//! Mutant: "everyone uses /24" — a fixed prefix instead of the subnet's
//! (link.prefix, /16): the gateway is reachable, but every container beyond
//! 10.88.0.255 is sent to the gateway instead of straight across the bridge.
use anyhow::Result;
use mini_docker::net::{Attachment, Netlink};

pub fn configure_inside(inside: &Netlink, link: Option<&Attachment>) -> Result<()> {
    inside.set_up("lo")?;
    if let Some(link) = link {
        inside.rename(&link.peer, &link.container_end)?;
        inside.add_address(&link.container_end, link.address, 24)?;
        inside.set_up(&link.container_end)?;
        inside.add_default_route(link.gateway)?;
    }
    Ok(())
}
