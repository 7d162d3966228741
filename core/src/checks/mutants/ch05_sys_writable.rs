//! Mutant: sysfs mounted read-write — the container could change the host's devices.
use std::path::Path;

use anyhow::{Context, Result};
use nix::mount::{mount, MsFlags};

pub fn mount_sys(target: &Path) -> Result<()> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("sysfs"), target, Some("sysfs"), flags, None::<&str>).context("mount sysfs")
}
