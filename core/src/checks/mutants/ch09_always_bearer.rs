//! Mutant: every challenge is taken for Bearer: a Basic registry's "realm" is
//! asked for a token, and the credentials never reach the registry itself.
use anyhow::{bail, Result};
use mini_docker::image::registry::{Authorization, Challenge, Dance};

pub fn authorize(challenge: &Challenge, dance: &Dance) -> Result<Authorization> {
    let url = dance.token_url(challenge)?;
    let answer = dance.fetch_token(&url, None)?;
    match answer.token.or(answer.access_token) {
        Some(token) => Ok(Authorization::Bearer(token)),
        None => bail!(
            "the token service of {} answered without a token",
            dance.registry
        ),
    }
}
