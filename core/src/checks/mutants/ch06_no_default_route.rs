//! Mutant: eth0 named, addressed and up, but no default route: the bridge's
//! subnet is reachable, nothing beyond it.
use anyhow::Result;
use mini_docker::net::{Attachment, Netlink};

pub fn configure_inside(inside: &Netlink, link: Option<&Attachment>) -> Result<()> {
    inside.set_up("lo")?;
    if let Some(link) = link {
        inside.rename(&link.peer, &link.container_end)?;
        inside.add_address(&link.container_end, link.address, link.prefix)?;
        inside.set_up(&link.container_end)?;
    }
    Ok(())
}
