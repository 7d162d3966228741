//! Mutant: CLONE_NEWUTS forgotten — sethostname renames mini-docker's own UTS namespace.
use nix::sched::CloneFlags;

pub fn namespaces() -> CloneFlags {
    CloneFlags::CLONE_NEWIPC
}
