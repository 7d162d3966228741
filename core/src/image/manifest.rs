//! The four manifest media types a registry may answer with, and what they hold.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::digest::Digest;
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

/// Refuse images with more layers: real ones have tens (overlayfs stacks at
/// most 500 lower layers), and each layer is a download and a mount option.
pub const MAX_LAYERS: usize = 1000;

/// Refuse indexes with more entries than this (real ones list a few platforms).
pub const MAX_INDEX_ENTRIES: usize = 1000;

/// A pointer to content: its media type, digest and size (OCI descriptor).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    /// Validated while parsing: a malformed digest makes the whole document malformed.
    pub digest: Digest,
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

/// Just enough to tell an index from an image manifest; descriptors are
/// parsed one by one afterwards, so an error can name the one that is bad.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    media_type: Option<String>,
    manifests: Option<Vec<serde_json::Value>>,
    config: Option<serde_json::Value>,
    layers: Option<Vec<serde_json::Value>>,
}

/// Parse by the body's own mediaType (OCI allows it to be absent: then the
/// Content-Type header, then the shape of the document).
pub fn parse(body: &[u8], content_type: Option<&str>) -> Result<Manifest> {
    let probe: Probe = serde_json::from_slice(body)
        .context("malformed manifest (not JSON, or a field of the wrong type)")?;
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
        let entries = probe.manifests.context("an index without manifests")?;
        if entries.len() > MAX_INDEX_ENTRIES {
            bail!(
                "the index lists {} manifests, more than the {MAX_INDEX_ENTRIES} mini-docker accepts: refused",
                entries.len()
            );
        }
        return Ok(Manifest::Index(descriptors("manifests", entries)?));
    }
    let layers = probe.layers.context("an image manifest without layers")?;
    if layers.len() > MAX_LAYERS {
        bail!(
            "the image manifest lists {} layers, more than the {MAX_LAYERS} mini-docker accepts: refused",
            layers.len()
        );
    }
    let config = probe.config.context("an image manifest without a config")?;
    Ok(Manifest::Image(ImageManifest {
        config: descriptor("config", config)?,
        layers: descriptors("layers", layers)?,
    }))
}

/// `field` (e.g. `config`, `layers[3]`) as a descriptor, or an error naming it.
fn descriptor(field: &str, value: serde_json::Value) -> Result<Descriptor> {
    serde_json::from_value(value).with_context(|| format!("malformed manifest: {field}"))
}

fn descriptors(field: &str, values: Vec<serde_json::Value>) -> Result<Vec<Descriptor>> {
    values
        .into_iter()
        .enumerate()
        .map(|(i, value)| descriptor(&format!("{field}[{i}]"), value))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(digest: &str) -> serde_json::Value {
        serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": 1})
    }

    fn manifest(layers: Vec<serde_json::Value>) -> Vec<u8> {
        let good = format!("sha256:{}", "0".repeat(64));
        serde_json::json!({"mediaType": OCI_MANIFEST, "config": layer(&good), "layers": layers})
            .to_string()
            .into_bytes()
    }

    fn error(body: &[u8]) -> String {
        format!("{:#}", parse(body, None).err().expect("refused"))
    }

    #[test]
    fn a_bad_digest_is_an_error_naming_its_field() {
        let good = format!("sha256:{}", "1".repeat(64));
        let body = manifest(vec![layer(&good), layer(&good), layer("sha256:../../x")]);
        let err = error(&body);
        assert!(
            err.contains("layers[2]") && err.contains("invalid digest"),
            "{err}"
        );
        let index = serde_json::json!({"mediaType": OCI_INDEX, "manifests": [layer("sha1:00")]});
        let err = error(index.to_string().as_bytes());
        assert!(
            err.contains("manifests[0]") && err.contains("unknown algorithm"),
            "{err}"
        );
    }

    #[test]
    fn layers_are_capped() {
        let good = format!("sha256:{}", "1".repeat(64));
        assert!(matches!(
            parse(&manifest(vec![layer(&good); MAX_LAYERS]), None),
            Ok(Manifest::Image(m)) if m.layers.len() == MAX_LAYERS
        ));
        let err = error(&manifest(vec![layer(&good); MAX_LAYERS + 1]));
        assert!(err.contains("1001 layers, more than the 1000"), "{err}");
    }
}
