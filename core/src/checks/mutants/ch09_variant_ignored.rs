//! Mutant: os and architecture compared, the variant never: asked for
//! linux/arm/v7, the first linux/arm (v6) is taken.
use mini_docker::image::manifest::Descriptor;
use mini_docker::image::platform::Platform;

pub fn select_manifest<'a>(
    manifests: &'a [Descriptor],
    wanted: &Platform,
) -> Option<&'a Descriptor> {
    manifests.iter().find(|m| {
        m.platform
            .as_ref()
            .is_some_and(|p| p.os == wanted.os && p.architecture == wanted.architecture)
    })
}
