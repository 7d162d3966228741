//! Registry behaviours distribution 2.8 on local storage never shows, so a
//! scripted HTTP peer on loopback plays the registry here (everything else is
//! tested against the real one, tests/pull.rs):
//! - a blob answered with a redirect to *another host* (what S3-backed
//!   registries do): the Authorization header must not follow it;
//! - 503 and 429: retried a bounded number of times, then a clear message;
//! - a hostile registry: digests that are paths, of the wrong case, length or
//!   algorithm; sizes that lie; a config that is not JSON; 10,000 layers; a
//!   manifest announced as 1 GiB. Each is one clear line, a failed exit, no
//!   request for a malformed digest, nothing outside the store read, and no
//!   partial image in it.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use mini_docker::image::store::sha256_digest;

type Handler = Arc<
    dyn Fn(&str, &HashMap<String, String>) -> (u16, Vec<(String, String)>, Vec<u8>) + Send + Sync,
>;

/// A handler that writes the whole answer itself (headers that lie, trickles).
type RawHandler = Arc<dyn Fn(&str, &HashMap<String, String>, TcpStream) + Send + Sync>;

/// A tiny HTTP/1.1 server: one request per connection, answered by `handler`.
fn serve(host: &str, handler: Handler) -> u16 {
    serve_raw(
        host,
        Arc::new(move |path, headers, stream| {
            let (status, extra, body) = handler(path, headers);
            write_response(stream, status, extra, body)
        }),
    )
}

/// The same server, but the handler gets the request's path, headers and the socket.
fn serve_raw(host: &str, handler: RawHandler) -> u16 {
    let listener = TcpListener::bind((host, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let handler = handler.clone();
            std::thread::spawn(move || answer(stream, &handler));
        }
    });
    port
}

fn answer(stream: TcpStream, handler: &RawHandler) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) <= 2 {
            break;
        }
        if let Some((k, v)) = line.trim_end().split_once(": ") {
            headers.insert(k.to_ascii_lowercase(), v.to_string());
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
    handler(&path, &headers, stream);
}

fn write_response(mut stream: TcpStream, status: u16, extra: Vec<(String, String)>, body: Vec<u8>) {
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(b"\r\n");
    let _ = stream.write_all(&body);
}

fn image() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
            .to_vec();
    let layer = b"not really a tar, but the digest is what is checked here".to_vec();
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256_digest(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256_digest(&layer), "size": layer.len()}],
    });
    (manifest.to_string().into_bytes(), config, layer)
}

