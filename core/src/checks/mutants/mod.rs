//! TEST ONLY: realistic wrong answers to the chapters' steps, each one step
//! function swapped for a mistaken one. `MINI_DOCKER_MUTANT=NAME` selects one
//! (tests/mutants.rs), to prove the checks catch the lessons' own pitfalls.
//! Compiled into the binary next to exercises/ and solutions/ (src/main.rs);
//! never used unless that variable is set.

mod ch03_hostname_fixed;
mod ch03_hostname_ignored;
mod ch03_no_namespaces;
mod ch03_no_newipc;
mod ch03_no_newuts;
mod ch04_no_forward;
mod ch04_no_newpid;
mod ch04_one_wait_per_sigchld;
mod ch04_proc_not_mounted;
mod ch04_wait_command_only;
mod ch05_no_chdir;
mod ch05_no_detach;
mod ch05_not_private;
mod ch05_private;
mod ch05_sys_writable;
mod ch08_memory_in_mib;
mod ch08_period_assumed;
mod ch08_quota_first;
mod ch08_quota_truncated;
mod ch08_v2_todo;

use mini_docker::workshop::Steps;

/// The variable that selects a mutant (unset: none, the normal case).
pub const VARIABLE: &str = "MINI_DOCKER_MUTANT";

/// Swap in the mutant `MINI_DOCKER_MUTANT` names, if any. An unknown name
/// stops the program: a test must never run the unmutated code by mistake.
pub fn apply(mut steps: Steps) -> Steps {
    let Ok(name) = std::env::var(VARIABLE) else {
        return steps;
    };
    let (ch03, ch04, ch05, ch08) = (
        &mut steps.ch03_uts,
        &mut steps.ch04_pid,
        &mut steps.ch05_mount,
        &mut steps.ch08_cgroups,
    );
    match name.as_str() {
        "ch03_no_newuts" => ch03.namespaces = ch03_no_newuts::namespaces,
        "ch03_no_newipc" => ch03.namespaces = ch03_no_newipc::namespaces,
        "ch03_no_namespaces" => ch03.namespaces = ch03_no_namespaces::namespaces,
        "ch03_hostname_ignored" => ch03.set_hostname = ch03_hostname_ignored::set_hostname,
        "ch03_hostname_fixed" => ch03.set_hostname = ch03_hostname_fixed::set_hostname,
        "ch04_no_newpid" => ch04.namespaces = ch04_no_newpid::namespaces,
        "ch04_proc_not_mounted" => ch04.mount_proc = ch04_proc_not_mounted::mount_proc,
        "ch04_one_wait_per_sigchld" => ch04.init_loop = ch04_one_wait_per_sigchld::init_loop,
        "ch04_wait_command_only" => ch04.init_loop = ch04_wait_command_only::init_loop,
        "ch04_no_forward" => ch04.init_loop = ch04_no_forward::init_loop,
        "ch05_private" => ch05.make_mounts_private = ch05_private::make_mounts_private,
        "ch05_not_private" => ch05.make_mounts_private = ch05_not_private::make_mounts_private,
        "ch05_no_chdir" => ch05.pivot_into = ch05_no_chdir::pivot_into,
        "ch05_no_detach" => ch05.pivot_into = ch05_no_detach::pivot_into,
        "ch05_sys_writable" => ch05.mount_sys = ch05_sys_writable::mount_sys,
        "ch08_v2_todo" => ch08.write_limits_v2 = ch08_v2_todo::write_limits_v2,
        "ch08_quota_truncated" => {
            ch08.write_limits_v1 = ch08_quota_truncated::write_limits_v1;
            ch08.write_limits_v2 = ch08_quota_truncated::write_limits_v2;
        }
        "ch08_quota_first" => ch08.write_limits_v1 = ch08_quota_first::write_limits_v1,
        "ch08_period_assumed" => {
            ch08.write_limits_v1 = ch08_period_assumed::write_limits_v1;
            ch08.write_limits_v2 = ch08_period_assumed::write_limits_v2;
        }
        "ch08_memory_in_mib" => {
            ch08.write_limits_v1 = ch08_memory_in_mib::write_limits_v1;
            ch08.write_limits_v2 = ch08_memory_in_mib::write_limits_v2;
        }
        other => {
            eprintln!("mini-docker: {VARIABLE}={other:?} names no mutant");
            std::process::exit(125);
        }
    }
    steps
}
