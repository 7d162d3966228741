//! seccomp: docker's JSON profile format, resolved for one container into a
//! flat `Policy` the learner's `seccomp_filter` turns into a kernel filter.
//!
//! A docker profile is written for every machine and every container at once:
//! its rules say which capabilities, architectures and kernels they are for
//! (`includes` / `excludes`). Resolving it for *this* container on *this*
//! machine leaves a plain list of rules — what libseccomp takes.
//!
//! `default-seccomp.json` is moby's own profiles/seccomp/default.json
//! (Apache-2.0, The Moby Authors), unchanged, as vendored by github.com/moby/moby
//! at commit b985e2313a86: the same allow-list docker loads, read by the same
//! parser as a user's `--security-opt seccomp=FILE.json`.
//!
//! Its cost, measured on the 2-core Debian VM (kernel 6.18, libseccomp 2.5):
//! libseccomp builds and compiles the default policy in ~12-15 ms, so the
//! program is compiled once and cached (seccomp_program.rs). What is left at
//! every start is the kernel taking it (seccomp(2): checking, converting and
//! JIT-compiling every instruction). With libseccomp's binary tree, x86_64 +
//! x86 + x32 = 1246 instructions, 262 us at best; without x32 (a kernel
//! without the x32 ABI, like this one: `Machine::x32`) 872, 203 us; x86_64
//! alone 415, 99 us. A linear list is smaller (1001) but four times slower to
//! load (997 us). bench/ch11/ has the probes; chapters/11-hardening.md, "What
//! it costs", the whole account.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Deserializer, Serialize};

use super::caps::Capabilities;

/// docker's default profile, in docker's format.
pub const DEFAULT_PROFILE: &str = include_str!("default-seccomp.json");

/// Which profile: `--security-opt seccomp=...`.
#[derive(Clone, Debug)]
pub enum Choice {
    /// docker's default profile (ours, in docker's format: default.json).
    Default,
    /// `seccomp=unconfined`: no filter at all.
    Unconfined,
    /// `seccomp=FILE.json`: a profile in docker's JSON format.
    Profile { file: String, json: String },
}

/// One container's filter, flat: what happens by default, and the rules
/// that apply to it (already chosen for its capabilities and architecture).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub default_action: Action,
    /// docker's (and libseccomp's) names: "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32".
    pub architectures: Vec<String>,
    pub rules: Vec<Rule>,
}

/// What the kernel does when a rule matches (docker's SCMP_ACT_*).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    Allow,
    /// Fail the syscall with this errno (docker: EPERM, ENOSYS for clone3).
    Errno(i32),
    KillThread,
    KillProcess,
    Trap,
    Log,
}

/// Syscalls by name with one action, when all the argument conditions hold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub names: Vec<String>,
    pub action: Action,
    pub args: Vec<ArgCondition>,
}

/// `args[index] op value` (MaskedEq: `args[index] & value == value_two`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgCondition {
    pub index: u32,
    pub op: Op,
    pub value: u64,
    pub value_two: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    NotEqual,
    LessThan,
    LessOrEqual,
    Equal,
    GreaterOrEqual,
    GreaterThan,
    MaskedEqual,
}

impl Policy {
    /// The policy for a container keeping `caps`, on this machine.
    pub fn for_container(choice: &Choice, caps: &Capabilities) -> Result<Policy> {
        let machine = Machine::this()?;
        match choice {
            Choice::Default => Profile::parse(DEFAULT_PROFILE)
                .context("the built-in default seccomp profile")?
                .resolve(caps, &machine),
            Choice::Profile { file, json } => Profile::parse(json)
                .with_context(|| format!("--security-opt seccomp={file}"))?
                .resolve(caps, &machine)
                .with_context(|| format!("--security-opt seccomp={file}")),
            // security/mod.rs turns `unconfined` into "no filter" before asking.
            Choice::Unconfined => bail!("seccomp=unconfined has no policy: no filter is loaded"),
        }
    }
}

