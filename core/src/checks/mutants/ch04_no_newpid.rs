//! Mutant: CLONE_NEWPID forgotten — the container shares mini-docker's PID namespace.
use nix::sched::CloneFlags;

pub fn namespaces() -> CloneFlags {
    CloneFlags::empty()
}
