//! Mutant: keys kept as the server sent them: `Realm=` is not found as `realm`
//! (RFC 7235: auth-param names are case-insensitive).
use anyhow::{bail, Result};
use mini_docker::image::registry::Challenge;

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
        params.insert(key.trim().to_string(), value.to_string());
        rest = after.trim_start_matches([',', ' ']);
    }
    Ok(Challenge {
        scheme: scheme.to_string(),
        params,
    })
}