/// What a profile's conditions are checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Machine {
    /// docker's name for the architecture, as profiles write it in
    /// `includes.arches`: "amd64", "arm64", "x86", "s390x"...
    pub arch: &'static str,
    /// The running kernel's "major.minor" (uname -r), as `minKernel` is written.
    pub kernel: KernelVersion,
    /// Does the kernel take x32 system calls at all (`kernel_runs_x32`)?
    pub x32: bool,
}

impl Machine {
    /// The architecture this binary runs as, and the running kernel.
    pub fn this() -> Result<Machine> {
        let uname = nix::sys::utsname::uname().context("uname")?;
        let release = uname.release().to_string_lossy();
        Ok(Machine {
            arch: NATIVE_ARCH,
            kernel: KernelVersion::of_release(&release)?,
            x32: kernel_runs_x32(),
        })
    }
}

/// x32 (x86_64's 32-bit-pointer ABI: system call numbers with bit 30 set) is
/// often compiled out (CONFIG_X86_X32_ABI; this VM's kernel has it off), and
/// such a kernel answers every x32 call with ENOSYS before any code runs. Asked
/// with x32's getpid. Already under a seccomp filter (mini-docker inside a
/// container), that filter might kill us for asking: assume yes, as docker does.
fn kernel_runs_x32() -> bool {
    if !cfg!(target_arch = "x86_64") {
        return false;
    }
    // SAFETY: PR_GET_SECCOMP only reads this thread's seccomp mode.
    if unsafe { libc::prctl(libc::PR_GET_SECCOMP) } != 0 {
        return true;
    }
    const X32_SYSCALL_BIT: libc::c_long = 0x4000_0000;
    // SAFETY: getpid takes no arguments and changes nothing.
    let pid = unsafe { libc::syscall(X32_SYSCALL_BIT | libc::SYS_getpid) };
    pid != -1 || nix::errno::Errno::last() != nix::errno::Errno::ENOSYS
}

/// docker's name (Go's runtime.GOARCH, through moby's goToNative) for the
/// architecture we were compiled for.
const NATIVE_ARCH: &str = if cfg!(target_arch = "x86_64") {
    "amd64"
} else if cfg!(target_arch = "x86") {
    "x86"
} else if cfg!(target_arch = "aarch64") {
    "arm64"
} else if cfg!(target_arch = "arm") {
    "arm"
} else if cfg!(target_arch = "riscv64") {
    "riscv64"
} else if cfg!(target_arch = "s390x") {
    "s390x"
} else if cfg!(all(target_arch = "powerpc64", target_endian = "little")) {
    "ppc64le"
} else if cfg!(target_arch = "powerpc64") {
    "ppc64"
} else if cfg!(target_arch = "loongarch64") {
    "loong64"
} else {
    "unknown"
};

/// docker's architecture name -> the libseccomp architecture whose `archMap`
/// entry applies (moby's nativeToSeccomp).
fn seccomp_arch(docker_arch: &str) -> Option<&'static str> {
    Some(match docker_arch {
        "amd64" => "SCMP_ARCH_X86_64",
        "x86" => "SCMP_ARCH_X86",
        "arm64" => "SCMP_ARCH_AARCH64",
        "arm" => "SCMP_ARCH_ARM",
        "riscv64" => "SCMP_ARCH_RISCV64",
        "s390x" => "SCMP_ARCH_S390X",
        "s390" => "SCMP_ARCH_S390",
        "ppc64le" => "SCMP_ARCH_PPC64LE",
        "ppc64" => "SCMP_ARCH_PPC64",
        "loong64" => "SCMP_ARCH_LOONGARCH64",
        _ => return None,
    })
}

/// A kernel "major.minor": `minKernel` in a profile, or the running one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion(pub u64, pub u64);

impl KernelVersion {
    /// `minKernel` as docker reads it: exactly "X.Y", not "0.0".
    fn of_min_kernel(text: &str) -> Result<KernelVersion> {
        let numbers = text
            .split_once('.')
            .and_then(|(x, y)| Some(KernelVersion(x.parse().ok()?, y.parse().ok()?)));
        match numbers {
            Some(KernelVersion(0, 0)) | None => {
                bail!("minKernel {text:?}: expected \"<kernel>.<major>\" such as \"4.8\"")
            }
            Some(version) => Ok(version),
        }
    }

