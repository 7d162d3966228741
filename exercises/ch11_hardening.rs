//! Chapter 11 — hardening: root in a container, contained like docker's.
//! Lesson: chapters/11-hardening.md   Check: mini-docker check 11
//!
//! Until a function here is written, the runtime warns and runs the container
//! *without* that layer: `mini-docker check 11` then shows each escape working.

use std::path::Path;

use anyhow::Result;

use mini_docker::cgroups::devices::{DeviceCgroup, DeviceRule};
use mini_docker::cgroups::CgroupFs;
use mini_docker::security::caps::Capabilities;
use mini_docker::security::seccomp::Policy;
use mini_docker::security::seccomp_program::BpfProgram;

use libseccomp::ScmpFilterContext;

/// After the pivot: give the container a cgroup namespace of its own (its
/// cgroup becomes its "/"), then mount its cgroup filesystem read-only at `target`.
pub fn isolate_cgroupfs(target: &Path, cgroupfs: &CgroupFs) -> Result<()> {
    // TODO(ch11): enter a new cgroup namespace (unshare(2), cgroup_namespaces(7)),
    //             then mount the cgroup filesystem on `target` read-only: one
    //             cgroup2 mount, or (v1) a tmpfs holding one "cgroup" mount per
    //             hierarchy, named after its controllers — the tmpfs read-only
    //             too, once filled. Lesson: "A cgroup namespace".
    todo!("isolate_cgroupfs — chapters/11-hardening.md, \"A cgroup namespace\"")
}

/// Hide from the container every path of `paths` (files and directories)
/// this kernel has.
pub fn mask_paths(paths: &[&Path]) -> Result<()> {
    // TODO(ch11): make each path show nothing: a file gets an empty file bound
    //             over it, a directory an empty filesystem that cannot be
    //             written — one such filesystem for all the directories (a new
    //             one costs ten times a bind of an existing one). A path this
    //             kernel does not have is not an error. mount(2); lesson:
    //             "Masked and read-only paths".
    todo!("mask_paths — chapters/11-hardening.md, \"Masked and read-only paths\"")
}

/// Make `path` read-only for the container, if it exists.
pub fn make_read_only(path: &Path) -> Result<()> {
    // TODO(ch11): a read-only view of `path`, in place. A bind mount takes new
    //             flags only when remounted (mount(2), MS_REMOUNT | MS_BIND),
    //             and must keep the flags it already has. A missing path is not
    //             an error. Lesson: "Masked and read-only paths".
    todo!("make_read_only — chapters/11-hardening.md, \"Masked and read-only paths\"")
}

/// Build (do not load) the seccomp filter `policy` describes. Runs on the
/// host, once per profile: the runtime compiles it to BPF and caches it.
pub fn seccomp_filter(policy: &Policy) -> Result<ScmpFilterContext> {
    // TODO(ch11): a libseccomp filter (libseccomp::ScmpFilterContext) with the
    //             policy's default action, every architecture it names, and one
    //             rule per syscall name with its argument conditions (docker's
    //             MASKED_EQ: `value` is the mask). Skip names this machine's
    //             tables do not know. seccomp_rule_add(3); lesson: "seccomp".
    todo!("seccomp_filter — chapters/11-hardening.md, \"seccomp\"")
}

/// Hand the compiled filter to the kernel: from now on it judges every
/// syscall of this process and of everything it execs.
pub fn load_seccomp(program: &BpfProgram) -> Result<()> {
    // TODO(ch11): one seccomp(2) call (SECCOMP_SET_MODE_FILTER) with the
    //             program as a `struct sock_fprog` (program.as_sock_fprog()).
    //             It runs *before* the capabilities are dropped, and without
    //             no_new_privs: who may load a filter then? seccomp(2), EACCES;
    //             lesson: "seccomp".
    todo!("load_seccomp — chapters/11-hardening.md, \"seccomp\"")
}

/// Keep only `keep`: in the bounding set, and as root's permitted and
/// effective sets; nothing inheritable, nothing ambient.
pub fn limit_capabilities(keep: &Capabilities) -> Result<()> {
    // TODO(ch11): the five capability sets of capabilities(7), each set to
    //             what docker gives a container. Which set stops an exec'd
    //             program from getting a capability back? Which one needs
    //             CAP_SETPCAP to shrink, so goes first? The `caps` crate names
    //             them. Lesson: "Capabilities".
    todo!("limit_capabilities — chapters/11-hardening.md, \"Capabilities\"")
}

/// `--security-opt no-new-privileges`: execve never grants privileges again.
pub fn set_no_new_privs() -> Result<()> {
    // TODO(ch11): one prctl(2). What does it change for a setuid binary?
    //             Lesson: "no_new_privs".
    todo!("set_no_new_privs — chapters/11-hardening.md, \"no_new_privs\"")
}

/// On the host, before the container exists: only `allowed` devices may be
/// opened (or made) through `cgroup`.
pub fn restrict_devices(cgroup: DeviceCgroup<'_>, allowed: &[DeviceRule]) -> Result<()> {
    // TODO(ch11): v1: the devices controller starts from "everything allowed";
    //             deny all, then allow each rule (devices.deny / devices.allow,
    //             Documentation/admin-guide/cgroup-v1/devices.rst). v2 has no
    //             such file: a BPF program decides
    //             (mini_docker::cgroups::devices::attach_device_filter).
    //             Lesson: "Devices".
    todo!("restrict_devices — chapters/11-hardening.md, \"Devices\"")
}
