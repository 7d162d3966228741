//! Mutant: a fixed hostname instead of the requested one.
use anyhow::{Context, Result};

pub fn set_hostname(_name: &str) -> Result<()> {
    nix::unistd::sethostname("container").context("sethostname")
}
