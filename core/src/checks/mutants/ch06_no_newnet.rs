//! Mutant: CLONE_NEWNET forgotten — the container shares mini-docker's (the
//! host's) network namespace. The scaffold refuses to clone it (check 6.1
//! names the flag): configuring "inside" would configure the host.
use nix::sched::CloneFlags;

pub fn namespaces() -> CloneFlags {
    CloneFlags::empty()
}