    /// uname's release: "6.1.0-18-amd64", "3.12-1-amd64", "6.18.44-fc" -> (X, Y).
    pub fn of_release(release: &str) -> Result<KernelVersion> {
        let leading_number = |part: &str| -> Option<u64> {
            let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        };
        let mut parts = release.splitn(3, '.');
        let kernel = parts.next().and_then(|p| p.parse().ok());
        let major = parts.next().and_then(leading_number);
        match (kernel, major) {
            (Some(kernel), Some(major)) => Ok(KernelVersion(kernel, major)),
            _ => bail!("kernel release {release:?}: expected \"<kernel>.<major>...\""),
        }
    }
}

/// A profile in docker's format, checked: every action and operator known.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    default_action: Action,
    architectures: Architectures,
    entries: Vec<Entry>,
}

#[derive(Clone, Debug, PartialEq)]
enum Architectures {
    /// `architectures`: these, on every machine.
    Listed(Vec<String>),
    /// `archMap`: the native architecture's entry and its sub-architectures.
    Map(Vec<(String, Vec<String>)>),
}

/// One `syscalls[]` entry: a rule, and the containers and machines it is for.
#[derive(Clone, Debug, PartialEq)]
struct Entry {
    rule: Rule,
    includes: Condition,
    excludes: Condition,
}

/// `includes` / `excludes`: empty lists say nothing.
#[derive(Clone, Debug, Default, PartialEq)]
struct Condition {
    caps: Vec<String>,
    arches: Vec<String>,
    min_kernel: Option<KernelVersion>,
}

impl Profile {
    /// Read docker's JSON; an unknown action or operator is an error naming the field.
    pub fn parse(json: &str) -> Result<Profile> {
        let raw: json::Profile =
            serde_json::from_str(json).context("not a docker seccomp profile")?;
        let architectures = match (raw.architectures.is_empty(), raw.arch_map.is_empty()) {
            (false, false) => bail!("both \"architectures\" and \"archMap\": use one of them"),
            (false, true) => Architectures::Listed(raw.architectures),
            (true, _) => Architectures::Map(
                raw.arch_map
                    .into_iter()
                    .map(|a| (a.architecture, a.sub_architectures))
                    .collect(),
            ),
        };
        let default_action =
            action(&raw.default_action, raw.default_errno_ret).context("defaultAction")?;
        let entries = raw
            .syscalls
            .into_iter()
            .enumerate()
            .map(|(i, syscall)| {
                let what = match syscall.names.first().or(syscall.name.as_ref()) {
                    Some(first) => format!("syscalls[{i}] ({first})"),
                    None => format!("syscalls[{i}]"),
                };
                entry(syscall).context(what)
            })
            .collect::<Result<_>>()?;
        Ok(Profile {
            default_action,
            architectures,
            entries,
        })
    }

