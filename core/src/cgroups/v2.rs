//! cgroup v2: one tree at /sys/fs/cgroup. A controller is usable in a cgroup
//! only if its parent lists it in cgroup.subtree_control, and a cgroup that
//! hands controllers down may hold no processes itself ("no internal
//! processes"): so containers live in mini-docker/ID, and mini-docker/ stays empty.
//! Creating, joining, reading the OOM count and removing are chapter 8's
//! steps (exercises/ch08_cgroups.rs); this file keeps the driver's plumbing.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{open_for_entry, write_file, Cgroup, Driver, FastEntry, Limits};

/// Where the cgroup2 tree is mounted.
pub const ROOT: &str = "/sys/fs/cgroup";
/// The controllers a container's limits need.
pub const CONTROLLERS: [&str; 3] = ["memory", "pids", "cpu"];

pub struct CgroupV2 {
    /// This container's directory (ROOT/mini-docker/ID).
    pub dir: PathBuf,
}

impl CgroupV2 {
    /// Write `value` to the control file `name` of this cgroup.
    pub fn write(&self, name: &str, value: &str) -> Result<()> {
        write_file(&self.dir.join(name), value)
    }

    /// The content of the control file `name` of this cgroup.
    pub fn read(&self, name: &str) -> Result<String> {
        let path = self.dir.join(name);
        fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))
    }
}

/// Which of `CONTROLLERS` `cgroup` could hand down to its children
/// (its cgroup.controllers lists them) but does not yet (its
/// cgroup.subtree_control does not).
pub fn missing_controllers(cgroup: &Path) -> Vec<&'static str> {
    let words = |file: &str| -> Vec<String> {
        fs::read_to_string(cgroup.join(file))
            .unwrap_or_default()
            .split_whitespace()
            .map(|w| w.trim_start_matches('+').to_string())
            .collect()
    };
    let (enabled, available) = (words("cgroup.subtree_control"), words("cgroup.controllers"));
    CONTROLLERS
        .into_iter()
        .filter(|c| !enabled.iter().any(|e| e == c))
        .filter(|c| available.iter().any(|a| a == c))
        .collect()
}

impl Cgroup for CgroupV2 {
    fn describe(&self) -> String {
        self.dir.display().to_string()
    }

    fn driver(&self) -> Driver<'_> {
        Driver::V2(self)
    }

    fn after_limits(&self, limits: &Limits) -> Result<()> {
        if limits.memory_bytes.is_some() && self.dir.join("memory.swap.max").exists() {
            self.write("memory.swap.max", "0")?; // the limit means RAM, not RAM + swap
        }
        Ok(())
    }

    /// clone3(CLONE_INTO_CGROUP): the child is born here.
    fn fast_entry(&self) -> Result<FastEntry> {
        Ok(FastEntry::BornInto(open_for_entry(&self.dir, true)?))
    }

    fn dirs(&self) -> Vec<PathBuf> {
        vec![self.dir.clone()]
    }
}
