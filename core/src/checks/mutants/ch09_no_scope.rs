//! Mutant: the token URL asks for the service but no scope: the token
//! grants nothing, and the registry answers 401 again.
use anyhow::{bail, Result};
use mini_docker::image::registry::Challenge;

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
    let _ = scope;
    Ok(url.to_string())
}
