//! Mutant: the tag is whatever follows the last ':', even a registry's port:
//! `127.0.0.1:5000/busybox` -> name `127.0.0.1`, tag `5000/busybox`.
use anyhow::Result;
use mini_docker::image::digest::Digest;
use mini_docker::image::image_ref::ImageRef;

pub fn parse_image_ref(text: &str) -> Result<ImageRef> {
    // name[:tag][@digest] — the digest comes after '@', parsed (it will be a URL and a file name)...
    let (rest, digest) = match text.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest.parse::<Digest>()?)),
        None => (text, None),
    };
    // ...and a tag after the last ':' that is not part of a registry's port.
    let (name, tag) = match rest.rfind(':') {
        Some(i) => (&rest[..i], Some(rest[i + 1..].to_string())),
        _ => (rest, None),
    };
    // The first component is a registry if it looks like a host: a dot, a port, or localhost.
    let (registry, repository) = match name.split_once('/') {
        Some((host, path)) if host.contains(['.', ':']) || host == "localhost" => {
            (host.to_string(), path.to_string())
        }
        Some(_) => ("docker.io".to_string(), name.to_string()),
        None => ("docker.io".to_string(), format!("library/{name}")), // official images
    };
    let tag = if tag.is_none() && digest.is_none() {
        Some("latest".to_string())
    } else {
        tag
    };
    Ok(ImageRef {
        registry,
        repository,
        tag,
        digest,
    })
}
