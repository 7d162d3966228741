//! Mutant: the controllers are handed down bottom-up — mini-docker's
//! subtree_control first, then the root's (the kernel refuses a controller
//! the parent does not have yet).
use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use mini_docker::cgroups::v2::{missing_controllers, CgroupV2};
use mini_docker::cgroups::PARENT;

pub fn create_v2(root: &Path, id: &str) -> Result<CgroupV2> {
    let parent = root.join(PARENT);
    fs::create_dir_all(&parent)?;
    enable(&parent)?;
    enable(root)?;
    let dir = parent.join(id);
    fs::create_dir(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(CgroupV2 { dir })
}

fn enable(cgroup: &Path) -> Result<()> {
    let words: Vec<String> = missing_controllers(cgroup)
        .iter()
        .map(|c| format!("+{c}"))
        .collect();
    if words.is_empty() {
        return Ok(());
    }
    let file = cgroup.join("cgroup.subtree_control");
    fs::write(&file, words.join(" ")).with_context(|| format!("write {}", file.display()))
}