    /// The rules for a container keeping `caps` on `machine`, as docker's
    /// setupSeccomp chooses them.
    pub fn resolve(&self, caps: &Capabilities, machine: &Machine) -> Result<Policy> {
        let names: Vec<String> = caps.iter().map(|c| c.to_string()).collect();
        let has = |cap: &String| names.contains(cap);
        let applies = |entry: &&Entry| {
            let inc = &entry.includes;
            let exc = &entry.excludes;
            // includes: all of it must hold; excludes: any of it excludes.
            let included = (inc.arches.is_empty() || inc.arches.iter().any(|a| a == machine.arch))
                && inc.caps.iter().all(has)
                && inc.min_kernel.is_none_or(|min| machine.kernel >= min);
            let excluded = exc.arches.iter().any(|a| a == machine.arch)
                || exc.caps.iter().any(has)
                || exc.min_kernel.is_some_and(|min| machine.kernel >= min);
            included && !excluded
        };
        let architectures = match &self.architectures {
            Architectures::Listed(list) => list.clone(),
            Architectures::Map(map) => {
                let native = seccomp_arch(machine.arch);
                map.iter()
                    .find(|(arch, _)| Some(arch.as_str()) == native)
                    .map(|(arch, subs)| std::iter::once(arch).chain(subs).cloned().collect())
                    .unwrap_or_default()
            }
        };
        // x32 rules for a kernel without x32 are a third of the program for
        // nothing (872 instead of 1246 instructions for docker's default,
        // ~25% less for the kernel to load at every start). Without them, an
        // x32 call is libseccomp's "bad architecture" (the filter's x86_64
        // check kills it) instead of the kernel's ENOSYS: stricter, never weaker.
        let mut architectures = architectures;
        architectures.retain(|arch| arch != "SCMP_ARCH_X32" || machine.x32);
        for arch in &architectures {
            // Caught here, on the host, rather than when the filter is loaded.
            arch.parse::<libseccomp::ScmpArch>()
                .map_err(|_| anyhow::anyhow!("architecture {arch:?}: unknown to libseccomp"))?;
        }
        Ok(Policy {
            default_action: self.default_action,
            architectures,
            rules: self
                .entries
                .iter()
                .filter(applies)
                .map(|e| e.rule.clone())
                .collect(),
        })
    }
}

fn entry(raw: json::Syscall) -> Result<Entry> {
    let names = match (raw.name, raw.names.is_empty()) {
        (Some(_), false) => bail!("both \"name\" and \"names\": use one of them"),
        (Some(name), true) => vec![name],
        (None, false) => raw.names,
        (None, true) => bail!("no syscall \"names\""),
    };
    let args = raw
        .args
        .iter()
        .enumerate()
        .map(|(i, arg)| condition(arg).with_context(|| format!("args[{i}]")))
        .collect::<Result<_>>()?;
    Ok(Entry {
        rule: Rule {
            names,
            action: action(&raw.action, raw.errno_ret).context("action")?,
            args,
        },
        includes: filter(raw.includes).context("includes")?,
        excludes: filter(raw.excludes).context("excludes")?,
    })
}

/// docker's SCMP_ACT_* names; ERRNO fails with `errnoRet`, else EPERM (as runc does).
fn action(name: &str, errno_ret: Option<u32>) -> Result<Action> {
    const KNOWN: &str = "SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL, SCMP_ACT_KILL_THREAD, \
                         SCMP_ACT_KILL_PROCESS, SCMP_ACT_TRAP, SCMP_ACT_LOG";
    Ok(match name {
        "SCMP_ACT_ALLOW" => Action::Allow,
        "SCMP_ACT_ERRNO" => {
            let errno = errno_ret.unwrap_or(libc::EPERM as u32);
            // The filter returns errno in 16 bits; the kernel's errnos stop at 4095.
            if errno > 4095 {
                bail!("errnoRet {errno}: not an errno (0-4095)");
            }
            Action::Errno(errno as i32)
        }
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
        "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
        "SCMP_ACT_TRAP" => Action::Trap,
        "SCMP_ACT_LOG" => Action::Log,
        "SCMP_ACT_TRACE" | "SCMP_ACT_NOTIFY" => {
            bail!("{name:?}: not supported by mini-docker (it needs a tracer or a listener); use one of {KNOWN}")
        }
        _ => bail!("{name:?}: unknown action (known: {KNOWN})"),
    })
}

fn condition(raw: &json::Arg) -> Result<ArgCondition> {
    let op = match raw.op.as_str() {
        "SCMP_CMP_NE" => Op::NotEqual,
        "SCMP_CMP_LT" => Op::LessThan,
        "SCMP_CMP_LE" => Op::LessOrEqual,
        "SCMP_CMP_EQ" => Op::Equal,
        "SCMP_CMP_GE" => Op::GreaterOrEqual,
        "SCMP_CMP_GT" => Op::GreaterThan,
        "SCMP_CMP_MASKED_EQ" => Op::MaskedEqual,
        other => bail!(
            "op {other:?}: unknown operator (known: SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, \
             SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT, SCMP_CMP_MASKED_EQ)"
        ),
    };
    if raw.index > 5 {
        bail!("index {}: a syscall has six arguments, 0 to 5", raw.index);
    }
    Ok(ArgCondition {
        index: raw.index,
        op,
        value: raw.value,
        value_two: raw.value_two,
    })
}

