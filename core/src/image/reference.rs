//! Image references, normalised like docker does: `busybox` is
//! `docker.io/library/busybox:latest`.

use std::fmt;
use std::net::IpAddr;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// Where an image lives and which version of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRef {
    /// `docker.io`, `ghcr.io`, `127.0.0.1:5000`, ...
    pub registry: String,
    /// `library/busybox`, `owner/repo`, ...
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>`
    pub digest: Option<String>,
}

impl ImageRef {
    /// Every part well-formed (the distribution spec's grammar), or one clear line.
    pub fn validate(&self, text: &str) -> Result<()> {
        let component_ok = |c: &str| {
            !c.is_empty()
                && c.split(['.', '_', '-']).all(|p| {
                    !p.is_empty()
                        && p.chars()
                            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit())
                })
        };
        if self.registry.is_empty() || self.registry.contains(['/', '@']) {
            bail!(
                "invalid reference {text:?}: bad registry {:?}",
                self.registry
            );
        }
        if self.repository.is_empty() || !self.repository.split('/').all(component_ok) {
            bail!("invalid reference {text:?}: repository names are lowercase letters, digits and . _ - separated by /");
        }
        if let Some(tag) = &self.tag {
            let ok = tag.len() <= 128
                && tag
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                && tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
            if !ok {
                bail!("invalid reference {text:?}: bad tag {tag:?}");
            }
        }
        if let Some(digest) = &self.digest {
            let hex = digest.strip_prefix("sha256:").unwrap_or("");
            if hex.len() != 64
                || !hex
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            {
                bail!(
                    "invalid reference {text:?}: a digest is sha256: and 64 lowercase hex digits"
                );
            }
        }
        if self.tag.is_none() && self.digest.is_none() {
            bail!("invalid reference {text:?}: no tag and no digest");
        }
        Ok(())
    }

    /// The registry's API endpoint. Docker Hub's API host is not docker.io;
    /// loopback registries speak plain HTTP (docker's default insecure set).
    pub fn endpoint(&self) -> String {
        if self.registry == "docker.io" {
            return "https://registry-1.docker.io".into();
        }
        let scheme = if is_loopback(&self.registry) {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{}", self.registry)
    }

    /// `registry/repository`, the name `images` shows.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The tag or digest the registry is asked for.
    pub fn version(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// localhost, 127.0.0.0/8 or ::1, with or without a port.
pub fn is_loopback(registry: &str) -> bool {
    let host = match registry.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) && !h.ends_with(':') => h,
        _ => registry,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
