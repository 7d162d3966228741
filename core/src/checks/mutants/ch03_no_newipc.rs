//! Mutant: CLONE_NEWIPC forgotten — the host's SysV objects are visible inside.
use nix::sched::CloneFlags;

pub fn namespaces() -> CloneFlags {
    CloneFlags::CLONE_NEWUTS
}
