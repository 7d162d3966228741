//! What every container process gets, the init and `exec`'s alike: from
//! config.json's `process` (and the container's `linux.seccomp`), applied in
//! the order the kernel needs — rlimits, the environment, seccomp (while we
//! still hold CAP_SYS_ADMIN), the user, the capability sets — then execve.

use std::convert::Infallible;
use std::ffi::CString;

use anyhow::{bail, Context, Result};
use caps::CapSet;
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator, PosixRlimitType, Process,
};

use super::plan::CapabilitySets;
use crate::security::seccomp::{Action, ArgCondition, Op, Policy, Rule};
use crate::security::seccomp_program::BpfProgram;
use crate::workshop::Steps;

/// Everything decided before the point of no return (allocation is fine:
/// the init is single-threaded).
pub struct Prepared {
    pub argv: Vec<CString>,
    pub env: Vec<(String, String)>,
    pub caps: Option<CapabilitySets>,
    pub seccomp: Option<BpfProgram>,
    pub no_new_privs: bool,
    pub apparmor: Option<String>,
    /// --preserve-fds N: fds 3..3+N pass to the process (everything above is close-on-exec).
    pub preserve_fds: u32,
}

pub fn prepare(
    process: &Process,
    seccomp: Option<&LinuxSeccomp>,
    steps: &Steps,
) -> Result<Prepared> {
    let argv = process
        .args()
        .iter()
        .flatten()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .context("process.args holds a NUL byte")?;
    if argv.is_empty() {
        bail!("process.args is empty");
    }
    let env = process
        .env()
        .iter()
        .flatten()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.clone(), String::new()),
        })
        .collect();
    let caps = process
        .capabilities()
        .as_ref()
        .map(|c| super::create::step("capability_sets", || steps.ch13_oci.capability_sets(c)))
        .transpose()?;
    let seccomp = seccomp.map(|s| compile_seccomp(s, steps)).transpose()?;
    Ok(Prepared {
        argv,
        env,
        caps,
        seccomp,
        no_new_privs: process.no_new_privileges().unwrap_or(false),
        apparmor: process.apparmor_profile().clone().filter(|p| !p.is_empty()),
        preserve_fds: 0,
    })
}

/// The OCI seccomp section, in chapter 11's terms: a `Policy` the chapter's
/// `seccomp_filter` builds, exported as the BPF program `load_seccomp` loads.
pub fn compile_seccomp(seccomp: &LinuxSeccomp, steps: &Steps) -> Result<BpfProgram> {
    let policy = seccomp_policy(seccomp)?;
    let mut filter = steps
        .ch11_hardening
        .seccomp_filter(&policy)
        .context("build the seccomp filter from config.json")?;
    crate::security::seccomp_program::program_of(&mut filter)
}

pub fn seccomp_policy(seccomp: &LinuxSeccomp) -> Result<Policy> {
    let errno = |ret: Option<u32>| ret.map(|e| e as i32).unwrap_or(libc::EPERM);
    let action = |a: LinuxSeccompAction, ret: Option<u32>| -> Result<Action> {
        Ok(match a {
            LinuxSeccompAction::ScmpActAllow => Action::Allow,
            LinuxSeccompAction::ScmpActErrno => Action::Errno(errno(ret)),
            LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
                Action::KillThread
            }
            LinuxSeccompAction::ScmpActKillProcess => Action::KillProcess,
            LinuxSeccompAction::ScmpActTrap => Action::Trap,
            LinuxSeccompAction::ScmpActLog => Action::Log,
            other => bail!("seccomp action {other} is not supported"),
        })
    };
    let mut rules = Vec::new();
    for syscall in seccomp.syscalls().iter().flatten() {
        let args = syscall
            .args()
            .iter()
            .flatten()
            .map(|arg| ArgCondition {
                index: arg.index() as u32,
                op: match arg.op() {
                    LinuxSeccompOperator::ScmpCmpNe => Op::NotEqual,
                    LinuxSeccompOperator::ScmpCmpLt => Op::LessThan,
                    LinuxSeccompOperator::ScmpCmpLe => Op::LessOrEqual,
                    LinuxSeccompOperator::ScmpCmpEq => Op::Equal,
                    LinuxSeccompOperator::ScmpCmpGe => Op::GreaterOrEqual,
                    LinuxSeccompOperator::ScmpCmpGt => Op::GreaterThan,
                    LinuxSeccompOperator::ScmpCmpMaskedEq => Op::MaskedEqual,
                },
                value: arg.value(),
                value_two: arg.value_two().unwrap_or(0),
            })
            .collect();
        rules.push(Rule {
            names: syscall.names().clone(),
            action: action(syscall.action(), syscall.errno_ret())?,
            args,
        });
    }
    Ok(Policy {
        default_action: action(seccomp.default_action(), seccomp.default_errno_ret())?,
        architectures: seccomp
            .architectures()
            .iter()
            .flatten()
            .map(|a| a.to_string())
            .collect(),
        rules,
    })
}

/// process.rlimits: setrlimit(2) each.
pub fn set_rlimits(process: &Process) -> Result<()> {
    for rlimit in process.rlimits().iter().flatten() {
        let resource = match rlimit.typ() {
            PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
            PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
            PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
            PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
            PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
            PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
            PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
            PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
            PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
            PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
            PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
            PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
            PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
            PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
            PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
            PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
        };
        let limit = libc::rlimit {
            rlim_cur: rlimit.soft(),
            rlim_max: rlimit.hard(),
        };
        // SAFETY: a valid resource number and a rlimit struct on our stack.
        if unsafe { libc::setrlimit(resource, &limit) } != 0 {
            bail!(
                "setrlimit {:?} {}:{}: {}",
                rlimit.typ(),
                rlimit.soft(),
                rlimit.hard(),
                std::io::Error::last_os_error()
            );
        }
    }
    Ok(())
}