fn filter(raw: Option<json::Filter>) -> Result<Condition> {
    let Some(raw) = raw else {
        return Ok(Condition::default());
    };
    Ok(Condition {
        caps: raw.caps,
        arches: raw.arches,
        min_kernel: raw
            .min_kernel
            .filter(|text| !text.is_empty())
            .map(|text| KernelVersion::of_min_kernel(&text))
            .transpose()?,
    })
}

/// docker's JSON as written (moby's profiles/seccomp/seccomp.go and the OCI
/// runtime-spec's LinuxSeccomp). Fields we do not use (`flags`, `comment`,
/// `listenerPath`...) are ignored, as docker's decoder ignores unknown ones.
mod json {
    use super::*;

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Profile {
        pub default_action: String,
        pub default_errno_ret: Option<u32>,
        #[serde(default, deserialize_with = "or_default")]
        pub architectures: Vec<String>,
        #[serde(default, deserialize_with = "or_default")]
        pub arch_map: Vec<Architecture>,
        #[serde(default, deserialize_with = "or_default")]
        pub syscalls: Vec<Syscall>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Architecture {
        pub architecture: String,
        #[serde(default, deserialize_with = "or_default")]
        pub sub_architectures: Vec<String>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Syscall {
        /// Old profiles' single name.
        pub name: Option<String>,
        #[serde(default, deserialize_with = "or_default")]
        pub names: Vec<String>,
        pub action: String,
        pub errno_ret: Option<u32>,
        #[serde(default, deserialize_with = "or_default")]
        pub args: Vec<Arg>,
        pub includes: Option<Filter>,
        pub excludes: Option<Filter>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Arg {
        pub index: u32,
        pub value: u64,
        #[serde(default)]
        pub value_two: u64,
        pub op: String,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Filter {
        #[serde(default, deserialize_with = "or_default")]
        pub caps: Vec<String>,
        #[serde(default, deserialize_with = "or_default")]
        pub arches: Vec<String>,
        pub min_kernel: Option<String>,
    }

    /// Go writes an empty list as `null` ("subArchitectures": null).
    fn or_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
        d: D,
    ) -> Result<T, D::Error> {
        Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::caps::{Capability, DOCKER_DEFAULT};
    use super::*;

    const X86_64: Machine = Machine {
        arch: "amd64",
        kernel: KernelVersion(6, 1),
        x32: true,
    };

    fn default_caps() -> Capabilities {
        DOCKER_DEFAULT.into_iter().collect()
    }

    fn default_policy(caps: &Capabilities) -> Policy {
        Profile::parse(DEFAULT_PROFILE)
            .unwrap()
            .resolve(caps, &X86_64)
            .unwrap()
    }

    /// The rules that name `syscall`.
    fn rules_for<'a>(policy: &'a Policy, syscall: &str) -> Vec<&'a Rule> {
        policy
            .rules
            .iter()
            .filter(|r| r.names.iter().any(|n| n == syscall))
            .collect()
    }

    /// Allowed whatever its arguments: an Allow rule with no conditions.
    fn allowed_outright(policy: &Policy, syscall: &str) -> bool {
        rules_for(policy, syscall)
            .iter()
            .any(|r| r.action == Action::Allow && r.args.is_empty())
    }

    #[test]
    fn default_profile_parses_as_an_allow_list() {
        let policy = default_policy(&default_caps());
        assert_eq!(policy.default_action, Action::Errno(libc::EPERM));
        assert!(policy.rules.len() > 10, "{} rules", policy.rules.len());
    }

    #[test]
    fn default_caps_refuse_the_escape_syscalls() {
        let policy = default_policy(&default_caps());
        for refused in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "keyctl",
            "add_key",
            "request_key",
            "open_by_handle_at",
            "bpf",
            "init_module",
            "finit_module",
            "delete_module",
            "kexec_load",
            "kexec_file_load",
            "perf_event_open",
            "userfaultfd",
            "reboot",
            "swapon",
            "swapoff",
            "pivot_root",
        ] {
            let rules = rules_for(&policy, refused);
            assert!(
                rules.iter().all(|r| r.action != Action::Allow),
                "{refused} is allowed by {rules:?}"
            );
        }
        for allowed in [
            "read",
            "write",
            "execve",
            "close_range",
            "capset",
            "prctl",
            "setgroups",
            "setresuid",
            "setresgid",
            "wait4",
            "kill",
            "rt_sigtimedwait",
            "ioctl",
            "chroot",
            "ptrace",
        ] {
            assert!(
                allowed_outright(&policy, allowed),
                "{allowed} is not allowed"
            );
        }
    }

    #[test]
    fn clone_is_allowed_only_without_namespace_flags() {
        let policy = default_policy(&default_caps());
        let clone = rules_for(&policy, "clone");
        // CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWTIME? docker's mask.
        let namespaces = 0x7E02_0000;
        assert_eq!(
            clone,
            [&Rule {
                names: vec!["clone".into()],
                action: Action::Allow,
                args: vec![ArgCondition {
                    index: 0,
                    op: Op::MaskedEqual,
                    value: namespaces,
                    value_two: 0,
                }],
            }]
        );
        // clone3's flags are in memory a filter cannot read: ENOSYS makes libc use clone.
        let clone3 = rules_for(&policy, "clone3");
        assert_eq!(clone3.len(), 1);
        assert_eq!(clone3[0].action, Action::Errno(libc::ENOSYS));
    }

    #[test]
    fn personality_only_with_safe_values() {
        let policy = default_policy(&default_caps());
        let values: Vec<u64> = rules_for(&policy, "personality")
            .iter()
            .map(|r| {
                assert_eq!(r.args.len(), 1);
                assert_eq!(r.args[0].op, Op::Equal);
                r.args[0].value
            })
            .collect();
        assert_eq!(values, [0, 8, 0x20000, 0x20008, 0xffff_ffff]);
    }

    #[test]
    fn sys_admin_brings_mount_and_namespaces_back() {
        let mut caps = default_caps();
        caps.insert(Capability::CAP_SYS_ADMIN);
        let policy = default_policy(&caps);
        for syscall in ["mount", "umount2", "unshare", "setns", "clone", "clone3"] {
            assert!(allowed_outright(&policy, syscall), "{syscall}");
        }
        // ...and the rules meant only for containers without it are gone.
        assert!(rules_for(&policy, "clone3")
            .iter()
            .all(|r| r.action == Action::Allow));
        assert!(!allowed_outright(&policy, "open_by_handle_at"));
        caps.insert(Capability::CAP_DAC_READ_SEARCH);
        assert!(allowed_outright(
            &default_policy(&caps),
            "open_by_handle_at"
        ));
    }

    #[test]
    fn min_kernel_decides_ptrace() {
        let old = Machine {
            kernel: KernelVersion(4, 4),
            ..X86_64
        };
        let policy = Profile::parse(DEFAULT_PROFILE)
            .unwrap()
            .resolve(&default_caps(), &old)
            .unwrap();
        assert!(!allowed_outright(&policy, "ptrace"));
        assert!(allowed_outright(&default_policy(&default_caps()), "ptrace"));
    }

    #[test]
    fn arch_map_gives_the_native_architecture_and_its_sub_architectures() {
        let profile = Profile::parse(DEFAULT_PROFILE).unwrap();
        let caps = default_caps();
        assert_eq!(
            profile.resolve(&caps, &X86_64).unwrap().architectures,
            ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
        );
        let no_x32 = Machine {
            x32: false,
            ..X86_64
        };
        assert_eq!(
            profile.resolve(&caps, &no_x32).unwrap().architectures,
            ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "a kernel without x32 gets no x32 rules"
        );
        let arm64 = Machine {
            arch: "arm64",
            ..X86_64
        };
        let policy = profile.resolve(&caps, &arm64).unwrap();
        assert_eq!(policy.architectures, ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]);
        // Per-architecture rules follow the machine.
        assert!(allowed_outright(&policy, "set_tls"));
        assert!(!allowed_outright(&policy, "arch_prctl"));
        assert!(allowed_outright(&default_policy(&caps), "arch_prctl"));
    }

