//! Mutant: the moved end is configured under the name it arrived with
//! (mdp…): it works, but the container has no eth0 — what every image's
//! scripts and the lesson expect.
use anyhow::Result;
use mini_docker::net::{Attachment, Netlink};

pub fn configure_inside(inside: &Netlink, link: Option<&Attachment>) -> Result<()> {
    inside.set_up("lo")?;
    if let Some(link) = link {
        inside.add_address(&link.peer, link.address, link.prefix)?;
        inside.set_up(&link.peer)?;
        inside.add_default_route(link.gateway)?;
    }
    Ok(())
}
