//! Chapter 9 against a real registry (Debian's docker-registry, distribution
//! 2.8) with images pushed by skopeo: every manifest media type, pull by
//! digest, re-pull, clear errors, rmi. Traffic stays on 127.0.0.1.

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use mini_docker::checks::fixture::{build_layout, Auth, Layout, Registry};
use mini_docker::image::manifest::{DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};

fn pull(state: &StateDir, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--reference", "pull"];
    all.extend_from_slice(args);
    mini_docker(state, &all)
}

/// The media type of the manifest the store keeps under `digest`.
fn stored_media_type(state: &StateDir, digest: &str) -> String {
    let bytes = fs::read(
        state
            .path()
            .join("images/blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    json["mediaType"].as_str().unwrap_or_default().to_string()
}

fn top_manifest_digest(registry: &Registry, repo_tag: &str) -> String {
    let (repo, tag) = repo_tag.split_once(':').unwrap();
    let link = registry.dir.join(format!(
        "storage/docker/registry/v2/repositories/{repo}/_manifests/tags/{tag}/current/link"
    ));
    fs::read_to_string(link).unwrap().trim().to_string()
}

fn record(state: &StateDir, key: &str) -> serde_json::Value {
    let images: serde_json::Value =
        serde_json::from_slice(&fs::read(state.path().join("images/images.json")).unwrap())
            .unwrap();
    images[key].clone()
}

#[test]
fn every_manifest_media_type_pulls() {
    let registry = Registry::start(Auth::Token).unwrap();
    let layout: Layout = build_layout(&["linux/amd64", "linux/arm64/v8"]).unwrap();
    let cases = [
        ("single", None, "media/oci:1", OCI_MANIFEST),
        ("single", Some("v2s2"), "media/docker:1", DOCKER_MANIFEST),
        ("multi", None, "media/ociindex:1", OCI_INDEX),
        ("multi", Some("v2s2"), "media/dockerlist:1", DOCKER_LIST),
    ];
    for (layout_ref, format, repo_tag, media_type) in cases {
        registry
            .push(&layout.dir, layout_ref, repo_tag, format)
            .unwrap();
        let state = StateDir::new("media");
        let image = format!("{}/{repo_tag}", registry.address());
        let out = pull(&state, &[&image]);
        assert!(out.status.success(), "{media_type}: {}", stderr(&out));
        let top = top_manifest_digest(&registry, repo_tag);
        assert_eq!(
            stored_media_type(&state, &top),
            media_type,
            "the registry served {repo_tag} as {media_type}"
        );
        let rec = record(&state, &image);
        assert_eq!(rec["platform"], "linux/amd64", "{media_type}");
        if media_type == OCI_MANIFEST || media_type == OCI_INDEX {
            assert_eq!(
                rec["manifest_digest"],
                layout.manifests["linux/amd64"].as_str(),
                "{media_type}: the amd64 image"
            );
        }
        println!("pulled {media_type}");
    }
}

#[test]
fn pull_by_digest_repull_and_rmi() {
    let registry = Registry::start(Auth::Token).unwrap();
    let layout = build_layout(&["linux/amd64", "linux/arm64/v8"]).unwrap();
    registry
        .push(&layout.dir, "multi", "app/multi:1", None)
        .unwrap();
    registry
        .push(&layout.dir, "single", "app/single:1", None)
        .unwrap();
    let state = StateDir::new("bydigest");
    let digest = &layout.manifests["linux/amd64"];
    let by_digest = format!("{}/app/multi@{digest}", registry.address());
    let out = pull(&state, &[&by_digest]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        record(&state, &by_digest)["manifest_digest"],
        digest.as_str()
    );

    // Pulling the same layers again downloads nothing.
    let single = format!("{}/app/single:1", registry.address());
    let out = pull(&state, &[&single]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        !err.contains("downloading"),
        "layers present were downloaded again:\n{err}"
    );
    assert_eq!(err.matches("already exists").count(), 2, "{err}");
    let out = pull(&state, &[&single]);
    assert!(
        out.status.success() && !stderr(&out).contains("downloading"),
        "a re-pull is a no-op"
    );

    let images = String::from_utf8(mini_docker(&state, &["images"]).stdout).unwrap();
    assert!(
        images.contains("app/single") && images.contains("<none>"),
        "{images}"
    );

    // The index by tag: one more blob (the index itself), everything else shared.
    let blobs = |s: &StateDir| {
        fs::read_dir(s.path().join("images/blobs/sha256"))
            .unwrap()
            .count()
    };
    let before = blobs(&state);
    let multi = format!("{}/app/multi:1", registry.address());
    let out = pull(&state, &[&multi]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(blobs(&state), before + 1, "only the index is new");

    // rmi deletes exactly the blobs no remaining image uses.
    let out = mini_docker(&state, &["--reference", "rmi", &single]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        blobs(&state),
        before + 1,
        "all of single's blobs are still used"
    );
    let out = mini_docker(&state, &["--reference", "rmi", &multi]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        blobs(&state),
        before,
        "the index went with the last image using it"
    );
    let out = mini_docker(&state, &["--reference", "rmi", &by_digest]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(blobs(&state), 0, "nothing is left once no image uses it");
    let out = mini_docker(&state, &["--reference", "rmi", &single]);
    assert!(!out.status.success() && stderr(&out).contains("no such image"));
}

fn assert_one_line_failure(out: &std::process::Output, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line expected: {err}");
    assert!(err.contains(needle), "expected {needle:?} in {err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn missing_tag_repository_and_registry_are_clear_errors() {
    let registry = Registry::start(Auth::Token).unwrap();
    let layout = build_layout(&["linux/amd64"]).unwrap();
    registry
        .push(&layout.dir, "single", "here/img:1", None)
        .unwrap();
    let state = StateDir::new("missing");
    let out = pull(&state, &[&format!("{}/here/img:nope", registry.address())]);
    assert_one_line_failure(&out, "nope: not found");
    let out = pull(&state, &[&format!("{}/not/there:1", registry.address())]);
    assert_one_line_failure(&out, "not found");
    // Nothing listens on this port: a clear error, quickly.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let out = pull(&state, &[&format!("127.0.0.1:{port}/x/y:1")]);
    assert_one_line_failure(&out, "cannot reach registry");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let out = pull(&state, &["Not/Valid"]);
    assert_one_line_failure(&out, "invalid reference");
    // Nothing half-written anywhere.
    let blobs = state.path().join("images/blobs/sha256");
    if blobs.exists() {
        let partial: Vec<_> = fs::read_dir(&blobs)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(partial.is_empty());
    }
    assert!(
        !Path::new(&state.path().join("images/images.json")).exists()
            || record(&state, "x").is_null()
    );
}

#[test]
fn credentials_come_from_the_docker_config_file() {
    use base64::Engine;
    let (user, password) = ("dockeruser", "s3cret-pw");
    let registry = Registry::start(Auth::Htpasswd {
        user: user.into(),
        password: password.into(),
    })
    .unwrap();
    let layout = build_layout(&["linux/amd64"]).unwrap();
    registry
        .push(&layout.dir, "single", "private/img:1", None)
        .unwrap();
    let state = StateDir::new("dockerconfig");
    let home = state.path().join("home");
    fs::create_dir_all(home.join(".docker")).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let config = serde_json::json!({"auths": {registry.address(): {"auth": auth}}});
    fs::write(home.join(".docker/config.json"), config.to_string()).unwrap();
    let out = std::process::Command::new(BIN)
        .env("HOME", &home)
        .env_remove("MINI_DOCKER_REGISTRY_AUTH")
        .env_remove("MINI_DOCKER_REFERENCE")
        .arg("--state-dir")
        .arg(state.path())
        .args([
            "--reference",
            "pull",
            &format!("{}/private/img:1", registry.address()),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker config auths were not used: {}",
        stderr(&out)
    );
}
