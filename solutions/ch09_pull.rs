//! Chapter 9 — pulling images: references, the token dance, platforms.
//! Lesson: chapters/09-pull.md

use anyhow::{bail, Result};

use mini_docker::image::digest::Digest;
use mini_docker::image::manifest::Descriptor;
use mini_docker::image::platform::Platform;
use mini_docker::image::image_ref::ImageRef;
use mini_docker::image::registry::{Authorization, Challenge, Dance};

/// Resolve a reference like docker: `busybox` -> docker.io/library/busybox:latest.
/// (The scaffold then checks each part's grammar.)
pub fn parse_image_ref(text: &str) -> Result<ImageRef> {
    // name[:tag][@digest] — the digest comes after '@', parsed (it will be a URL and a file name)...
    let (rest, digest) = match text.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest.parse::<Digest>()?)),
        None => (text, None),
    };
    // ...and a tag after the last ':' that is not part of a registry's port.
    let (name, tag) = match rest.rfind(':') {
        Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(rest[i + 1..].to_string())),
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

/// `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="…"`
/// -> scheme "Bearer" and the key="value" pairs (values may hold commas).
pub fn parse_challenge(header: &str) -> Result<Challenge> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    let mut params = std::collections::BTreeMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            bail!("malformed WWW-Authenticate: {header:?}")
        };
        let (value, after) = match after.strip_prefix('"') {
            Some(quoted) => match quoted.split_once('"') {
                Some((value, after)) => (value, after),
                None => bail!("malformed WWW-Authenticate (unclosed quote): {header:?}"),
            },
            None => after.split_once(',').unwrap_or((after, "")),
        };
        params.insert(key.trim().to_ascii_lowercase(), value.to_string());
        rest = after.trim_start_matches([',', ' ']);
    }
    Ok(Challenge {
        scheme: scheme.to_string(),
        params,
    })
}

/// Where to ask for a token: the realm, with the service and a pull scope for this repository.
pub fn token_url(challenge: &Challenge, repository: &str) -> Result<String> {
    let Some(realm) = challenge.params.get("realm") else {
        bail!("a Bearer challenge without a realm")
    };
    let scope = challenge
        .params
        .get("scope")
        .cloned()
        .unwrap_or_else(|| format!("repository:{repository}:pull"));
    let mut url = reqwest::Url::parse(realm)?;
    if let Some(service) = challenge.params.get("service") {
        url.query_pairs_mut().append_pair("service", service);
    }
    url.query_pairs_mut().append_pair("scope", &scope);
    Ok(url.to_string())
}

/// Answer a 401's challenge: what every later request of this pull carries.
/// Basic: our credentials, to the registry that asked. Bearer: a token from the realm.
pub fn authorize(challenge: &Challenge, dance: &Dance) -> Result<Authorization> {
    if challenge.scheme.eq_ignore_ascii_case("basic") {
        let Some(credentials) = dance.credentials else {
            bail!(
                "registry {} needs a login: set MINI_DOCKER_REGISTRY_AUTH=user:pass (or `docker login` it)",
                dance.registry
            )
        };
        return Ok(Authorization::Basic(credentials.clone()));
    }
    if !challenge.scheme.eq_ignore_ascii_case("bearer") {
        bail!(
            "registry {} asks for {} authentication, which mini-docker does not speak",
            dance.registry,
            challenge.scheme
        );
    }
    // The realm hands out the token; our credentials (if any) say who asks —
    // but only over TLS or to the registry's own host: a plain-http realm
    // elsewhere would read them in the clear, so ask it anonymously.
    let url = dance.token_url(challenge)?;
    let realm = reqwest::Url::parse(&url)?;
    let registry_host = dance.registry.rsplit_once(':').map_or(dance.registry, |(h, _)| h);
    let trusted = realm.scheme() == "https" || realm.host_str() == Some(registry_host);
    let credentials = dance.credentials.filter(|_| trusted);
    let answer = dance.fetch_token(&url, credentials)?;
    // Docker's token spec says `token`; OAuth2 servers say `access_token`.
    match answer.token.or(answer.access_token) {
        Some(token) => Ok(Authorization::Bearer(token)),
        None => bail!("the token service of {} answered without a token", dance.registry),
    }
}

/// From an index (one manifest per platform), the one for `wanted`.
/// A missing variant matches any; arm64's default variant is v8.
pub fn select_manifest<'a>(
    manifests: &'a [Descriptor],
    wanted: &Platform,
) -> Option<&'a Descriptor> {
    let variant = |p: &Platform| match (p.architecture.as_str(), p.variant.as_deref()) {
        ("arm64", None) => Some("v8".to_string()),
        (_, v) => v.map(str::to_string),
    };
    manifests.iter().find(|m| {
        m.platform.as_ref().is_some_and(|p| {
            p.os == wanted.os
                && p.architecture == wanted.architecture
                && (wanted.variant.is_none() || variant(p) == variant(wanted))
        })
    })
}
