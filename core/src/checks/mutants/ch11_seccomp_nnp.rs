//! Mutant: the seccomp filter loaded with libseccomp's defaults, which set
//! no_new_privs — every container then has it, asked for or not, and a
//! setuid program inside no longer works as it does under docker.
use std::str::FromStr;

use anyhow::{Context, Result};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};

use mini_docker::security::seccomp::{Action, ArgCondition, Op, Policy};

/// Load the seccomp filter `policy` describes, for this process and what it execs.
pub fn install_seccomp(policy: &Policy) -> Result<()> {
    let mut filter = ScmpFilterContext::new_filter(action(policy.default_action))?;
    for arch in &policy.architectures {
        filter
            .add_arch(ScmpArch::from_str(arch).with_context(|| format!("architecture {arch}"))?)?;
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
    // (the mistake: libseccomp's default sets no_new_privs before loading)
    filter.load().context("load the seccomp filter")
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
        Op::MaskedEqual => (
            ScmpCompareOp::MaskedEqual(condition.value),
            condition.value_two,
        ),
    };
    ScmpArgCompare::new(condition.index, op, datum)
}
