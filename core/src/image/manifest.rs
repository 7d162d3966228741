//! The four manifest media types a registry may answer with, and what they hold.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::platform::Platform;

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// What we ask for: all four, so the registry never has to convert.
pub const ACCEPT: [&str; 4] = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

/// Refuse bigger manifests: they are small JSON documents, and reading an
/// unbounded body into memory is how a hostile registry would hurt us.
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;

/// A pointer to content: its media type, digest and size (OCI descriptor).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// One image: its config and its layers, bottom first.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

pub enum Manifest {
    Image(ImageManifest),
    /// An OCI index or Docker manifest list: one manifest per platform.
    Index(Vec<Descriptor>),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    media_type: Option<String>,
    manifests: Option<Vec<Descriptor>>,
    layers: Option<serde_json::Value>,
}

/// Parse by the body's own mediaType (OCI allows it to be absent: then the
/// Content-Type header, then the shape of the document).
pub fn parse(body: &[u8], content_type: Option<&str>) -> Result<Manifest> {
    let probe: Probe = serde_json::from_slice(body).context("the manifest is not JSON")?;
    let media_type = probe
        .media_type
        .clone()
        .or(content_type.map(|c| c.split(';').next().unwrap_or("").trim().to_string()));
    let is_index = match media_type.as_deref() {
        Some(OCI_INDEX | DOCKER_LIST) => true,
        Some(OCI_MANIFEST | DOCKER_MANIFEST) => false,
        Some(
            "application/vnd.docker.distribution.manifest.v1+json"
            | "application/vnd.docker.distribution.manifest.v1+prettyjws",
        ) => {
            bail!(
                "this image uses Docker schema 1 manifests, which are deprecated and not supported"
            )
        }
        _ if probe.manifests.is_some() => true,
        _ if probe.layers.is_some() => false,
        other => bail!("unknown manifest media type {other:?}"),
    };
    if is_index {
        return Ok(Manifest::Index(
            probe.manifests.context("an index without manifests")?,
        ));
    }
    Ok(Manifest::Image(
        serde_json::from_slice(body).context("malformed image manifest")?,
    ))
}
