//! Chapter 13 — speak OCI: a real engine (podman) drives our runtime.
//! Lesson: chapters/13-oci.md   Check: mini-docker check 13
//!
//! `mini-docker-runc create` reads the bundle's `config.json` (with the
//! oci-spec crate) and hands three parts of it to you: translate them into
//! what chapters 3-7, 5 and 11 already apply. Until you do, `create` stops
//! with a TODO(ch13) line.

use anyhow::Result;

use mini_docker::oci::plan::{CapabilitySets, MountPlan, NamespacePlan};
use mini_docker::oci_spec::runtime::{LinuxCapabilities, LinuxNamespace, Mount};

/// `linux.namespaces` → the clone flags of the new namespaces, and the
/// namespaces to join.
pub fn namespace_plan(namespaces: &[LinuxNamespace]) -> Result<NamespacePlan> {
    // TODO(ch13): for each entry, its type (`namespace.typ()`: Mount, Uts,
    //             Ipc, Pid, Network, User, Cgroup) is one CLONE_NEW* flag
    //             (the ones chapters 3-7 and 11 used). Without a `path()` it
    //             is a *new* namespace: add the flag to `clone_flags`. With a
    //             path, push (flag, path) to `join`: the runtime setns(2)s
    //             into it before clone. Time namespaces: bail! (unsupported).
    //             Lesson: "From config.json to clone flags".
    todo!("namespace_plan — chapters/13-oci.md, \"From config.json to clone flags\"")
}

/// One entry of `mounts` → mount(2)'s arguments.
pub fn mount_plan(mount: &Mount) -> Result<MountPlan> {
    // TODO(ch13): destination, source and type come as they are (a type of
    //             "bind" means a bind mount, no fstype). Each option word is
    //             a flag (ro → MS_RDONLY, nosuid, nodev, noexec, relatime,
    //             strictatime, ...; rw/suid/dev/exec clear one), a bind
    //             ("bind"; "rbind" is recursive), a propagation
    //             ("rprivate" = MS_PRIVATE | MS_REC, slave, shared, ...) or,
    //             if none of these, the filesystem's own data
    //             ("mode=755", "size=65536k": join them with commas).
    //             See mount(8) "FILESYSTEM-INDEPENDENT MOUNT OPTIONS".
    //             Lesson: "Mounts: option words to flags".
    todo!("mount_plan — chapters/13-oci.md, \"Mounts: option words to flags\"")
}

/// `process.capabilities` → chapter 11's capability sets, five of them.
pub fn capability_sets(capabilities: &LinuxCapabilities) -> Result<CapabilitySets> {
    // TODO(ch13): each of bounding(), effective(), permitted(), inheritable()
    //             and ambient() is an optional set of oci-spec Capability
    //             values; their Display is "CHOWN", the caps crate parses
    //             "CAP_CHOWN" into mini_docker::security::caps::Capability.
    //             A missing set is an empty one (nothing is granted unless
    //             asked for). Lesson: "Capabilities: five sets".
    todo!("capability_sets — chapters/13-oci.md, \"Capabilities: five sets\"")
}
