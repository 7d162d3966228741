//! Mutant: lo is brought up only with a bridge (inside the `if let`): with
//! `--network none` the container's loopback stays down.
use anyhow::Result;
use mini_docker::net::{Attachment, Netlink};

pub fn configure_inside(inside: &Netlink, link: Option<&Attachment>) -> Result<()> {
    if let Some(link) = link {
        inside.set_up("lo")?;
        inside.rename(&link.peer, &link.container_end)?;
        inside.add_address(&link.container_end, link.address, link.prefix)?;
        inside.set_up(&link.container_end)?;
        inside.add_default_route(link.gateway)?;
    }
    Ok(())
}
