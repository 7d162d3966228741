//! Mutant: the index's first manifest, whatever its platform.
use mini_docker::image::manifest::Descriptor;
use mini_docker::image::platform::Platform;

pub fn select_manifest<'a>(
    manifests: &'a [Descriptor],
    _wanted: &Platform,
) -> Option<&'a Descriptor> {
    manifests.first()
}
