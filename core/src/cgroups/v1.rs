//! cgroup v1: one hierarchy per controller (memory, pids, cpu, cpuacct), each
//! mounted somewhere under /sys/fs/cgroup — sometimes two share one mount
//! (cpu,cpuacct). The container gets mini-docker/ID in each of them.
//! Creating, joining, reading the OOM count and removing are chapter 8's
//! steps (exercises/ch08_cgroups.rs); this file finds the hierarchies.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::{open_for_entry, write_file, Cgroup, Driver, FastEntry, Limits};

/// Always: memory (limit, OOM accounting) and pids. cpu and cpuacct only with
/// --cpus: on v1 every hierarchy costs a mkdir, a join and an rmdir per container.
const ALWAYS: [&str; 2] = ["memory", "pids"];
const FOR_CPU: [&str; 2] = ["cpu", "cpuacct"];

pub struct CgroupV1 {
    /// (controller, this container's directory in that controller's hierarchy);
    /// controllers that share a hierarchy (cpu,cpuacct) share a directory.
    pub dirs: Vec<(&'static str, PathBuf)>,
}

/// One v1 hierarchy the container needs a directory in: a controller and
/// where its hierarchy is mounted (cpu and cpuacct often share one mount).
pub struct Hierarchy {
    pub controller: &'static str,
    pub mount: PathBuf,
}

/// The hierarchies a container needs on this host: always memory (limit,
/// OOM accounting) and pids; cpu and cpuacct only with --cpus (on v1 every
/// hierarchy costs a mkdir, a join and an rmdir per container); devices for
/// chapter 11's allow-list.
pub fn hierarchies(cpu: bool, devices: bool) -> Result<Vec<Hierarchy>> {
    let wanted = ALWAYS
        .iter()
        .chain(if cpu { FOR_CPU.iter() } else { [].iter() })
        .chain(if devices {
            ["devices"].iter()
        } else {
            [].iter()
        });
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")?; // read once for all
    wanted
        .map(|&controller| {
            Ok(Hierarchy {
                controller,
                mount: mount_point_in(&mountinfo, controller)?,
            })
        })
        .collect()
}

impl CgroupV1 {
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

    /// The content of `file` in `controller`'s hierarchy.
    pub fn read(&self, controller: &str, file: &str) -> Result<String> {
        let path = self.dir(controller).join(file);
        fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))
    }

    /// Each directory once (cpu and cpuacct may share one).
    pub fn unique_dirs(&self) -> Vec<&Path> {
        let mut unique: Vec<&Path> = Vec::new();
        for (_, dir) in &self.dirs {
            if !unique.contains(&dir.as_path()) {
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

    /// The child writes "0" to `tasks` in each hierarchy: ~30 µs, not 5-13 ms.
    fn fast_entry(&self) -> Result<FastEntry> {
        let files = self.unique_dirs().into_iter().map(|dir| dir.join("tasks"));
        let fds = files
            .map(|file| open_for_entry(&file, false))
            .collect::<Result<_>>()?;
        Ok(FastEntry::SelfJoin(fds))
    }

    fn dirs(&self) -> Vec<PathBuf> {
        self.unique_dirs()
            .into_iter()
            .map(Path::to_path_buf)
            .collect()
    }
}
