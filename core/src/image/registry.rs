//! The registry's HTTP API: GET manifests and blobs, answering its
//! `WWW-Authenticate` challenges (anonymous or basic Bearer tokens, or Basic).

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use reqwest::blocking::{Client, Response};
use reqwest::StatusCode;

use super::digest::Digest;
use super::image_ref::ImageRef;
use super::manifest::Descriptor;
use super::manifest::{ACCEPT, MAX_MANIFEST_BYTES};
use super::platform::Platform;

/// A parsed `WWW-Authenticate` header: `Bearer realm="…",service="…",scope="…"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// `Bearer` or `Basic` (compare case-insensitively).
    pub scheme: String,
    /// realm, service, scope, ...
    pub params: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

/// Credentials for `registry`: MINI_DOCKER_REGISTRY_AUTH=user:pass, else
/// ~/.docker/config.json's `auths` (base64 "user:pass", as `docker login` writes).
pub fn credentials_for(registry: &str) -> Option<Credentials> {
    let split = |pair: &str| {
        pair.split_once(':').map(|(u, p)| Credentials {
            user: u.into(),
            password: p.into(),
        })
    };
    if let Ok(pair) = std::env::var("MINI_DOCKER_REGISTRY_AUTH") {
        return split(&pair);
    }
    let home = std::env::var_os("HOME")?;
    let config: serde_json::Value = serde_json::from_slice(
        &std::fs::read(std::path::Path::new(&home).join(".docker/config.json")).ok()?,
    )
    .ok()?;
    let keys = if registry == "docker.io" {
        vec![
            "https://index.docker.io/v1/".to_string(),
            "docker.io".into(),
            "index.docker.io".into(),
        ]
    } else {
        vec![
            registry.to_string(),
            format!("https://{registry}"),
            format!("http://{registry}"),
        ]
    };
    let auth = keys
        .iter()
        .find_map(|k| config["auths"][k]["auth"].as_str())?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .ok()?;
    split(&String::from_utf8(decoded).ok()?)
}

/// What a request carries after a 401 was answered (chapter 9's `authorize`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Authorization {
    /// `Authorization: Bearer TOKEN`, the token from the realm.
    Bearer(String),
    /// `Authorization: Basic base64(user:pass)`, to the registry itself.
    Basic(Credentials),
}

/// A token service's JSON answer: `token`, or in OAuth2 style `access_token`.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct TokenResponse {
    pub token: Option<String>,
    pub access_token: Option<String>,
}

/// What chapter 9's `authorize` step gets from the scaffold: which
/// repository on which registry, our credentials, and the HTTP it may not do itself.
pub struct Dance<'a> {
    pub registry: &'a str,
    pub repository: &'a str,
    pub credentials: Option<&'a Credentials>,
    token_url: fn(&Challenge, &str) -> Result<String>,
    fetch: &'a dyn Fn(&str, Option<&Credentials>) -> Result<TokenResponse>,
}

impl Dance<'_> {
    /// The token URL for this repository (chapter 9's `token_url` step).
    pub fn token_url(&self, challenge: &Challenge) -> Result<String> {
        (self.token_url)(challenge, self.repository)
    }

    /// GET `url` from the token service, with Basic `credentials` if given.
    pub fn fetch_token(
        &self,
        url: &str,
        credentials: Option<&Credentials>,
    ) -> Result<TokenResponse> {
        (self.fetch)(url, credentials)
    }
}

/// The decisions a pull leaves to chapter 9's steps (the learner's or the
/// reference): reading a reference, the token dance, choosing a platform.
#[derive(Clone, Copy)]
pub struct Protocol {
    pub parse_image_ref: fn(&str) -> Result<ImageRef>,
    pub parse_challenge: fn(&str) -> Result<Challenge>,
    pub token_url: fn(&Challenge, &str) -> Result<String>,
    pub authorize: fn(&Challenge, &Dance) -> Result<Authorization>,
    pub select_manifest: for<'a> fn(&'a [Descriptor], &Platform) -> Option<&'a Descriptor>,
}

impl Protocol {
    /// The learner's parse, then the grammar check: one clear line for a bad reference.
    pub fn resolve(&self, text: &str) -> Result<ImageRef> {
        let reference = (self.parse_image_ref)(text)?;
        reference.validate(text)?;
        Ok(reference)
    }
}

/// One repository on one registry; cheap to share between download threads.
pub struct Registry {
    http: Client,
    endpoint: String,
    reference: ImageRef,
    credentials: Option<Credentials>,
    /// None until a 401 was answered; then reused for the rest of the pull.
    auth: Mutex<Option<Authorization>>,
    /// The token dance's steps (chapter 9).
    protocol: Protocol,
}

const ATTEMPTS: u32 = 3;

