//! Mutant: only the words mount(8) documents with "no" are flags — "ro" is
//! passed on as filesystem data, which sysfs ignores: /sys is writable.
use anyhow::Result;
use nix::mount::MsFlags;

use mini_docker::oci::plan::MountPlan;
use mini_docker::oci_spec::runtime::Mount;

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
        match option.as_str() {
            "bind" => plan.bind = true,
            "rbind" => (plan.bind, plan.recursive) = (true, true),
            "nosuid" => plan.flags |= MsFlags::MS_NOSUID,
            "nodev" => plan.flags |= MsFlags::MS_NODEV,
            "noexec" => plan.flags |= MsFlags::MS_NOEXEC,
            "relatime" => plan.flags |= MsFlags::MS_RELATIME,
            "strictatime" => plan.flags |= MsFlags::MS_STRICTATIME,
            "rprivate" => plan.propagation = MsFlags::MS_PRIVATE | MsFlags::MS_REC,
            "rslave" => plan.propagation = MsFlags::MS_SLAVE | MsFlags::MS_REC,
            // (the mistake: "ro" lands here, with the filesystem's own options)
            other => data.push(other.to_string()),
        }
    }
    plan.data = data.join(",");
    Ok(plan)
}
