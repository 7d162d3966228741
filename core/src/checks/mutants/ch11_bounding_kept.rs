//! Mutant: permitted and effective reduced to docker's 14, the bounding set
//! left whole — a setuid-root or file-capability exec gets everything back.
use anyhow::{Context, Result};
use caps::CapSet;

use mini_docker::security::caps::Capabilities;

pub fn limit_capabilities(keep: &Capabilities) -> Result<()> {
    caps::clear(None, CapSet::Ambient).context("clear the ambient set")?;
    caps::set(None, CapSet::Inheritable, &Capabilities::new())
        .context("clear the inheritable set")?;
    caps::set(None, CapSet::Effective, keep).context("set the effective set")?;
    caps::set(None, CapSet::Permitted, keep).context("set the permitted set")?;
    Ok(())
}
