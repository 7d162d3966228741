//! Mutant: make_mounts_private left out — on a shared / the container's mounts leak out.
use anyhow::Result;

pub fn make_mounts_private() -> Result<()> {
    Ok(())
}
