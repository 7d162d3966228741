//! Chapter 13's seam: what the learner's steps turn an OCI `config.json` into
//! — the runtime's own vocabulary (clone flags, mount(2) arguments, the
//! capability sets). `solutions/ch13_oci.rs` and `exercises/ch13_oci.rs`
//! produce these; `create.rs`, `mounts.rs` and `process.rs` apply them.

use std::path::PathBuf;

use nix::mount::MsFlags;
use nix::sched::CloneFlags;

use crate::security::caps::Capabilities;

/// `linux.namespaces`: which namespaces to create (clone flags) and which
/// to join (an entry with a `path`: setns(2) into that file).
#[derive(Clone, Debug, PartialEq)]
pub struct NamespacePlan {
    /// The new namespaces, as clone(2) flags (CLONE_NEWPID, ...).
    pub clone_flags: CloneFlags,
    /// (the namespace's clone flag, the file to setns(2) into).
    pub join: Vec<(CloneFlags, PathBuf)>,
}

/// One OCI mount as mount(2) takes it.
#[derive(Clone, Debug, PartialEq)]
pub struct MountPlan {
    /// Where, inside the container (resolved inside the rootfs).
    pub destination: String,
    /// What: a host path for a bind mount, a name ("proc", "tmpfs") otherwise.
    pub source: Option<PathBuf>,
    /// The filesystem type ("proc", "tmpfs", "cgroup"...; None for a bind).
    pub fstype: Option<String>,
    /// MS_BIND (with MS_REC for rbind) for a bind mount.
    pub bind: bool,
    pub recursive: bool,
    /// MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, ... (a bind mount gets
    /// them by a second, remounting call).
    pub flags: MsFlags,
    /// MS_PRIVATE, MS_SLAVE, MS_SHARED, MS_UNBINDABLE (with MS_REC for the r- forms), applied last.
    pub propagation: MsFlags,
    /// What is left for the filesystem itself: "mode=755,size=65536k".
    pub data: String,
}

impl Default for NamespacePlan {
    fn default() -> Self {
        NamespacePlan {
            clone_flags: CloneFlags::empty(),
            join: Vec::new(),
        }
    }
}

impl Default for MountPlan {
    fn default() -> Self {
        MountPlan {
            destination: String::new(),
            source: None,
            fstype: None,
            bind: false,
            recursive: false,
            flags: MsFlags::empty(),
            propagation: MsFlags::empty(),
            data: String::new(),
        }
    }
}

/// `process.capabilities`: the five sets, in the `caps` crate's terms
/// (chapter 11 applied one set for all; OCI names each).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CapabilitySets {
    pub bounding: Capabilities,
    pub effective: Capabilities,
    pub permitted: Capabilities,
    pub inheritable: Capabilities,
    pub ambient: Capabilities,
}
