//! Two registry behaviours distribution 2.8 on local storage never shows, so a
//! scripted HTTP peer on loopback plays the registry here (everything else is
//! tested against the real one, tests/pull.rs):
//! - a blob answered with a redirect to *another host* (what S3-backed
//!   registries do): the Authorization header must not follow it;
//! - 503 and 429: retried a bounded number of times, then a clear message.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use common::*;
use mini_docker::image::store::sha256_digest;

type Handler = Arc<
    dyn Fn(&str, &HashMap<String, String>) -> (u16, Vec<(String, String)>, Vec<u8>) + Send + Sync,
>;

/// A tiny HTTP/1.1 server: one request per connection, answered by `handler`.
fn serve(host: &str, handler: Handler) -> u16 {
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

fn answer(stream: TcpStream, handler: &Handler) {
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
    let (status, extra, body) = handler(&path, &headers);
    let mut stream = stream;
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
