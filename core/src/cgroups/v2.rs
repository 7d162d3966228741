//! cgroup v2: one tree at /sys/fs/cgroup. A controller is usable in a cgroup
//! only if its parent lists it in cgroup.subtree_control, and a cgroup that
//! hands controllers down may hold no processes itself ("no internal
//! processes"): so containers live in mini-docker/ID, and mini-docker/ stays empty.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nix::unistd::Pid;

use super::{
    keyed_value, open_for_entry, remove_dir_retrying, write_file, Cgroup, Driver, FastEntry,
    Limits, PARENT,
};

const ROOT: &str = "/sys/fs/cgroup";
const CONTROLLERS: [&str; 3] = ["memory", "pids", "cpu"];

pub struct CgroupV2 {
    pub dir: PathBuf,
}

impl CgroupV2 {
    pub fn create(id: &str) -> Result<CgroupV2> {
        let root = Path::new(ROOT);
        let parent = root.join(PARENT);
        enable_controllers(root)?; // usually done by systemd already; only what is missing
        fs::create_dir_all(&parent).with_context(|| format!("create {}", parent.display()))?;
        enable_controllers(&parent)?;
        let dir = parent.join(id);
        fs::create_dir(&dir).with_context(|| format!("create {}", dir.display()))?;
        Ok(CgroupV2 { dir })
    }

    /// Write `value` to the control file `name` of this cgroup.
    pub fn write(&self, name: &str, value: &str) -> Result<()> {
        write_file(&self.dir.join(name), value)
    }
}

/// Add memory, pids and cpu to `cgroup`'s subtree_control where missing.
fn enable_controllers(cgroup: &Path) -> Result<()> {
    let enabled = fs::read_to_string(cgroup.join("cgroup.subtree_control")).unwrap_or_default();
    let available = fs::read_to_string(cgroup.join("cgroup.controllers")).unwrap_or_default();
    let missing: Vec<String> = CONTROLLERS
        .iter()
        .filter(|c| !enabled.split_whitespace().any(|e| e == **c))
        .filter(|c| available.split_whitespace().any(|a| a == **c))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    write_file(&cgroup.join("cgroup.subtree_control"), &missing.join(" "))
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

    fn add_process(&self, pid: Pid) -> Result<()> {
        self.write("cgroup.procs", &pid.to_string())
    }

    /// clone3(CLONE_INTO_CGROUP): the child is born here.
    fn fast_entry(&self) -> Result<FastEntry> {
        Ok(FastEntry::BornInto(open_for_entry(&self.dir, true)?))
    }

    fn oom_kills(&self) -> u64 {
        keyed_value(&self.dir.join("memory.events"), "oom_kill").unwrap_or(0)
    }

    fn remove(&self) -> Result<()> {
        remove_dir_retrying(&self.dir)
    }
}
