//! Chapter 11 — hardening: root in a container, contained like docker's.
//! Lesson: chapters/11-hardening.md   Check: mini-docker check 11

use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use anyhow::{Context, Result};
use caps::CapSet;
use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};

use mini_docker::cgroups::devices::{self, DeviceCgroup, DeviceRule};
use mini_docker::cgroups::CgroupFs;
use mini_docker::security::caps::Capabilities;
use mini_docker::security::seccomp::{Action, ArgCondition, Op, Policy};
use mini_docker::security::seccomp_program::BpfProgram;

/// After the pivot: give the container a cgroup namespace of its own (its
/// cgroup becomes its "/"), then mount its cgroup filesystem read-only at `target`.
pub fn isolate_cgroupfs(target: &Path, cgroupfs: &CgroupFs) -> Result<()> {
    // The namespace's root is the cgroup we are in *now*: the supervisor has
    // already put us in the container's, so that is all we will ever see.
    unshare(CloneFlags::CLONE_NEWCGROUP).context("unshare(CLONE_NEWCGROUP)")?;
    let locked = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let read_only = locked | MsFlags::MS_RDONLY;
    match cgroupfs {
        CgroupFs::V2 => mount(Some("cgroup"), target, Some("cgroup2"), read_only, None::<&str>)
            .context("mount cgroup2 read-only")?,
        CgroupFs::V1 { hierarchies } => {
            mount(Some("tmpfs"), target, Some("tmpfs"), locked, Some("mode=755"))
                .context("mount a tmpfs for the cgroup hierarchies")?;
            for controllers in hierarchies {
                let dir = target.join(controllers);
                std::fs::create_dir(&dir).with_context(|| format!("mkdir {}", dir.display()))?;
                mount(Some("cgroup"), &dir, Some("cgroup"), read_only, Some(controllers.as_str()))
                    .with_context(|| format!("mount the {controllers} hierarchy read-only"))?;
            }
            let remount = MsFlags::MS_REMOUNT | read_only;
            mount(None::<&str>, target, None::<&str>, remount, Some("mode=755"))
                .context("remount the cgroup tmpfs read-only")?;
        }
    }
    Ok(())
}

/// Hide from the container every path of `paths` (files and directories)
/// this kernel has.
pub fn mask_paths(paths: &[&Path]) -> Result<()> {
    // The first directory gets an empty read-only tmpfs; the others a bind of
    // it (read-only too: a bind copies the mount's flags). A tmpfs is a new
    // superblock, 22 us to make and about as much to free at exit; a bind 2.5.
    let mut empty: Option<&Path> = None;
    for &path in paths {
        // Asked first, not tried: binding /dev/null onto a directory fails only
        // after the kernel has copied the mount, and undoing that copy waits
        // for an RCU grace period (~100 us, against 2 for a stat).
        let Ok(meta) = std::fs::metadata(path) else {
            continue; // this kernel has no such file: nothing to hide
        };
        let hidden = match (meta.is_dir(), empty) {
            (false, _) => mount(Some("/dev/null"), path, None::<&str>, MsFlags::MS_BIND, None::<&str>),
            (true, Some(first)) => mount(Some(first), path, None::<&str>, MsFlags::MS_BIND, None::<&str>),
            (true, None) => {
                empty = Some(path);
                let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
                mount(Some("tmpfs"), path, Some("tmpfs"), flags, Some("size=0"))
            }
        };
        hidden.with_context(|| format!("mask {}", path.display()))?;
    }
    Ok(())
}

/// Make `path` read-only for the container, if it exists.
pub fn make_read_only(path: &Path) -> Result<()> {
    // Tried, not asked: a missing path fails in the lookup, before any copy.
    let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
    match mount(Some(path), path, None::<&str>, bind, None::<&str>) {
        Err(Errno::ENOENT) => return Ok(()), // not on this kernel
        bound => bound.with_context(|| format!("bind {} onto itself", path.display()))?,
    }
    // The remount sets *all* the flags: keep the ones procfs already has.
    let flags = MsFlags::MS_REMOUNT
        | MsFlags::MS_BIND
        | MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV
        | MsFlags::MS_NOEXEC;
    mount(None::<&str>, path, None::<&str>, flags, None::<&str>)
        .with_context(|| format!("remount {} read-only", path.display()))
}

/// Build (do not load) the seccomp filter `policy` describes. Runs on the
/// host, once per profile: the runtime compiles it to BPF and caches it.
pub fn seccomp_filter(policy: &Policy) -> Result<ScmpFilterContext> {
    let mut filter = ScmpFilterContext::new_filter(action(policy.default_action))?;
    for arch in &policy.architectures {
        let arch = ScmpArch::from_str(arch).with_context(|| format!("architecture {arch}"))?;
        filter.add_arch(arch)?;
    }
    for rule in &policy.rules {
        let conditions: Vec<ScmpArgCompare> = rule.args.iter().map(compare).collect();
        for name in &rule.names {
            // An older kernel (or libseccomp) may not know a newer syscall: skip it.
            let Ok(syscall) = ScmpSyscall::from_name(name) else {
                continue;
            };
            filter
                .add_rule_conditional(action(rule.action), syscall, &conditions)
                .with_context(|| format!("seccomp rule for {name}"))?;
        }
    }
    Ok(filter)
}

