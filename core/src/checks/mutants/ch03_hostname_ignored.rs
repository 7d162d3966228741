//! Mutant: set_hostname does nothing — the container keeps the host's name.
use anyhow::Result;

pub fn set_hostname(_name: &str) -> Result<()> {
    Ok(())
}
