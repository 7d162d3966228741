//! Mutant: a cgroup namespace of its own, but its cgroupfs mounted
//! read-write — the container can raise its own memory limit.
use std::path::Path;

use anyhow::{Context, Result};
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};

use mini_docker::cgroups::CgroupFs;

pub fn isolate_cgroupfs(target: &Path, cgroupfs: &CgroupFs) -> Result<()> {
    unshare(CloneFlags::CLONE_NEWCGROUP).context("unshare(CLONE_NEWCGROUP)")?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    match cgroupfs {
        CgroupFs::V2 => mount(Some("cgroup"), target, Some("cgroup2"), flags, None::<&str>)
            .context("mount cgroup2")?,
        CgroupFs::V1 { hierarchies } => {
            mount(
                Some("tmpfs"),
                target,
                Some("tmpfs"),
                flags,
                Some("mode=755"),
            )
            .context("mount a tmpfs for the cgroup hierarchies")?;
            for controllers in hierarchies {
                let dir = target.join(controllers);
                std::fs::create_dir(&dir).with_context(|| format!("mkdir {}", dir.display()))?;
                mount(
                    Some("cgroup"),
                    &dir,
                    Some("cgroup"),
                    flags,
                    Some(controllers.as_str()),
                )
                .with_context(|| format!("mount the {controllers} hierarchy"))?;
            }
        }
    }
    Ok(())
}
