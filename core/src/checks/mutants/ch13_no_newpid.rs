//! Mutant: the PID namespace left out — "the init is PID 1 anyway, it is
//! the first process". The container's process then lives in the host's PID
//! namespace and sees every host process.
use anyhow::Result;
use nix::sched::CloneFlags;

use mini_docker::oci::plan::NamespacePlan;
use mini_docker::oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};

pub fn namespace_plan(namespaces: &[LinuxNamespace]) -> Result<NamespacePlan> {
    let mut plan = NamespacePlan::default();
    for namespace in namespaces {
        let flag = match namespace.typ() {
            LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
            LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
            LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
            LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
            LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
            LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
            // (the mistake: pid, and time, ignored)
            _ => continue,
        };
        match namespace.path() {
            Some(path) => plan.join.push((flag, path.clone())),
            None => plan.clone_flags |= flag,
        }
    }
    Ok(plan)
}
