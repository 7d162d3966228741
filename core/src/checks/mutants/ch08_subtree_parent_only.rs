//! Mutant: only mini-docker's subtree_control is written, as if the root
//! already handed every controller down (systemd often does — not always).
use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use mini_docker::cgroups::v2::CgroupV2;
use mini_docker::cgroups::PARENT;

pub fn create_v2(root: &Path, id: &str) -> Result<CgroupV2> {
    let parent = root.join(PARENT);
    fs::create_dir_all(&parent)?;
    let file = parent.join("cgroup.subtree_control");
    fs::write(&file, "+memory +pids +cpu").with_context(|| format!("write {}", file.display()))?;
    let dir = parent.join(id);
    fs::create_dir(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(CgroupV2 { dir })
}
