//! Mutant: MS_PRIVATE instead of MS_SLAVE — the host's later mounts never reach the container.
use anyhow::{Context, Result};
use nix::mount::{mount, MsFlags};

pub fn make_mounts_private() -> Result<()> {
    let flags = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
    mount(None::<&str>, "/", None::<&str>, flags, None::<&str>).context("make / rprivate")
}
