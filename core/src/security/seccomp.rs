//! seccomp: docker's JSON profile format, resolved for one container into a
//! flat `Policy` the learner's `install_seccomp` turns into a kernel filter.
//!
//! SKELETON: parsing docker's JSON and the default profile are being written.

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::caps::Capabilities;

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
    /// The policy for a container keeping `caps`.
    pub fn for_container(_choice: &Choice, _caps: &Capabilities) -> Result<Policy> {
        // SKELETON: replaced by the docker-format parser and default.json.
        Ok(Policy {
            default_action: Action::Allow,
            architectures: vec!["SCMP_ARCH_X86_64".into()],
            rules: Vec::new(),
        })
    }
}
