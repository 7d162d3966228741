//! Chapter 9 — pulling images: references, the token dance, platforms.
//! Lesson: chapters/09-pull.md   Check: mini-docker check 9

use anyhow::{bail, Result};

use mini_docker::image::manifest::Descriptor;
use mini_docker::image::platform::Platform;
use mini_docker::image::reference::ImageRef;
use mini_docker::image::registry::Challenge;

/// Resolve a reference like docker: `busybox` -> docker.io/library/busybox:latest.
/// (The scaffold then checks each part's grammar.)
pub fn parse_reference(text: &str) -> Result<ImageRef> {
    // TODO(ch09): split name[:tag][@digest]:
    //   - the digest is what follows '@';
    //   - the tag follows the last ':' — unless a '/' comes after it (then it was a port);
    //   - the first path component is the registry if it has a '.' or ':' or is "localhost",
    //     else the registry is "docker.io", and a one-word name gets "library/" in front;
    //   - no tag and no digest: the tag is "latest".
    todo!("split the reference into registry, repository, tag and digest")
}

/// `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="…"`
/// -> scheme "Bearer" and the key="value" pairs (values may hold commas).
pub fn parse_challenge(header: &str) -> Result<Challenge> {
    // TODO(ch09): the scheme is the first word; then key="value" pairs separated by commas.
    //   Quoted values may contain commas — don't just split on ','. Lower-case the keys.
    todo!("parse the WWW-Authenticate challenge")
}

/// Where to ask for a token: the realm, with the service and a pull scope for this repository.
pub fn token_url(challenge: &Challenge, repository: &str) -> Result<String> {
    // TODO(ch09): realm + "?service=…&scope=…" (scope: the challenge's, else
    //   "repository:{repository}:pull"). reqwest::Url::query_pairs_mut escapes for you.
    todo!("build the token request URL")
}

/// From an index (one manifest per platform), the one for `wanted`.
/// A missing variant matches any; arm64's default variant is v8.
pub fn select_manifest<'a>(
    manifests: &'a [Descriptor],
    wanted: &Platform,
) -> Option<&'a Descriptor> {
    // TODO(ch09): find the descriptor whose `platform` has the same os and
    //   architecture, and the same variant when `wanted` names one.
    todo!("pick the manifest for this platform")
}
