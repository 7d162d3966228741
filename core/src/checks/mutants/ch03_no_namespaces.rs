//! Mutant: no namespace at all (`namespaces()` returns empty).
use nix::sched::CloneFlags;

pub fn namespaces() -> CloneFlags {
    CloneFlags::empty()
}
