//! cgroup v1: one hierarchy per controller (memory, pids, cpu, cpuacct), each
//! mounted somewhere under /sys/fs/cgroup — sometimes two share one mount
//! (cpu,cpuacct). The container gets mini-docker/ID in each of them.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::unistd::Pid;

use super::{
    keyed_value, open_for_entry, remove_dir_retrying, write_file, Cgroup, Driver, FastEntry,
    Limits, PARENT,
};

/// Always: memory (limit, OOM accounting) and pids. cpu and cpuacct only with
/// --cpus: on v1 every hierarchy costs a mkdir, a join and an rmdir per container.
const ALWAYS: [&str; 2] = ["memory", "pids"];
const FOR_CPU: [&str; 2] = ["cpu", "cpuacct"];

pub struct CgroupV1 {
    /// (controller, this container's directory in that controller's hierarchy)
    pub dirs: Vec<(&'static str, PathBuf)>,
}

impl CgroupV1 {
    /// `devices`: join the devices hierarchy too (chapter 11's allow-list).
    /// If one hierarchy fails, the directories already made are removed.
    pub fn create(id: &str, cpu: bool, devices: bool) -> Result<CgroupV1> {
        let wanted = ALWAYS
            .iter()
            .chain(if cpu { FOR_CPU.iter() } else { [].iter() })
            .chain(if devices {
                ["devices"].iter()
            } else {
                [].iter()
            });
        let mountinfo = fs::read_to_string("/proc/self/mountinfo")?; // read once for all
        let mut cgroup = CgroupV1 { dirs: Vec::new() };
        for &controller in wanted {
            if let Err(error) = cgroup.join_hierarchy(&mountinfo, id, controller) {
                let _ = cgroup.remove();
                return Err(error);
            }
        }
        Ok(cgroup)
    }

    /// Make mini-docker/ID in `controller`'s hierarchy (once per mount:
    /// cpu and cpuacct often share one).
    fn join_hierarchy(
        &mut self,
        mountinfo: &str,
        id: &str,
        controller: &'static str,
    ) -> Result<()> {
        let mount = mount_point_in(mountinfo, controller)?;
        let dir = mount.join(PARENT).join(id);
        if !self.dirs.iter().any(|(_, d)| d == &dir) {
            fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        }
        self.dirs.push((controller, dir));
        Ok(())
    }

    /// This container's directory in `controller`'s hierarchy.
    pub fn dir(&self, controller: &str) -> &Path {
        &self
            .dirs
            .iter()
            .find(|(c, _)| *c == controller)
            .expect("known controller")
            .1
    }

    /// Write `value` to `file` in `controller`'s hierarchy.
    pub fn write(&self, controller: &str, file: &str, value: &str) -> Result<()> {
        write_file(&self.dir(controller).join(file), value)
    }

    fn unique_dirs(&self) -> Vec<&PathBuf> {
        let mut unique: Vec<&PathBuf> = Vec::new();
        for (_, dir) in &self.dirs {
            if !unique.contains(&dir) {
                unique.push(dir);
            }
        }
        unique
    }
}

/// Where the v1 hierarchy holding `controller` is mounted (from mountinfo).
pub fn mount_point(controller: &str) -> Result<PathBuf> {
    mount_point_in(&fs::read_to_string("/proc/self/mountinfo")?, controller)
}

fn mount_point_in(mountinfo: &str, controller: &str) -> Result<PathBuf> {
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let right: Vec<&str> = right.split(' ').collect();
        if right.first() == Some(&"cgroup")
            && right
                .get(2)
                .is_some_and(|o| o.split(',').any(|x| x == controller))
        {
            if let Some(point) = left.split(' ').nth(4) {
                return Ok(PathBuf::from(point));
            }
        }
    }
    bail!("no cgroup v1 hierarchy with the {controller} controller is mounted")
}

impl Cgroup for CgroupV1 {
    fn describe(&self) -> String {
        self.dir("memory").display().to_string()
    }

    fn driver(&self) -> Driver<'_> {
        Driver::V1(self)
    }

    fn after_limits(&self, _limits: &Limits) -> Result<()> {
        Ok(())
    }

    fn add_process(&self, pid: Pid) -> Result<()> {
        for dir in self.unique_dirs() {
            write_file(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// The child writes "0" to `tasks` in each hierarchy: ~30 µs, not 5-13 ms.
    fn fast_entry(&self) -> Result<FastEntry> {
        let files = self.unique_dirs().into_iter().map(|dir| dir.join("tasks"));
        let fds = files
            .map(|file| open_for_entry(&file, false))
            .collect::<Result<_>>()?;
        Ok(FastEntry::SelfJoin(fds))
    }

    fn oom_kills(&self) -> u64 {
        keyed_value(&self.dir("memory").join("memory.oom_control"), "oom_kill").unwrap_or(0)
    }

    /// Every hierarchy's directory (memory, pids, cpu, devices — whichever
    /// this container joined), even when one of them fails: the first error.
    fn remove(&self) -> Result<()> {
        let results: Vec<Result<()>> = self
            .unique_dirs()
            .into_iter()
            .map(|d| remove_dir_retrying(d))
            .collect();
        results.into_iter().collect()
    }
}
