//! Image references, normalised like docker does: `busybox` is
//! `docker.io/library/busybox:latest`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use super::digest::Digest;

/// Where an image lives and which version of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRef {
    /// `docker.io`, `ghcr.io`, `127.0.0.1:5000`, ...
    pub registry: String,
    /// `library/busybox`, `owner/repo`, ...
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>`: parsed, so never anything else (`"sha256:…".parse()?`).
    pub digest: Option<Digest>,
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
        if !is_registry_host(&self.registry) {
            bail!(
                "invalid reference {text:?}: bad registry {:?} (a DNS name, localhost, an IPv4 address or a [bracketed] IPv6 one, with an optional :port 1-65535)",
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
    pub fn version(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.clone(),
            (None, None) => "latest".into(),
        }
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

/// `host[:port]`: a DNS name (labels of a-z, 0-9 and '-', not at either
/// end), localhost, an IPv4 address or a bracketed IPv6 one; port 1-65535.
/// The registry becomes part of a URL: `..:5055` or `a..b` must not.
pub fn is_registry_host(registry: &str) -> bool {
    let (host, port) = split_port(registry);
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && p.chars().all(|c| c.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n))
    });
    let host_ok = if let Some(inner) = host.strip_prefix('[') {
        inner
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<Ipv6Addr>().is_ok())
    } else {
        host.parse::<Ipv4Addr>().is_ok() || is_dns_name(host)
    };
    port_ok && host_ok
}

/// `host` and the text after its port colon, if any (`[::1]:5000` -> `[::1]`, `5000`).
fn split_port(registry: &str) -> (&str, Option<&str>) {
    let after_host = match registry.strip_prefix('[') {
        Some(_) => registry.find(']').map_or(registry.len(), |i| i + 1),
        None => registry.find(':').unwrap_or(registry.len()),
    };
    let (host, rest) = registry.split_at(after_host);
    match rest.strip_prefix(':') {
        Some(port) => (host, Some(port)),
        None if rest.is_empty() => (host, None),
        None => (registry, Some("")), // junk after `]`: no valid port
    }
}

/// Dot-separated labels of lowercase letters, digits and '-' (not first or
/// last), each 1-63 long; localhost is one of them.
fn is_dns_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_hosts_follow_the_grammar() {
        for good in [
            "docker.io",
            "registry-1.docker.io",
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "10.0.0.1",
            "[::1]:5000",
            "[fe80::1]",
            "a:1",
            "a:65535",
            "my-host.example",
        ] {
            assert!(is_registry_host(good), "{good} refused");
        }
        for bad in [
            "",
            "..:5055",
            "a..b:5000",
            ".a",
            "a.",
            "-a.io",
            "a-.io",
            "A.io",
            "a_b.io",
            "a:0",
            "a:65536",
            "a:",
            "a:12x",
            "a:5000:1",
            ":5000",
            "[::1",
            "::1",
            "[::1]x",
            "[nope]:5000",
            "a/b",
            "a@b",
            "a b",
            "a%2e.io",
        ] {
            assert!(!is_registry_host(bad), "{bad:?} accepted");
        }
    }

    fn reference(registry: &str) -> ImageRef {
        ImageRef {
            registry: registry.into(),
            repository: "x".into(),
            tag: Some("1".into()),
            digest: None,
        }
    }

    #[test]
    fn validate_refuses_a_dotted_registry_in_one_line() {
        for bad in ["..:5055", "a..b:5000"] {
            let err = reference(bad).validate(bad).unwrap_err().to_string();
            assert!(err.contains("bad registry"), "{err}");
            assert_eq!(err.lines().count(), 1, "{err}");
        }
        reference("127.0.0.1:5000").validate("ok").unwrap();
    }
}