#[test]
fn authorization_does_not_follow_a_redirect_to_another_host_and_5xx_is_retried() {
    let (manifest, config, layer) = image();
    // The other host: 127.0.0.2 is loopback too, but another host to an HTTP client.
    let saw_auth_elsewhere = Arc::new(Mutex::new(None::<bool>));
    let seen = saw_auth_elsewhere.clone();
    let layer_bytes = layer.clone();
    let other = serve(
        "127.0.0.2",
        Arc::new(move |_path, headers| {
            *seen.lock().unwrap() = Some(headers.contains_key("authorization"));
            (200, vec![], layer_bytes.clone())
        }),
    );
    let config_failures = Arc::new(Mutex::new(0));
    let failures = config_failures.clone();
    let (config_digest, layer_digest) = (sha256_digest(&config), sha256_digest(&layer));
    let port = Arc::new(Mutex::new(0u16));
    let my_port = port.clone();
    let registry = serve(
        "127.0.0.1",
        Arc::new(move |path, headers| {
            let me = *my_port.lock().unwrap();
            let authorized =
                headers.get("authorization").map(String::as_str) == Some("Bearer secret-token");
            if path.starts_with("/token") {
                return (200, vec![], br#"{"token":"secret-token"}"#.to_vec());
            }
            if !authorized {
                let challenge = format!("Bearer realm=\"http://127.0.0.1:{me}/token\",service=\"edge\",scope=\"repository:r/img:pull\"");
                return (
                    401,
                    vec![("WWW-Authenticate".into(), challenge)],
                    b"{}".to_vec(),
                );
            }
            if path.contains("/manifests/") {
                return (
                    200,
                    vec![(
                        "Content-Type".into(),
                        "application/vnd.oci.image.manifest.v1+json".into(),
                    )],
                    manifest.clone(),
                );
            }
            if path.ends_with(&config_digest) {
                let mut n = failures.lock().unwrap();
                *n += 1;
                if *n <= 2 {
                    return (503, vec![], b"busy".to_vec()); // twice, then fine: within the retry budget
                }
                return (200, vec![], config.clone());
            }
            if path.ends_with(&layer_digest) {
                return (
                    307,
                    vec![(
                        "Location".into(),
                        format!("http://127.0.0.2:{other}/storage/layer"),
                    )],
                    vec![],
                );
            }
            (
                404,
                vec![],
                br#"{"errors":[{"code":"BLOB_UNKNOWN"}]}"#.to_vec(),
            )
        }),
    );
    *port.lock().unwrap() = registry;

    let state = StateDir::new("edges");
    let out = mini_docker(
        &state,
        &[
            "--reference",
            "pull",
            &format!("127.0.0.1:{registry}/r/img:1"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(*config_failures.lock().unwrap(), 3, "two 503s were retried");
    assert_eq!(
        *saw_auth_elsewhere.lock().unwrap(),
        Some(false),
        "the redirect to another host carried Authorization"
    );
}

/// A plain-http realm on another host than the registry is asked for a
/// token anonymously: our credentials would cross the network in the clear
/// to someone who is not the registry.
#[test]
fn credentials_are_not_sent_in_the_clear_to_a_realm_on_another_host() {
    let (manifest, config, layer) = image();
    let realm_saw_credentials = Arc::new(Mutex::new(None::<bool>));
    let seen = realm_saw_credentials.clone();
    let realm = serve(
        "127.0.0.2",
        Arc::new(move |_path, headers| {
            *seen.lock().unwrap() = Some(headers.contains_key("authorization"));
            (200, vec![], br#"{"access_token":"realm-token"}"#.to_vec())
        }),
    );
    let registry = serve(
        "127.0.0.1",
        Arc::new(move |path, headers| {
            if headers.get("authorization").map(String::as_str) != Some("Bearer realm-token") {
                let challenge =
                    format!("Bearer realm=\"http://127.0.0.2:{realm}/token\",service=\"edge\"");
                return (
                    401,
                    vec![("WWW-Authenticate".into(), challenge)],
                    b"{}".to_vec(),
                );
            }
            let body = if path.contains("/manifests/") {
                manifest.clone()
            } else if path.ends_with(&sha256_digest(&config)) {
                config.clone()
            } else {
                layer.clone()
            };
            let kind = "application/vnd.oci.image.manifest.v1+json";
            (200, vec![("Content-Type".into(), kind.into())], body)
        }),
    );
    let state = StateDir::new("edges-realm");
    let out = mini_docker_command(
        &state,
        &[
            "--reference",
            "pull",
            &format!("127.0.0.1:{registry}/r/img:1"),
        ],
    )
    .env("MINI_DOCKER_REGISTRY_AUTH", "learner:secret")
    .output()
    .expect("run mini-docker");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        *realm_saw_credentials.lock().unwrap(),
        Some(false),
        "the credentials went in the clear to a realm on another host"
    );
}

#[test]
fn rate_limiting_ends_in_a_clear_message_after_bounded_retries() {
    let hits = Arc::new(Mutex::new(0));
    let counter = hits.clone();
    let registry = serve(
        "127.0.0.1",
        Arc::new(move |_path, _headers| {
            *counter.lock().unwrap() += 1;
            (
                429,
                vec![("Retry-After".into(), "0".into())],
                b"{}".to_vec(),
            )
        }),
    );
    let state = StateDir::new("ratelimit");
    let out = mini_docker(
        &state,
        &[
            "--reference",
            "pull",
            &format!("127.0.0.1:{registry}/r/img:1"),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("rate-limiting") && err.contains("tried 3 times"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(*hits.lock().unwrap(), 3, "bounded: three attempts");
}

// ---------------------------------------------------------------------------
// A hostile registry
// ---------------------------------------------------------------------------

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// The host's platform as an image names it (linux/amd64 on the test VM).
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn descriptor(media_type: &str, digest: &str, size: usize) -> serde_json::Value {
    serde_json::json!({"mediaType": media_type, "digest": digest, "size": size})
}

/// A config for these layers (not real tars: a pull does not unpack them).
fn config_for(layers: &[Vec<u8>]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| sha256_digest(l)).collect();
    serde_json::json!({
        "architecture": host_arch(), "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    })
    .to_string()
    .into_bytes()
}

fn manifest_of(config: serde_json::Value, layers: Vec<serde_json::Value>) -> Vec<u8> {
    serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": layers})
        .to_string()
        .into_bytes()
}

/// The descriptors of a well-formed image: (config, layers, blobs to serve).
fn honest_image() -> (serde_json::Value, Vec<serde_json::Value>, Vec<Vec<u8>>) {
    let layer = b"a layer's bytes (not a tar: the pull only checks digests)".to_vec();
    let config = config_for(std::slice::from_ref(&layer));
    (
        descriptor(CONFIG_TYPE, &sha256_digest(&config), config.len()),
        vec![descriptor(LAYER_TYPE, &sha256_digest(&layer), layer.len())],
        vec![config, layer],
    )
}

/// A scripted registry serving `r/img:1` = `top`, other manifests and blobs
/// by their sha256; every request path is kept.
struct Peer {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Peer {
    fn start(top: Vec<u8>, top_type: &str, manifests: Vec<Vec<u8>>, blobs: Vec<Vec<u8>>) -> Peer {
        Peer::with_headers(
            top,
            vec![("Content-Type".into(), top_type.into())],
            manifests,
            blobs,
        )
    }

    fn with_headers(
        top: Vec<u8>,
        top_headers: Vec<(String, String)>,
        manifests: Vec<Vec<u8>>,
        blobs: Vec<Vec<u8>>,
    ) -> Peer {
        let by_digest = |list: Vec<Vec<u8>>| -> HashMap<String, Vec<u8>> {
            list.into_iter().map(|b| (sha256_digest(&b), b)).collect()
        };
        let (manifests, blobs) = (by_digest(manifests), by_digest(blobs));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let port = serve(
            "127.0.0.1",
            Arc::new(move |path, _headers| {
                log.lock().unwrap().push(path.to_string());
                let unknown = |code: &str| {
                    let body = format!(r#"{{"errors":[{{"code":"{code}"}}]}}"#);
                    (404, vec![], body.into_bytes())
                };
                if path == "/v2/r/img/manifests/1" {
                    return (200, top_headers.clone(), top.clone());
                }
                if let Some(digest) = path.strip_prefix("/v2/r/img/manifests/") {
                    return match manifests.get(digest) {
                        Some(m) => (
                            200,
                            vec![("Content-Type".into(), OCI_MANIFEST.into())],
                            m.clone(),
                        ),
                        None => unknown("MANIFEST_UNKNOWN"),
                    };
                }
                match path
                    .strip_prefix("/v2/r/img/blobs/")
                    .and_then(|d| blobs.get(d))
                {
                    Some(blob) => (200, vec![], blob.clone()),
                    None => unknown("BLOB_UNKNOWN"),
                }
            }),
        );
        Peer { port, requests }
    }

    fn image(&self) -> String {
        format!("127.0.0.1:{}/r/img:1", self.port)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// Only the tag and well-formed sha256 digests ever reached a URL.
    fn assert_only_valid_requests(&self, case: &str) {
        for path in self.requests() {
            let ok = path == "/v2/r/img/manifests/1"
                || ["/v2/r/img/manifests/", "/v2/r/img/blobs/"]
                    .iter()
                    .any(|prefix| path.strip_prefix(prefix).is_some_and(is_sha256));
            assert!(
                ok,
                "{case}: the peer was asked for {path:?}: a malformed digest reached a URL"
            );
        }
    }
}

fn is_sha256(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

fn pull(state: &StateDir, image: &str) -> std::process::Output {
    mini_docker(state, &["--reference", "pull", image])
}

/// Failed with `exit`, one error line holding every one of `fragments`, no panic.
fn assert_one_clear_error(case: &str, out: &std::process::Output, exit: i32, fragments: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(exit), "{case}: {err}");
    assert!(!err.contains("panicked"), "{case}: {err}");
    let errors: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("mini-docker: ") && !l.ends_with("not here, pulling"))
        .collect();
    assert_eq!(errors.len(), 1, "{case}: not one error line: {err}");
    for fragment in fragments {
        assert!(
            errors[0].contains(fragment),
            "{case}: {fragment:?} missing from {err}"
        );
    }
}

/// `images` lists nothing, and the blobs dir holds only blobs that hash to
/// their names (no partial downloads, nothing named by a malformed digest).
fn assert_no_image_and_only_verified_blobs(case: &str, state: &StateDir) {
    let out = mini_docker(state, &["images"]);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        listing.lines().count(),
        1,
        "{case}: an image was recorded:\n{listing}"
    );
    let blobs = state.path().join("images/blobs/sha256");
    for entry in std::fs::read_dir(&blobs).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let bytes = std::fs::read(entry.path()).unwrap();
        assert_eq!(
            sha256_digest(&bytes),
            format!("sha256:{name}"),
            "{case}: {name} in the blobs dir is not a verified blob"
        );
    }
}

/// A file outside the store (in the state dir, next to `images/`) that a
/// traversal digest `sha256:../../../NAME` would name: if mini-docker used it,
/// the pull would succeed with it.
fn plant(state: &StateDir, name: &str, bytes: &[u8]) -> String {
    std::fs::write(state.path().join(name), bytes).unwrap();
    format!("sha256:../../../{name}")
}

/// The malformed digests a hostile manifest may carry, with what the error
/// must say. `real` is the digest of the content they stand for.
fn malformed_digests(real: &str, traversal: &str) -> Vec<(&'static str, String, &'static str)> {
    let hex = real.trim_start_matches("sha256:");
    vec![
        ("traversal", traversal.to_string(), "invalid digest"),
        (
            "uppercase hex",
            format!("sha256:{}", hex.to_uppercase()),
            "64 lowercase hex",
        ),
        (
            "too short",
            format!("sha256:{}", &hex[..63]),
            "64 lowercase hex",
        ),
        ("too long", format!("sha256:{hex}0"), "64 lowercase hex"),
        (
            "unknown algorithm",
            format!("md5:{}", &hex[..32]),
            "unknown algorithm \"md5\"",
        ),
        (
            "sha512 of sha256's length",
            format!("sha512:{hex}"),
            "128 lowercase hex",
        ),
        ("no algorithm", hex.to_string(), "invalid digest"),
    ]
}

#[test]
fn malformed_config_digests_are_refused_before_any_request() {
    let (config, layers, blobs) = honest_image();
    let real = config["digest"].as_str().unwrap().to_string();
    for (case, digest, says) in malformed_digests(&real, "sha256:../../../sentinel.json") {
        let state = StateDir::new("hostile-config");
        // The sentinel is a config that would work: used, the pull would succeed.
        plant(&state, "sentinel.json", &blobs[0]);
        let mut bad = config.clone();
        bad["digest"] = digest.clone().into();
        let peer = Peer::start(
            manifest_of(bad, layers.clone()),
            OCI_MANIFEST,
            vec![],
            blobs.clone(),
        );
        let out = pull(&state, &peer.image());
        assert_one_clear_error(case, &out, 1, &["config", says]);
        peer.assert_only_valid_requests(case);
        assert_no_image_and_only_verified_blobs(case, &state);
    }
}

#[test]
fn malformed_layer_digests_are_refused_before_any_request() {
    let (config, layers, blobs) = honest_image();
    let real = layers[0]["digest"].as_str().unwrap().to_string();
    for (case, digest, says) in malformed_digests(&real, "sha256:../../../sentinel.layer") {
        let state = StateDir::new("hostile-layer");
        // The layer's own bytes, outside the store: used, the pull would succeed.
        plant(&state, "sentinel.layer", &blobs[1]);
        let mut bad = layers[0].clone();
        bad["digest"] = digest.clone().into();
        let peer = Peer::start(
            manifest_of(config.clone(), vec![bad]),
            OCI_MANIFEST,
            vec![],
            blobs.clone(),
        );
        let out = pull(&state, &peer.image());
        assert_one_clear_error(case, &out, 1, &["layers[0]", says]);
        peer.assert_only_valid_requests(case);
        assert_no_image_and_only_verified_blobs(case, &state);
    }
}

#[test]
fn a_traversal_digest_in_an_index_entry_is_refused_before_any_request() {
    let (config, layers, blobs) = honest_image();
    let manifest = manifest_of(config, layers);
    let state = StateDir::new("hostile-index");
    let traversal = plant(&state, "sentinel-manifest.json", &manifest);
    let mut entry = descriptor(OCI_MANIFEST, &traversal, manifest.len());
    entry["platform"] = serde_json::json!({"os": "linux", "architecture": host_arch()});
    let index =
        serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]});
    let peer = Peer::start(
        index.to_string().into_bytes(),
        OCI_INDEX,
        vec![manifest],
        blobs,
    );
    let out = pull(&state, &peer.image());
    assert_one_clear_error("index entry", &out, 1, &["manifests[0]", "invalid digest"]);
    peer.assert_only_valid_requests("index entry");
    assert_eq!(peer.requests().len(), 1, "only the index was fetched");
    assert_no_image_and_only_verified_blobs("index entry", &state);
}

#[test]
fn a_sha512_digest_is_well_formed_but_the_store_refuses_it_clearly() {
    let (config, mut layers, blobs) = honest_image();
    let sha512 = format!("sha512:{}", "0a".repeat(64));
    layers[0]["digest"] = sha512.clone().into();
    let state = StateDir::new("hostile-sha512");
    let peer = Peer::start(manifest_of(config, layers), OCI_MANIFEST, vec![], blobs);
    let out = pull(&state, &peer.image());
    assert_one_clear_error(
        "sha512",
        &out,
        1,
        &[&sha512, "sha512 digests are valid but not supported"],
    );
    assert_eq!(
        peer.requests(),
        ["/v2/r/img/manifests/1"],
        "nothing downloaded"
    );
    assert_no_image_and_only_verified_blobs("sha512", &state);
}

#[test]
fn a_malformed_at_digest_in_a_reference_sends_no_request() {
    let (config, layers, blobs) = honest_image();
    let peer = Peer::start(manifest_of(config, layers), OCI_MANIFEST, vec![], blobs);
    let hex = "ab".repeat(32);
    let state = StateDir::new("hostile-at");
    for digest in [
        "sha256:../../../../tmp/x.json".to_string(),
        format!("sha256:{}", hex.to_uppercase()),
        format!("sha256:{}", &hex[1..]),
        format!("md5:{}", &hex[..32]),
    ] {
        let image = format!("127.0.0.1:{}/r/img@{digest}", peer.port);
        let out = pull(&state, &image);
        assert_one_clear_error(&digest, &out, 1, &["invalid digest"]);
    }
    assert!(peer.requests().is_empty(), "asked: {:?}", peer.requests());
    assert_no_image_and_only_verified_blobs("@digest", &state);
}

#[test]
fn a_malformed_docker_content_digest_header_is_refused() {
    let (config, layers, blobs) = honest_image();
    let headers = vec![
        ("Content-Type".to_string(), OCI_MANIFEST.to_string()),
        (
            "Docker-Content-Digest".to_string(),
            "sha256:../../../x".to_string(),
        ),
    ];
    let peer = Peer::with_headers(manifest_of(config, layers), headers, vec![], blobs);
    let state = StateDir::new("hostile-header");
    let out = pull(&state, &peer.image());
    assert_one_clear_error(
        "header",
        &out,
        1,
        &["Docker-Content-Digest", "invalid digest"],
    );
    assert_no_image_and_only_verified_blobs("header", &state);
}

/// Docker pulls an image that lists the same layer twice; so do we, once.
#[test]
fn a_layer_listed_twice_is_downloaded_once_and_the_pull_works() {
    let layer = b"the same layer, twice".to_vec();
    let config = config_for(&[layer.clone(), layer.clone()]);
    let layer_descriptor = descriptor(LAYER_TYPE, &sha256_digest(&layer), layer.len());
    let manifest = manifest_of(
        descriptor(CONFIG_TYPE, &sha256_digest(&config), config.len()),
        vec![layer_descriptor.clone(), layer_descriptor],
    );
    let peer = Peer::start(manifest, OCI_MANIFEST, vec![], vec![config, layer.clone()]);
    let state = StateDir::new("hostile-twice");
    let out = pull(&state, &peer.image());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let layer_path = format!("/v2/r/img/blobs/{}", sha256_digest(&layer));
    let fetched = peer.requests().iter().filter(|p| **p == layer_path).count();
    assert_eq!(
        fetched, 1,
        "the repeated layer was downloaded {fetched} times"
    );
    let listing = mini_docker(&state, &["images"]);
    assert_eq!(String::from_utf8_lossy(&listing.stdout).lines().count(), 2);
}

#[test]
fn a_size_that_lies_fails_the_download_and_stores_nothing() {
    let (config, layers, blobs) = honest_image();
    let real = blobs[1].len() as i64;
    for (case, size, says) in [
        (
            "size larger than the body",
            real + 100,
            "failed verification",
        ),
        ("size smaller than the body", real - 10, "bigger than the"),
    ] {
        let mut lying = layers[0].clone();
        lying["size"] = size.into();
        let peer = Peer::start(
            manifest_of(config.clone(), vec![lying]),
            OCI_MANIFEST,
            vec![],
            blobs.clone(),
        );
        let state = StateDir::new("hostile-size");
        let out = pull(&state, &peer.image());
        let digest = layers[0]["digest"].as_str().unwrap();
        assert_one_clear_error(case, &out, 1, &[says, digest, &size.to_string()]);
        assert_no_image_and_only_verified_blobs(case, &state);
        let layer_file = state
            .path()
            .join("images/blobs")
            .join(digest.replace(':', "/"));
        assert!(!layer_file.exists(), "{case}: the layer was stored");
    }
}

#[test]
fn a_config_that_is_not_json_is_refused() {
    let (_, layers, blobs) = honest_image();
    let config = b"<html>definitely not a config</html>".to_vec();
    let manifest = manifest_of(
        descriptor(CONFIG_TYPE, &sha256_digest(&config), config.len()),
        layers,
    );
    let peer = Peer::start(
        manifest,
        OCI_MANIFEST,
        vec![],
        vec![config, blobs[1].clone()],
    );
    let state = StateDir::new("hostile-config-json");
    let out = pull(&state, &peer.image());
    assert_one_clear_error(
        "config not JSON",
        &out,
        1,
        &["the image config is not JSON"],
    );
    assert_no_image_and_only_verified_blobs("config not JSON", &state);
}

#[test]
fn ten_thousand_layers_are_refused_before_any_download() {
    let (config, _, blobs) = honest_image();
    let layers: Vec<_> = (0..10_000u32)
        .map(|i| descriptor(LAYER_TYPE, &sha256_digest(&i.to_le_bytes()), 4))
        .collect();
    let peer = Peer::start(manifest_of(config, layers), OCI_MANIFEST, vec![], blobs);
    let state = StateDir::new("hostile-layers");
    let out = pull(&state, &peer.image());
    assert_one_clear_error("10000 layers", &out, 1, &["10000 layers", "1000"]);
    assert_eq!(
        peer.requests(),
        ["/v2/r/img/manifests/1"],
        "nothing downloaded"
    );
    assert_no_image_and_only_verified_blobs("10000 layers", &state);
}

/// A manifest announced as 1 GiB, then trickled a byte at a time: refused on
/// the header, at once (reading it would wait for the 30 s timeout).
#[test]
fn a_1_gib_manifest_is_refused_on_its_content_length_before_reading() {
    let sent = Arc::new(Mutex::new(0u64));
    let counter = sent.clone();
    let port = serve_raw(
        "127.0.0.1",
        Arc::new(move |_path, _headers, mut stream| {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {OCI_MANIFEST}\r\nContent-Length: {}\r\n\r\n",
                1u64 << 30
            );
            let _ = stream.write_all(head.as_bytes());
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline && stream.write_all(b" ").is_ok() {
                *counter.lock().unwrap() += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
        }),
    );
    let state = StateDir::new("hostile-huge");
    let started = Instant::now();
    let out = pull(&state, &format!("127.0.0.1:{port}/r/img:1"));
    let took = started.elapsed();
    assert_one_clear_error("1 GiB manifest", &out, 1, &["over 4 MiB"]);
    assert!(
        took < Duration::from_secs(10),
        "took {took:?}: the body was read"
    );
    assert_no_image_and_only_verified_blobs("1 GiB manifest", &state);
}

/// Without a Content-Length (chunked), the cap holds while reading.
#[test]
fn a_chunked_manifest_over_4_mib_is_cut_off() {
    let port = serve_raw(
        "127.0.0.1",
        Arc::new(move |_path, _headers, mut stream| {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {OCI_MANIFEST}\r\nTransfer-Encoding: chunked\r\n\r\n"
            );
            let _ = stream.write_all(head.as_bytes());
            let chunk = vec![b' '; 64 << 10];
            for _ in 0..(64 << 20) / chunk.len() {
                let framed =
                    [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
                if stream.write_all(&framed).is_err() {
                    return;
                }
            }
            let _ = stream.write_all(b"0\r\n\r\n");
        }),
    );
    let state = StateDir::new("hostile-chunked");
    let out = pull(&state, &format!("127.0.0.1:{port}/r/img:1"));
    assert_one_clear_error("chunked", &out, 1, &["over 4 MiB"]);
    assert_no_image_and_only_verified_blobs("chunked", &state);
}

#[test]
fn registries_that_are_not_host_names_are_refused_without_a_request() {
    let state = StateDir::new("hostile-host");
    for image in [
        "..:5055/x",
        "a..b:5000/x",
        "a_b.io:5000/x",
        "a.io:0/x",
        "a.io:65536/x",
        "[::1/x",
    ] {
        let out = pull(&state, image);
        assert_one_clear_error(image, &out, 1, &["bad registry"]);
    }
}

/// `run` of a hostile image: exit 125, one line, and nothing left (no
/// container, no image, only verified blobs, the host as it was).
#[test]
fn run_of_a_hostile_image_exits_125_and_leaves_nothing() {
    require_root();
    let _serial = serial();
    let (config, layers, blobs) = honest_image();
    let state = StateDir::new("hostile-run");
    let config_traversal = plant(&state, "sentinel.json", &blobs[0]);
    let layer_traversal = plant(&state, "sentinel.layer", &blobs[1]);
    let mut bad_config = config.clone();
    bad_config["digest"] = config_traversal.into();
    let mut bad_layer = layers[0].clone();
    bad_layer["digest"] = layer_traversal.into();
    let many: Vec<_> = (0..10_000u32)
        .map(|i| descriptor(LAYER_TYPE, &sha256_digest(&i.to_le_bytes()), 4))
        .collect();
    let cases = [
        (
            "config traversal",
            manifest_of(bad_config, layers.clone()),
            "config",
        ),
        (
            "layer traversal",
            manifest_of(config.clone(), vec![bad_layer]),
            "layers[0]",
        ),
        (
            "10000 layers",
            manifest_of(config.clone(), many),
            "10000 layers",
        ),
    ];
    let before = HostSnapshot::take();
    for (case, manifest, says) in cases {
        let peer = Peer::start(manifest, OCI_MANIFEST, vec![], blobs.clone());
        let out = mini_docker(
            &state,
            &["--reference", "run", "--rm", &peer.image(), "true"],
        );
        assert_one_clear_error(case, &out, 125, &[says]);
        peer.assert_only_valid_requests(case);
        assert_no_image_and_only_verified_blobs(case, &state);
    }
    assert_state_dir_clean(&state);
    HostSnapshot::assert_clean_since(&before, "hostile run");
}
