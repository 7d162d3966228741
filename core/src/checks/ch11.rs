//! Chapter 11 — hardening. What the kernel says about a default container
//! (its capability sets, its seccomp mode, its namespaces and mounts), and
//! the escape room: each breakout, run inside, must fail.

use anyhow::{bail, Context, Result};

use super::probe::{expect_own_namespace, mountinfo};
use super::{Check, Ctx};

pub fn checks() -> Vec<Check> {
    vec![
        Check { id: "11.1", title: "root keeps docker's 14 capabilities: bounding, permitted, effective; nothing inheritable or ambient (/proc/PID/status)", points: 3,
            hint: "limit_capabilities: drop from the bounding set first (needs CAP_SETPCAP), clear ambient and inheritable, set permitted and effective", run: capability_sets },
        Check { id: "11.2", title: "a seccomp filter is loaded (Seccomp: 2)", points: 3,
            hint: "install_seccomp: ScmpFilterContext::new_filter(default) + rules, then load() while CAP_SYS_ADMIN is still held", run: seccomp_loaded },
        Check { id: "11.3", title: "the container has its own cgroup namespace, its cgroupfs mounted read-only", points: 2,
            hint: "isolate_cgroupfs: unshare(CLONE_NEWCGROUP) after joining the cgroup, then mount cgroup2 (or v1 hierarchies in a tmpfs) with MS_RDONLY", run: cgroup_namespace },
        Check { id: "11.4", title: "/proc/kcore, /proc/keys, /proc/timer_list are masked, /proc/sys is read-only (mountinfo)", points: 2,
            hint: "mask_path: /dev/null bound over files, a read-only tmpfs over directories; make_read_only: bind onto itself, then MS_REMOUNT|MS_BIND|MS_RDONLY", run: masked_paths },
    ]
}

/// CAP_CHOWN ... CAP_SETFCAP: docker's default, as the kernel prints it.
const DOCKER_CAPS: u64 = 0x00000000a80425fb;

fn status_field(pid: nix::unistd::Pid, field: &str) -> Result<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

fn capability_sets(ctx: &Ctx) -> Result<()> {
    let running = ctx.start(11, &[], "true")?;
    let pid = running.container_pid()?;
    let mut wrong = Vec::new();
    for (field, want) in [("CapBnd", DOCKER_CAPS), ("CapPrm", DOCKER_CAPS), ("CapEff", DOCKER_CAPS), ("CapInh", 0), ("CapAmb", 0)] {
        let seen = u64::from_str_radix(&status_field(pid, field)?, 16)?;
        if seen != want {
            wrong.push(format!("{field} {seen:016x} (want {want:016x})"));
        }
    }
    running.finish()?;
    if !wrong.is_empty() {
        bail!("the container's capability sets: {}", wrong.join(", "));
    }
    Ok(())
}

fn seccomp_loaded(ctx: &Ctx) -> Result<()> {
    let running = ctx.start(11, &[], "true")?;
    let pid = running.container_pid()?;
    let mode = status_field(pid, "Seccomp")?;
    running.finish()?;
    if mode != "2" {
        bail!("the container's Seccomp mode is {mode}: expected 2 (a filter)");
    }
    Ok(())
}

fn cgroup_namespace(ctx: &Ctx) -> Result<()> {
    let running = ctx.start(11, &[], "true")?;
    let pid = running.container_pid()?;
    expect_own_namespace(pid, running.supervisor(), "cgroup", "CLONE_NEWCGROUP")?;
    let mounts = mountinfo(Some(pid))?;
    running.finish()?;
    let cgroupfs: Vec<_> = mounts
        .iter()
        .filter(|m| m.mount_point.starts_with("/sys/fs/cgroup") && (m.fstype == "cgroup" || m.fstype == "cgroup2"))
        .collect();
    if cgroupfs.is_empty() {
        bail!("no cgroup filesystem is mounted under the container's /sys/fs/cgroup");
    }
    if let Some(m) = cgroupfs.iter().find(|m| !m.options.split(',').any(|o| o == "ro")) {
        bail!("{} ({}) is mounted read-write in the container", m.mount_point, m.fstype);
    }
    Ok(())
}

fn masked_paths(ctx: &Ctx) -> Result<()> {
    let running = ctx.start(11, &[], "true")?;
    let pid = running.container_pid()?;
    let mounts = mountinfo(Some(pid))?;
    running.finish()?;
    let at = |point: &str| mounts.iter().rev().find(|m| m.mount_point == point);
    let procfs = format!("/proc/{pid}/root/proc");
    for masked in ["/proc/kcore", "/proc/keys", "/proc/timer_list"] {
        // Not every kernel has every file (no /proc/kcore here): only what exists must be hidden.
        let exists = std::path::Path::new(&procfs).join(&masked[6..]).exists();
        if exists && at(masked).is_none() {
            bail!("{masked} is not masked: nothing is mounted over it");
        }
    }
    match at("/proc/sys") {
        Some(m) if m.options.split(',').any(|o| o == "ro") => Ok(()),
        Some(_) => bail!("/proc/sys is mounted, but read-write"),
        None => bail!("/proc/sys is the container's procfs, writable: nothing read-only is mounted over it"),
    }
}