    #[test]
    fn user_profile_with_errno_and_args() {
        let json = r#"{
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"},
                {"name": "personality", "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
                 "args": [{"index": 0, "value": 255, "valueTwo": 8, "op": "SCMP_CMP_MASKED_EQ"}],
                 "includes": null, "excludes": {}}
            ]
        }"#;
        let policy = Profile::parse(json)
            .unwrap()
            .resolve(&default_caps(), &X86_64)
            .unwrap();
        assert_eq!(policy.default_action, Action::Allow);
        assert_eq!(policy.architectures, ["SCMP_ARCH_X86_64"]);
        assert_eq!(policy.rules[0].action, Action::Errno(libc::EPERM));
        assert_eq!(
            policy.rules[1],
            Rule {
                names: vec!["personality".into()],
                action: Action::Errno(libc::EINVAL),
                args: vec![ArgCondition {
                    index: 0,
                    op: Op::MaskedEqual,
                    value: 255,
                    value_two: 8
                }],
            }
        );
    }

    #[test]
    fn default_errno_ret_sets_the_default_errno() {
        let json = r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "syscalls": []}"#;
        let profile = Profile::parse(json).unwrap();
        assert_eq!(profile.default_action, Action::Errno(libc::ENOSYS));
    }

    /// The error, with its context, on one line as the CLI prints it.
    fn parse_error(json: &str) -> String {
        format!("{:#}", Profile::parse(json).unwrap_err())
    }

    #[test]
    fn bad_profiles_name_what_is_wrong() {
        let unknown_action = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mkdir"], "action": "SCMP_ACT_MAYBE"}]}"#;
        let message = parse_error(unknown_action);
        assert!(message.contains("syscalls[1] (mkdir)"), "{message}");
        assert!(message.contains("SCMP_ACT_MAYBE"), "{message}");
        let unknown_op = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["socket"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ABOUT"}]}]}"#;
        let message = parse_error(unknown_op);
        assert!(
            message.contains("syscalls[0] (socket): args[0]: op \"SCMP_CMP_ABOUT\""),
            "{message}"
        );
        let bad_default = r#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#;
        assert!(parse_error(bad_default).starts_with("defaultAction: \"SCMP_ACT_NOTIFY\""));
        for (bad, says) in [
            (r#"{"syscalls": []}"#, "defaultAction"),
            (r#"{"defaultAction": "SCMP_ACT_ALLOW", "#, "EOF"),
            (
                r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
                  "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}"#,
                "both",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"],
                  "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4"}}]}"#,
                "includes: minKernel \"4\"",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"],
                  "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]}"#,
                "errnoRet 70000",
            ),
        ] {
            let message = parse_error(bad);
            assert!(message.contains(says), "{bad}: {message}");
            assert!(!message.contains('\n'), "{message}");
        }
    }

    #[test]
    fn unknown_architecture_fails_on_the_host() {
        let json = r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}"#;
        let error = Profile::parse(json)
            .unwrap()
            .resolve(&default_caps(), &X86_64)
            .unwrap_err();
        assert!(error.to_string().contains("SCMP_ARCH_Z80"));
    }

    /// What `seccomp_filter` (solutions/ch11_hardening.rs) makes of a policy,
    /// compiled to BPF as `seccomp_load` does, but written to /dev/null: the
    /// cost a container start pays in user space for the default profile.
    fn compile(policy: &Policy) -> std::time::Duration {
        let start = std::time::Instant::now();
        let filter = build_filter(policy);
        let mut sink = std::fs::File::create("/dev/null").unwrap();
        filter.export_bpf(&mut sink).unwrap();
        start.elapsed()
    }

    /// The filter `seccomp_filter` (solutions/ch11_hardening.rs) builds.
    pub(crate) fn build_filter(policy: &Policy) -> libseccomp::ScmpFilterContext {
        use libseccomp::*;
        let to_action = |a: Action| match a {
            Action::Allow => ScmpAction::Allow,
            Action::Errno(e) => ScmpAction::Errno(e),
            Action::KillThread => ScmpAction::KillThread,
            Action::KillProcess => ScmpAction::KillProcess,
            Action::Trap => ScmpAction::Trap,
            Action::Log => ScmpAction::Log,
        };
        let mut filter = ScmpFilterContext::new_filter(to_action(policy.default_action)).unwrap();
        for arch in &policy.architectures {
            filter.add_arch(arch.parse::<ScmpArch>().unwrap()).unwrap();
        }
        for rule in &policy.rules {
            let conditions: Vec<ScmpArgCompare> = rule
                .args
                .iter()
                .map(|c| {
                    let op = match c.op {
                        Op::MaskedEqual => ScmpCompareOp::MaskedEqual(c.value),
                        Op::Equal => ScmpCompareOp::Equal,
                        Op::LessThan => ScmpCompareOp::Less,
                        Op::GreaterThan => ScmpCompareOp::Greater,
                        other => panic!("not in the default profile: {other:?}"),
                    };
                    let datum = match c.op {
                        Op::MaskedEqual => c.value_two,
                        _ => c.value,
                    };
                    ScmpArgCompare::new(c.index, op, datum)
                })
                .collect();
            for name in &rule.names {
                if let Ok(syscall) = ScmpSyscall::from_name(name) {
                    filter
                        .add_rule_conditional(to_action(rule.action), syscall, &conditions)
                        .unwrap();
                }
            }
        }
        let _ = filter.set_ctl_optimize(2); // as seccomp_program::compiled does
        filter
    }

    #[test]
    fn default_filter_compile_time() {
        let parse_start = std::time::Instant::now();
        let policy = Policy::for_container(&Choice::Default, &default_caps()).unwrap();
        let parsed = parse_start.elapsed();
        let mut times: Vec<_> = (0..21).map(|_| compile(&policy)).collect();
        times.sort();
        let median = times[times.len() / 2];
        eprintln!(
            "default profile: parse+resolve {parsed:?}; libseccomp build+compile median {median:?} \
             (min {:?}, max {:?}), {} rules",
            times[0],
            times[times.len() - 1],
            policy.rules.len()
        );
        // A ceiling that catches a pathological filter, not the 0.5 ms budget
        // (a shared VM's timing is too noisy to assert that here; see the
        // module's notes on the cost).
        assert!(median < std::time::Duration::from_millis(250), "{median:?}");
    }

    #[test]
    fn kernel_releases() {
        for (release, version) in [
            ("6.18.44-fc-v669", KernelVersion(6, 18)),
            ("3.12-1-amd64", KernelVersion(3, 12)),
            ("4.8.0-rc5", KernelVersion(4, 8)),
        ] {
            assert_eq!(KernelVersion::of_release(release).unwrap(), version);
        }
        assert!(KernelVersion::of_release("linux").is_err());
        assert!(KernelVersion::of_min_kernel("0.0").is_err());
        assert!(KernelVersion::of_min_kernel("4.8.1").is_err());
    }

    #[test]
    fn for_container_reads_the_users_file_and_names_it() {
        let choice = Choice::Profile {
            file: "/tmp/deny.json".into(),
            json: "{ not json".into(),
        };
        let error = Policy::for_container(&choice, &default_caps()).unwrap_err();
        let message = format!("{error:#}");
        assert!(
            message.starts_with("--security-opt seccomp=/tmp/deny.json: "),
            "{message}"
        );
        let policy = Policy::for_container(&Choice::Default, &default_caps()).unwrap();
        assert_eq!(policy.default_action, Action::Errno(libc::EPERM));
    }
}
