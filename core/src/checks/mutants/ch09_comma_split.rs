//! Mutant: the parameters are split on every ',' first, quoted or not:
//! `scope="repository:a:pull,push"` is cut at the comma.
use anyhow::{bail, Result};
use mini_docker::image::registry::Challenge;

pub fn parse_challenge(header: &str) -> Result<Challenge> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    let mut params = std::collections::BTreeMap::new();
    for pair in rest.split(',').filter(|p| !p.trim().is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            bail!("malformed WWW-Authenticate: {header:?}")
        };
        let value = value.trim().trim_matches('"');
        params.insert(key.trim().to_ascii_lowercase(), value.to_string());
    }
    Ok(Challenge {
        scheme: scheme.to_string(),
        params,
    })
}
