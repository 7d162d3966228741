//! Mutant: the variant compared as written, always: an index's arm64 entry
//! without a variant never matches linux/arm64/v8, and a variant is
//! required even when none was asked for.
use mini_docker::image::manifest::Descriptor;
use mini_docker::image::platform::Platform;

pub fn select_manifest<'a>(
    manifests: &'a [Descriptor],
    wanted: &Platform,
) -> Option<&'a Descriptor> {
    manifests.iter().find(|m| {
        m.platform.as_ref().is_some_and(|p| {
            p.os == wanted.os
                && p.architecture == wanted.architecture
                && p.variant == wanted.variant
        })
    })
}