/// Hand the compiled filter to the kernel: from now on it judges every
/// syscall of this process and of everything it execs.
pub fn load_seccomp(program: &BpfProgram) -> Result<()> {
    let fprog = program.as_sock_fprog();
    // Without no_new_privs the kernel wants CAP_SYS_ADMIN here: we still hold
    // it (the capabilities are dropped next), and docker does not set no_new_privs.
    // SAFETY: `fprog` points into `program`, alive for the call; the kernel
    // copies the instructions before it returns.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const libc::sock_fprog,
        )
    };
    Errno::result(ret).context("seccomp(SECCOMP_SET_MODE_FILTER)")?;
    Ok(())
}

fn action(action: Action) -> ScmpAction {
    match action {
        Action::Allow => ScmpAction::Allow,
        Action::Errno(errno) => ScmpAction::Errno(errno),
        Action::KillThread => ScmpAction::KillThread,
        Action::KillProcess => ScmpAction::KillProcess,
        Action::Trap => ScmpAction::Trap,
        Action::Log => ScmpAction::Log,
    }
}

fn compare(condition: &ArgCondition) -> ScmpArgCompare {
    let (op, datum) = match condition.op {
        Op::NotEqual => (ScmpCompareOp::NotEqual, condition.value),
        Op::LessThan => (ScmpCompareOp::Less, condition.value),
        Op::LessOrEqual => (ScmpCompareOp::LessOrEqual, condition.value),
        Op::Equal => (ScmpCompareOp::Equal, condition.value),
        Op::GreaterOrEqual => (ScmpCompareOp::GreaterEqual, condition.value),
        Op::GreaterThan => (ScmpCompareOp::Greater, condition.value),
        // docker's MASKED_EQ: `value` is the mask, `valueTwo` what must remain.
        Op::MaskedEqual => (ScmpCompareOp::MaskedEqual(condition.value), condition.value_two),
    };
    ScmpArgCompare::new(condition.index, op, datum)
}

/// Keep only `keep`: in the bounding set, and as root's permitted and
/// effective sets; nothing inheritable, nothing ambient.
pub fn limit_capabilities(keep: &Capabilities) -> Result<()> {
    // The bounding set first: shrinking it needs CAP_SETPCAP, which the
    // effective set may be about to lose. It caps what any exec can gain.
    // Dropping what is already gone is no error: no need to read the set first.
    for cap in caps::all().difference(keep) {
        match caps::drop(None, CapSet::Bounding, *cap) {
            Err(_) if !caps::has_cap(None, CapSet::Bounding, *cap).unwrap_or(false) => {} // older kernel
            dropped => dropped.with_context(|| format!("drop {cap} from the bounding set"))?,
        }
    }
    caps::clear(None, CapSet::Ambient).context("clear the ambient set")?;
    caps::set(None, CapSet::Inheritable, &Capabilities::new()).context("clear the inheritable set")?;
    // Effective must stay within permitted: shrink it first.
    caps::set(None, CapSet::Effective, keep).context("set the effective set")?;
    caps::set(None, CapSet::Permitted, keep).context("set the permitted set")?;
    Ok(())
}

/// `--security-opt no-new-privileges`: execve never grants privileges again.
pub fn set_no_new_privs() -> Result<()> {
    nix::sys::prctl::set_no_new_privs().context("prctl(PR_SET_NO_NEW_PRIVS)")
}

/// On the host, before the container exists: only `allowed` devices may be
/// opened (or made) through `cgroup`.
pub fn restrict_devices(cgroup: DeviceCgroup<'_>, allowed: &[DeviceRule]) -> Result<()> {
    match cgroup {
        DeviceCgroup::V1(v1) => {
            // A new v1 cgroup inherits its parent's list: "a" denies all first.
            v1.write("devices", "devices.deny", "a")?;
            // The kernel takes one rule per write(2): one open file, a write per rule.
            let path = v1.dir("devices").join("devices.allow");
            let mut allow = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .with_context(|| format!("open {}", path.display()))?;
            for rule in allowed {
                allow
                    .write_all(rule.to_string().as_bytes())
                    .with_context(|| format!("write \"{rule}\" to {}", path.display()))?;
            }
            Ok(())
        }
        DeviceCgroup::V2(v2) => devices::attach_device_filter(v2, allowed),
    }
}