impl Registry {
    pub fn connect(reference: &ImageRef, protocol: &Protocol) -> Result<Registry> {
        let http = Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("mini-docker/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("HTTP client")?;
        // reqwest's redirect policy drops Authorization when a redirect goes to another host.
        Ok(Registry {
            http,
            endpoint: reference.endpoint(),
            reference: reference.clone(),
            credentials: credentials_for(&reference.registry),
            auth: Mutex::new(None),
            protocol: *protocol,
        })
    }

    /// The manifest for a tag or digest (from a validated reference or a
    /// parsed `Digest`): (raw bytes, Content-Type, Docker-Content-Digest).
    pub fn manifest(&self, version: &str) -> Result<(Vec<u8>, Option<String>, Option<Digest>)> {
        let url = format!(
            "{}/v2/{}/manifests/{version}",
            self.endpoint, self.reference.repository
        );
        let response = self.get(&url, &ACCEPT.join(", "), Duration::from_secs(30))?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header("content-type");
        let digest = header("docker-content-digest")
            .map(|d| d.parse::<Digest>())
            .transpose()
            .with_context(|| {
                format!(
                    "registry {} sent a bad Docker-Content-Digest header",
                    self.reference.registry
                )
            })?;
        if response
            .content_length()
            .is_some_and(|n| n > MAX_MANIFEST_BYTES as u64)
        {
            bail!(
                "the manifest of {} is over {} MiB: refused",
                self.reference,
                MAX_MANIFEST_BYTES >> 20
            );
        }
        let mut body = Vec::new();
        response
            .take(MAX_MANIFEST_BYTES as u64 + 1)
            .read_to_end(&mut body)
            .context("read the manifest")?;
        if body.len() > MAX_MANIFEST_BYTES {
            bail!(
                "the manifest of {} is over {} MiB: refused",
                self.reference,
                MAX_MANIFEST_BYTES >> 20
            );
        }
        Ok((body, content_type, digest))
    }

    /// A blob, as a stream (the store hashes it while writing).
    pub fn blob(&self, digest: &Digest) -> Result<Response> {
        let url = format!(
            "{}/v2/{}/blobs/{digest}",
            self.endpoint, self.reference.repository
        );
        self.get(&url, "*/*", Duration::from_secs(3600))
    }

    /// GET with authentication and a bounded retry for 429 and 5xx (GETs are safe to repeat).
    fn get(&self, url: &str, accept: &str, timeout: Duration) -> Result<Response> {
        let mut authenticated = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self.http.get(url).header("Accept", accept).timeout(timeout);
            request = match self.auth.lock().unwrap().clone() {
                Some(Authorization::Bearer(token)) => request.bearer_auth(token),
                Some(Authorization::Basic(c)) => request.basic_auth(&c.user, Some(&c.password)),
                None => request,
            };
            let response = request.send().map_err(|e| self.unreachable(e))?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && !authenticated {
                self.authenticate(&response)?;
                authenticated = true;
                attempt -= 1;
                continue;
            }
            if (status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error())
                && attempt < ATTEMPTS
            {
                std::thread::sleep(retry_delay(&response, attempt));
                continue;
            }
            if status.is_success() {
                return Ok(response);
            }
            return Err(self.explain_failure(status, response, attempt));
        }
    }

    fn unreachable(&self, e: reqwest::Error) -> anyhow::Error {
        let mut cause: &dyn std::error::Error = &e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        anyhow!(
            "cannot reach registry {} ({}): {cause}",
            self.reference.registry,
            self.endpoint
        )
    }

    /// Answer a 401: chapter 9's `authorize` decides what to send from now on.
    fn authenticate(&self, response: &Response) -> Result<()> {
        let header = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                anyhow!(
                    "registry {} says 401 without a WWW-Authenticate challenge",
                    self.reference.registry
                )
            })?;
        let challenge = (self.protocol.parse_challenge)(header)?;
        let fetch =
            |url: &str, credentials: Option<&Credentials>| self.fetch_token(url, credentials);
        let dance = Dance {
            registry: &self.reference.registry,
            repository: &self.reference.repository,
            credentials: self.credentials.as_ref(),
            token_url: self.protocol.token_url,
            fetch: &fetch,
        };
        let authorization = (self.protocol.authorize)(&challenge, &dance)?;
        *self.auth.lock().unwrap() = Some(authorization);
        Ok(())
    }

    /// GET the token endpoint, with Basic credentials if the step passes them.
    fn fetch_token(&self, url: &str, credentials: Option<&Credentials>) -> Result<TokenResponse> {
        let mut request = self.http.get(url).timeout(Duration::from_secs(30));
        if let Some(c) = credentials {
            request = request.basic_auth(&c.user, Some(&c.password));
        }
        let response = request.send().map_err(|e| self.unreachable(e))?;
        if !response.status().is_success() {
            bail!(
                "the token service of {} refused: {}",
                self.reference.registry,
                response.status()
            );
        }
        response
            .json()
            .context("the token service's answer is not JSON")
    }

    fn explain_failure(
        &self,
        status: StatusCode,
        response: Response,
        attempts: u32,
    ) -> anyhow::Error {
        let body: serde_json::Value = response.json().unwrap_or_default();
        let code = body["errors"][0]["code"].as_str().unwrap_or("");
        let r = &self.reference;
        match (status, code) {
            (_, "MANIFEST_UNKNOWN") => anyhow!("{}: not found in {} (no such tag or digest)", r.version(), r.name()),
            (_, "NAME_UNKNOWN") => anyhow!("repository {} not found on {}", r.repository, r.registry),
            (_, "BLOB_UNKNOWN") => anyhow!("a blob of {r} is missing on the registry"),
            (StatusCode::NOT_FOUND, _) => anyhow!("{r}: not found on {}", r.registry),
            (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, _) => {
                anyhow!("access to {} denied by {} (log in with MINI_DOCKER_REGISTRY_AUTH=user:pass)", r.repository, r.registry)
            }
            (StatusCode::TOO_MANY_REQUESTS, _) => anyhow!("registry {} is rate-limiting us (429, tried {attempts} times): wait and pull again", r.registry),
            (s, _) if s.is_server_error() => anyhow!("registry {} failed with {s} (tried {attempts} times)", r.registry),
            (s, _) => anyhow!("registry {} answered {s} for {r}", r.registry),
        }
    }
}

/// Retry-After if the registry says (at most 5 s), else 0.5 s, 1 s.
fn retry_delay(response: &Response, attempt: u32) -> Duration {
    let said = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    match said {
        Some(secs) => Duration::from_secs(secs.min(5)),
        None => Duration::from_millis(500 * attempt as u64),
    }
}
