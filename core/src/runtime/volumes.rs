//! `-v HOST:CTR[:ro]`: host directories and files bound into the container.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::sys::at as inroot;

/// `-v HOST:CTR[:ro]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub host: PathBuf,
    pub container: String,
    pub read_only: bool,
}

impl std::str::FromStr for Volume {
    type Err = anyhow::Error;
    fn from_str(text: &str) -> anyhow::Result<Volume> {
        let parts: Vec<&str> = text.split(':').collect();
        let (host, container, read_only) = match parts.as_slice() {
            [h, c] => (*h, *c, false),
            [h, c, "ro"] => (*h, *c, true),
            [h, c, "rw"] => (*h, *c, false),
            _ => anyhow::bail!("-v {text:?}: expected HOSTDIR:CONTAINERDIR[:ro]"),
        };
        if !container.starts_with('/') || container.split('/').any(|p| p == "..") {
            anyhow::bail!("-v {text:?}: the container path must be absolute, without \"..\"");
        }
        let host =
            std::fs::canonicalize(host).map_err(|e| anyhow::anyhow!("-v {text:?}: {host}: {e}"))?;
        Ok(Volume {
            host,
            container: container.to_string(),
            read_only,
        })
    }
}

/// Create the mount points of volumes and /etc files in the rootfs now, as the
/// host's root: a remapped container root may not write into a rootfs owned by
/// the host's root (docker chowns its layers instead). Resolved inside the rootfs.
pub fn make_mount_points(
    rootfs: &std::path::Path,
    volumes: &[Volume],
    etc_files: &[(PathBuf, String)],
) -> anyhow::Result<()> {
    use inroot::Kind;
    for volume in volumes {
        let kind = if volume.host.is_dir() {
            Kind::Dir
        } else {
            Kind::File
        };
        inroot::ensure(rootfs, &volume.container, kind)?;
    }
    for (_, target) in etc_files {
        inroot::ensure(rootfs, target, Kind::File)?;
    }
    Ok(())
}