/// process.oomScoreAdj.
pub fn set_oom_score_adj(process: &Process) -> Result<()> {
    if let Some(score) = process.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", score.to_string())
            .context("write /proc/self/oom_score_adj")?;
    }
    Ok(())
}

/// The last steps, in order: AppArmor on exec, no_new_privs, seccomp, the
/// user (keeping capabilities across setuid), the five capability sets,
/// the environment, execve. Returns only on failure.
pub fn finish_and_exec(
    process: &Process,
    prepared: &Prepared,
    steps: &Steps,
) -> Result<Infallible> {
    if let Some(profile) = &prepared.apparmor {
        apparmor_on_exec(profile)?;
    }
    if prepared.no_new_privs {
        steps.ch11_hardening.set_no_new_privs()?;
    }
    if let Some(program) = &prepared.seccomp {
        steps.ch11_hardening.load_seccomp(program)?;
    }
    become_user(process, prepared.caps.is_some())?;
    if let Some(sets) = &prepared.caps {
        apply_capability_sets(sets)?;
    }
    set_environment(&prepared.env);
    reset_signals()?;
    cloexec_from(3 + prepared.preserve_fds);
    let program = prepared.argv[0].to_string_lossy().into_owned();
    let errno = match steps.ch01_process.exec_command(&prepared.argv) {
        Ok(never) => match never {},
        Err(errno) => errno,
    };
    bail!("exec {program:?}: {}", errno.desc().to_lowercase())
}

fn apparmor_on_exec(profile: &str) -> Result<()> {
    let enabled = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.trim() == "Y");
    if !enabled {
        bail!("process.apparmorProfile {profile:?}: AppArmor is not enabled on this host");
    }
    let attr = if std::path::Path::new("/proc/self/attr/apparmor/exec").exists() {
        "/proc/self/attr/apparmor/exec"
    } else {
        "/proc/self/attr/exec"
    };
    std::fs::write(attr, format!("exec {profile}"))
        .with_context(|| format!("apparmor profile {profile}: write {attr}"))
}

/// process.user: supplementary groups, gid, uid — keeping the permitted
/// capabilities across the uid change when the spec names some.
fn become_user(process: &Process, keep_caps: bool) -> Result<()> {
    let user = process.user();
    if let Some(umask) = user.umask() {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(umask));
    }
    let mut groups: Vec<nix::unistd::Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| nix::unistd::Gid::from_raw(*g))
        .collect();
    groups.dedup();
    nix::unistd::setgroups(&groups).context("setgroups")?;
    if keep_caps {
        nix::sys::prctl::set_keepcaps(true).context("prctl(PR_SET_KEEPCAPS)")?;
    }
    let gid = nix::unistd::Gid::from_raw(user.gid());
    nix::unistd::setresgid(gid, gid, gid).with_context(|| format!("setresgid {gid}"))?;
    let uid = nix::unistd::Uid::from_raw(user.uid());
    nix::unistd::setresuid(uid, uid, uid).with_context(|| format!("setresuid {uid}"))?;
    if keep_caps {
        nix::sys::prctl::set_keepcaps(false).context("prctl(PR_SET_KEEPCAPS, 0)")?;
    }
    Ok(())
}

/// The five sets, each exactly as asked (never more than we hold).
pub fn apply_capability_sets(sets: &CapabilitySets) -> Result<()> {
    for cap in caps::read(None, CapSet::Bounding)?.difference(&sets.bounding) {
        caps::drop(None, CapSet::Bounding, *cap)
            .with_context(|| format!("drop {cap} from the bounding set"))?;
    }
    caps::clear(None, CapSet::Ambient).context("clear the ambient set")?;
    caps::set(None, CapSet::Effective, &sets.effective).context("set the effective set")?;
    caps::set(None, CapSet::Permitted, &sets.permitted).context("set the permitted set")?;
    caps::set(None, CapSet::Inheritable, &sets.inheritable).context("set the inheritable set")?;
    // The kernel allows an ambient capability only if it is permitted and
    // inheritable; any other (runc's default spec lists some) is left out —
    // fewer capabilities, never more.
    for cap in &sets.ambient {
        if sets.permitted.contains(cap) && sets.inheritable.contains(cap) {
            caps::raise(None, CapSet::Ambient, *cap)
                .with_context(|| format!("raise {cap} in the ambient set"))?;
        } else {
            super::log::debug(&format!(
                "ambient {cap} left out: not permitted and inheritable"
            ));
        }
    }
    Ok(())
}

/// No fd of the runtime's (the fifo, the log, the channel) reaches the process.
fn cloexec_from(first: u32) {
    // SAFETY: only sets the close-on-exec flag of descriptors.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if ret != 0 {
        for fd in first as i32..4096 {
            let _ = nix::fcntl::fcntl(
                fd,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            );
        }
    }
}

/// The process starts with default dispositions and nothing blocked: Rust
/// ignores SIGPIPE in its own programs, and an ignored signal survives execve.
fn reset_signals() -> Result<()> {
    use nix::sys::signal::{signal, SigHandler, SigSet, Signal};
    // SAFETY: SIG_DFL installs no handler code.
    unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) }.context("reset SIGPIPE")?;
    SigSet::all().thread_unblock().context("unblock signals")
}

/// Only process.env: nothing of the runtime's environment.
fn set_environment(env: &[(String, String)]) {
    for (key, _) in std::env::vars_os() {
        std::env::remove_var(key);
    }
    for (key, value) in env {
        std::env::set_var(key, value);
    }
}
