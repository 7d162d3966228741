//! Mutant: "uts" mapped to the IPC flag — two namespaces of chapter 3, one
//! flag remembered. The hostname the spec asks for is then never set (the
//! runtime sets it only in a UTS namespace of the container's own).
use anyhow::Result;
use nix::sched::CloneFlags;

use mini_docker::oci::plan::NamespacePlan;
use mini_docker::oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};

pub fn namespace_plan(namespaces: &[LinuxNamespace]) -> Result<NamespacePlan> {
    let mut plan = NamespacePlan::default();
    for namespace in namespaces {
        let flag = match namespace.typ() {
            LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
            // (the mistake)
            LinuxNamespaceType::Uts | LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
            LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
            LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
            LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
            LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
            LinuxNamespaceType::Time => anyhow::bail!("time namespaces are not supported"),
        };
        match namespace.path() {
            Some(path) => plan.join.push((flag, path.clone())),
            None => plan.clone_flags |= flag,
        }
    }
    Ok(plan)
}
