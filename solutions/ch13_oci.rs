//! Chapter 13 — speak OCI: a real engine (podman) drives our runtime.
//! Lesson: chapters/13-oci.md
//!
//! The OCI runtime spec describes a container as data (`config.json`); these
//! three functions translate parts of it into what the earlier chapters
//! already know how to do.

use std::path::PathBuf;

use anyhow::{bail, Result};
use nix::mount::MsFlags;
use nix::sched::CloneFlags;

use mini_docker::oci::plan::{CapabilitySets, MountPlan, NamespacePlan};
use mini_docker::oci_spec::runtime::{
    Capabilities as OciCapabilities, LinuxCapabilities, LinuxNamespace, LinuxNamespaceType, Mount,
};
use mini_docker::security::caps::{Capabilities, Capability};

/// `linux.namespaces`: a type without a path is a new namespace (a clone
/// flag, chapters 3-7); with a path, the container joins that one instead.
pub fn namespace_plan(namespaces: &[LinuxNamespace]) -> Result<NamespacePlan> {
    let mut plan = NamespacePlan::default();
    for namespace in namespaces {
        let flag = match namespace.typ() {
            LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
            LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
            LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
            LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
            LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
            LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
            LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
            LinuxNamespaceType::Time => bail!("time namespaces are not supported"),
        };
        match namespace.path() {
            Some(path) => plan.join.push((flag, PathBuf::from(path))),
            None => plan.clone_flags |= flag,
        }
    }
    Ok(plan)
}

/// One entry of `mounts`: mount(8)'s option words become mount(2)'s flags;
/// the words it does not know are the filesystem's own data.
pub fn mount_plan(mount: &Mount) -> Result<MountPlan> {
    let mut plan = MountPlan {
        destination: mount.destination().to_string_lossy().into_owned(),
        source: mount.source().clone(),
        fstype: mount.typ().clone().filter(|t| t != "bind" && t != "none"),
        bind: mount.typ().as_deref() == Some("bind"),
        ..MountPlan::default()
    };
    let mut data = Vec::new();
    for option in mount.options().iter().flatten() {
        let option = option.as_str();
        match option {
            "bind" => plan.bind = true,
            "rbind" => (plan.bind, plan.recursive) = (true, true),
            "ro" => plan.flags |= MsFlags::MS_RDONLY,
            "rw" => plan.flags.remove(MsFlags::MS_RDONLY),
            "nosuid" => plan.flags |= MsFlags::MS_NOSUID,
            "suid" => plan.flags.remove(MsFlags::MS_NOSUID),
            "nodev" => plan.flags |= MsFlags::MS_NODEV,
            "dev" => plan.flags.remove(MsFlags::MS_NODEV),
            "noexec" => plan.flags |= MsFlags::MS_NOEXEC,
            "exec" => plan.flags.remove(MsFlags::MS_NOEXEC),
            "relatime" => plan.flags |= MsFlags::MS_RELATIME,
            "norelatime" => plan.flags.remove(MsFlags::MS_RELATIME),
            "strictatime" => plan.flags |= MsFlags::MS_STRICTATIME,
            "noatime" => plan.flags |= MsFlags::MS_NOATIME,
            "nodiratime" => plan.flags |= MsFlags::MS_NODIRATIME,
            "sync" => plan.flags |= MsFlags::MS_SYNCHRONOUS,
            "dirsync" => plan.flags |= MsFlags::MS_DIRSYNC,
            "mand" => plan.flags |= MsFlags::MS_MANDLOCK,
            "private" => plan.propagation = MsFlags::MS_PRIVATE,
            "rprivate" => plan.propagation = MsFlags::MS_PRIVATE | MsFlags::MS_REC,
            "slave" => plan.propagation = MsFlags::MS_SLAVE,
            "rslave" => plan.propagation = MsFlags::MS_SLAVE | MsFlags::MS_REC,
            "shared" => plan.propagation = MsFlags::MS_SHARED,
            "rshared" => plan.propagation = MsFlags::MS_SHARED | MsFlags::MS_REC,
            "unbindable" => plan.propagation = MsFlags::MS_UNBINDABLE,
            "runbindable" => plan.propagation = MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
            "defaults" | "async" | "atime" | "diratime" => {}
            other => data.push(other),
        }
    }
    plan.data = data.join(",");
    Ok(plan)
}

/// `process.capabilities`: five lists of names ("CAP_CHOWN"), each a set.
pub fn capability_sets(capabilities: &LinuxCapabilities) -> Result<CapabilitySets> {
    Ok(CapabilitySets {
        bounding: convert(capabilities.bounding())?,
        effective: convert(capabilities.effective())?,
        permitted: convert(capabilities.permitted())?,
        inheritable: convert(capabilities.inheritable())?,
        ambient: convert(capabilities.ambient())?,
    })
}

/// An absent list is an empty set: nothing is granted by default.
fn convert(set: &Option<OciCapabilities>) -> Result<Capabilities> {
    let mut out = Capabilities::new();
    for cap in set.iter().flatten() {
        let name = format!("CAP_{cap}");
        match name.parse::<Capability>() {
            Ok(c) => {
                out.insert(c);
            }
            Err(_) => bail!("capability {name}: unknown to this runtime"),
        }
    }
    Ok(out)
}
