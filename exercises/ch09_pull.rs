//! Chapter 9 — pulling images: references, the token dance, platforms.
//! Lesson: chapters/09-pull.md   Check: mini-docker check 9

use anyhow::{bail, Result};

use mini_docker::image::digest::Digest;
use mini_docker::image::manifest::Descriptor;
use mini_docker::image::platform::Platform;
use mini_docker::image::image_ref::ImageRef;
use mini_docker::image::registry::{Authorization, Challenge, Dance};

/// Resolve a reference like docker: `busybox` -> docker.io/library/busybox:latest.
/// (The scaffold then checks each part's grammar.)
pub fn parse_image_ref(text: &str) -> Result<ImageRef> {
    // TODO(ch09): read `text` the way docker does: where the registry ends, what
    //             the repository is (and Docker Hub's two defaults), the tag (a ':'
    //             can also be a port!) and the digest. Lesson: "What a name means"
    //             and the pitfall; the distribution reference grammar. The digest
    //             is an `ImageRef::digest: Option<Digest>`: parsed, never raw text.
    todo!("parse_image_ref — chapters/09-pull.md, \"What a name means\"")
}

/// `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="…"`
/// -> scheme "Bearer" and the key="value" pairs (values may hold commas).
pub fn parse_challenge(header: &str) -> Result<Challenge> {
    // TODO(ch09): a WWW-Authenticate header: its scheme, then its parameters.
    //             Quoted values can hold the separator (lesson: the pitfall);
    //             RFC 7235 section 4.1; lesson: "The conversation".
    todo!("parse_challenge — chapters/09-pull.md, \"The conversation\"")
}

/// Where to ask for a token: the realm, with the service and a pull scope for this repository.
pub fn token_url(challenge: &Challenge, repository: &str) -> Result<String> {
    // TODO(ch09): the URL that asks the challenge's realm for a pull token for
    //             `repository` (what service, what scope?). Let a URL type do the
    //             escaping. Lesson: "The conversation"; the distribution token spec.
    todo!("token_url — chapters/09-pull.md, \"The conversation\"")
}

/// Answer a 401's challenge: what every later request of this pull carries.
/// Basic: our credentials, to the registry that asked. Bearer: a token from the realm.
pub fn authorize(challenge: &Challenge, dance: &Dance) -> Result<Authorization> {
    // TODO(ch09): the registry said 401 with this challenge; decide what every
    //             later request sends. Which schemes can we answer, and with what?
    //             A Bearer token comes from the realm (your token_url; `dance` does
    //             the HTTP, with the credentials you choose to pass: never in the
    //             clear to a host that is not the registry's); the answer names it
    //             `token` or, OAuth2 style, `access_token`. With no credentials for
    //             a Basic challenge, one line saying how to log in
    //             (MINI_DOCKER_REGISTRY_AUTH). Lesson: "The conversation"; the
    //             distribution spec's token authentication page; RFC 6750.
    todo!("authorize — chapters/09-pull.md, \"The conversation\"")
}

/// From an index (one manifest per platform), the one for `wanted`.
/// A missing variant matches any; arm64's default variant is v8.
pub fn select_manifest<'a>(
    manifests: &'a [Descriptor],
    wanted: &Platform,
) -> Option<&'a Descriptor> {
    // TODO(ch09): which entry of an index is the image for `wanted`? The
    //             variant matters only when one is asked for. Lesson: "Manifests,
    //             platforms, digests"; the OCI image index spec.
    todo!("select_manifest — chapters/09-pull.md, \"Manifests, platforms, digests\"")
}
