//! A real registry for chapter 9's checks and the tests: Debian's
//! `docker-registry` (distribution 2.8) on 127.0.0.1, storage in a temp dir,
//! with token auth (a token endpoint here, signing JWTs with a throwaway key
//! the registry trusts) or htpasswd; images built offline from busybox as OCI
//! layouts and pushed with skopeo. Everything is removed when dropped.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::random_hex;
use crate::image::manifest::{OCI_INDEX, OCI_MANIFEST};
use crate::image::store::sha256_digest;

pub enum Auth {
    /// Bearer tokens from our token endpoint (anonymous, like Docker Hub's public images).
    Token,
    /// Basic auth against an htpasswd file.
    Htpasswd { user: String, password: String },
}

pub struct Registry {
    pub port: u16,
    pub dir: PathBuf,
    child: Child,
    _token: Option<TokenServer>,
    creds: Option<String>,
}

/// Ready when /v2/ answers as a registry (its API version header) — not merely
/// when something accepts connections on the port. false: the process exited.
fn wait_ready(child: &mut Child, port: u16) -> Result<bool> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if child.try_wait()?.is_some() {
            return Ok(false);
        }
        if is_registry(port) {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("docker-registry did not answer on 127.0.0.1:{port} within 10 s")
}

fn is_registry(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    if stream
        .write_all(b"GET /v2/ HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = std::io::Read::read_to_string(&mut stream, &mut answer);
    answer
        .to_ascii_lowercase()
        .contains("docker-distribution-api-version")
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Registry {
    pub fn start(auth: Auth) -> Result<Registry> {
        let dir = std::env::temp_dir().join(format!("mini-docker-registry-{}", random_hex(6)?));
        fs::create_dir_all(dir.join("storage"))?;
        let (auth_yaml, token, creds) = match auth {
            Auth::Token => {
                let server = TokenServer::start(&dir)?;
                // The service holds a comma, as a quoted value may: a parser
                // that splits the challenge on every ',' asks for the service
                // "mini-docker", and the registry refuses that token (its aud).
                let yaml = format!(
                    "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: \"mini-docker,test\"\n    issuer: mini-docker-test\n    rootcertbundle: {}\n",
                    server.port,
                    dir.join("token.pem").display()
                );
                (yaml, Some(server), None)
            }
            Auth::Htpasswd { user, password } => {
                fs::write(dir.join("htpasswd"), htpasswd_line(&user, &password)?)?;
                let yaml = format!(
                    "auth:\n  htpasswd:\n    realm: mini-docker-test\n    path: {}\n",
                    dir.join("htpasswd").display()
                );
                (yaml, None, Some(format!("{user}:{password}")))
            }
        };
        // A free port is only free until someone else binds it (tests run in
        // parallel): if the registry cannot have it, it exits — try another.
        for _ in 0..5 {
            let port = free_port()?;
            let config = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth_yaml}",
                dir.join("storage").display()
            );
            fs::write(dir.join("config.yml"), config)?;
            // The registry reads every REGISTRY_* variable as configuration: give it none.
            let mut child = Command::new("docker-registry")
                .arg("serve")
                .arg(dir.join("config.yml"))
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("start docker-registry (apt-get install docker-registry; ./setup.sh --ci installs it)")?;
            if wait_ready(&mut child, port)? {
                return Ok(Registry {
                    port,
                    dir,
                    child,
                    _token: token,
                    creds,
                });
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = fs::remove_dir_all(&dir);
        bail!("docker-registry could not start on 127.0.0.1 (5 ports tried)")
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// skopeo copy from an OCI layout; `format` "v2s2" for Docker schema 2.
    pub fn push(
        &self,
        layout: &Path,
        layout_ref: &str,
        repo_tag: &str,
        format: Option<&str>,
    ) -> Result<()> {
        let mut command = Command::new("skopeo");
        command.args([
            "--insecure-policy",
            "copy",
            "--quiet",
            "--all",
            "--dest-tls-verify=false",
        ]);
        if let Some(format) = format {
            command.args(["--format", format]);
        }
        if let Some(creds) = &self.creds {
            command.args(["--dest-creds", creds]);
        }
        command.arg(format!("oci:{}:{layout_ref}", layout.display()));
        command.arg(format!("docker://{}/{repo_tag}", self.address()));
        let out = command
            .env("HOME", &self.dir)
            .output()
            .context("run skopeo (apt-get install skopeo)")?;
        if !out.status.success() {
            bail!(
                "skopeo copy to {repo_tag} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// Where the registry keeps a blob on disk.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The token endpoint, a `mini-docker-fixture token-server` child: it signs
/// ES256 JWTs granting whatever scope is asked, with a throwaway key whose
/// certificate (DIR/token.pem) the registry trusts. Ends when dropped.
struct TokenServer {
    port: u16,
    child: Child,
}

impl TokenServer {
    fn start(dir: &Path) -> Result<TokenServer> {
        let mut child = Command::new(fixture_binary()?)
            .arg("token-server")
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("start mini-docker-fixture token-server")?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("piped")?).read_line(&mut line)?;
        let port = line.trim().parse().with_context(|| {
            let _ = child.kill();
            format!("mini-docker-fixture printed {line:?}, not a port")
        })?;
        Ok(TokenServer { port, child })
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        drop(self.child.stdin.take()); // its signal to stop
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An htpasswd line (bcrypt), from `mini-docker-fixture htpasswd`.
fn htpasswd_line(user: &str, password: &str) -> Result<String> {
    let out = Command::new(fixture_binary()?)
        .args(["htpasswd", user, password])
        .output()
        .context("run mini-docker-fixture htpasswd")?;
    if !out.status.success() {
        bail!(
            "mini-docker-fixture htpasswd: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `mini-docker-fixture`, built beside mini-docker (a workspace member of its
/// own, so its crypto crates stay out of the runtime). Test binaries live one
/// directory deeper (`deps/`), hence the parent too.
fn fixture_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("MINI_DOCKER_FIXTURE") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().context("find our own binary")?;
    let dirs = exe
        .parent()
        .into_iter()
        .chain(exe.parent().and_then(Path::parent));
    for dir in dirs {
        let candidate = dir.join("mini-docker-fixture");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "mini-docker-fixture is not built next to {}: run `cargo build` at the top of the project",
        exe.display()
    )
}

/// An OCI image layout built offline: one image per platform (a busybox
/// layer shared by all, and a layer naming the platform), plus an index.
pub struct Layout {
    pub dir: PathBuf,
    /// platform ("linux/amd64") -> manifest digest
    pub manifests: BTreeMap<String, String>,
    /// every blob digest of the first platform's image (manifest, config, layers)
    pub first_image_blobs: Vec<String>,
    /// layer digests of the first platform's image
    pub first_layers: Vec<String>,
}

impl Drop for Layout {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// An empty OCI image layout directory.
fn new_layout_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("mini-docker-layout-{}", random_hex(6)?));
    fs::create_dir_all(dir.join("blobs/sha256"))?;
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)?;
    Ok(dir)
}

/// Store `bytes` as a blob of the layout; returns (digest, size).
fn put_blob(dir: &Path, bytes: &[u8]) -> Result<(String, usize)> {
    let digest = sha256_digest(bytes);
    fs::write(
        dir.join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
        bytes,
    )?;
    Ok((digest, bytes.len()))
}

/// Store an image config and the OCI manifest naming it and `layers`:
/// (config digest, manifest digest, manifest size).
fn put_manifest(
    dir: &Path,
    config: &serde_json::Value,
    layers: Vec<serde_json::Value>,
) -> Result<(String, String, usize)> {
    let (config_digest, config_size) = put_blob(dir, config.to_string().as_bytes())?;
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": layers,
    });
    let (manifest_digest, manifest_size) = put_blob(dir, manifest.to_string().as_bytes())?;
    Ok((config_digest, manifest_digest, manifest_size))
}

/// Layout refs: "multi" (the index), and "single" (the first platform's image alone).
pub fn build_layout(platforms: &[&str]) -> Result<Layout> {
    let dir = new_layout_dir()?;
    let put = |bytes: &[u8]| put_blob(&dir, bytes);
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .find(|p| Path::new(p).exists())
        .context("busybox-static")?;
    let base = custom_layer(&[
        (
            "bin/busybox".to_string(),
            LayerEntry::File(fs::read(busybox)?, 0o755),
        ),
        ("bin/sh".to_string(), LayerEntry::Symlink("busybox".into())),
    ])?;
    let mut manifests = BTreeMap::new();
    let mut index_entries = Vec::new();
    let mut first_image_blobs = Vec::new();
    let mut first_layers = Vec::new();
    for (i, platform) in platforms.iter().enumerate() {
        let parts: Vec<&str> = platform.split('/').collect();
        let own = custom_layer(&[(
            "etc/platform".to_string(),
            LayerEntry::File(
                format!(
                    "{platform}
"
                )
                .into_bytes(),
                0o644,
            ),
        )])?;
        let mut layer_descriptors = Vec::new();
        let mut diff_ids = Vec::new();
        for (gz, tar) in [&base, &own] {
            let (digest, size) = put(gz)?;
            layer_descriptors.push(serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": size}));
            diff_ids.push(sha256_digest(tar));
            if i == 0 {
                first_layers.push(digest);
            }
        }
        let mut config = serde_json::json!({
            "architecture": parts[1], "os": parts[0], "created": "2026-01-01T00:00:00Z",
            "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"], "WorkingDir": "/"},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        if let Some(variant) = parts.get(2) {
            config["variant"] = serde_json::json!(variant);
        }
        let (config_digest, manifest_digest, manifest_size) =
            put_manifest(&dir, &config, layer_descriptors)?;
        let mut platform_json = serde_json::json!({"os": parts[0], "architecture": parts[1]});
        if let Some(variant) = parts.get(2) {
            platform_json["variant"] = serde_json::json!(variant);
        }
        index_entries.push(serde_json::json!({"mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": manifest_size, "platform": platform_json}));
        if i == 0 {
            first_image_blobs = vec![manifest_digest.clone(), config_digest];
            first_image_blobs.extend(first_layers.iter().cloned());
        }
        manifests.insert(platform.to_string(), manifest_digest);
    }
    let index =
        serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index_entries});
    let (index_digest, index_size) = put(index.to_string().as_bytes())?;
    let single = &index_entries[0];
    let layout_index = serde_json::json!({"schemaVersion": 2, "manifests": [
        {"mediaType": OCI_INDEX, "digest": index_digest, "size": index_size, "annotations": {"org.opencontainers.image.ref.name": "multi"}},
        {"mediaType": OCI_MANIFEST, "digest": single["digest"], "size": single["size"], "annotations": {"org.opencontainers.image.ref.name": "single"}},
    ]});
    fs::write(dir.join("index.json"), layout_index.to_string())?;
    Ok(Layout {
        dir,
        manifests,
        first_image_blobs,
        first_layers,
    })
}

/// One entry of a custom test layer.
pub enum LayerEntry {
    File(Vec<u8>, u32),
    Dir(u32),
    Symlink(String),
}

/// A single-platform (linux/amd64) image of the given layers, bottom first,
/// with `config` merged into the image config's "config" object; layout ref "single".
pub fn build_image(
    layers: &[Vec<(String, LayerEntry)>],
    config: serde_json::Value,
) -> Result<Layout> {
    let dir = new_layout_dir()?;
    let put = |bytes: &[u8]| put_blob(&dir, bytes);
    let mut descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    let mut layer_digests = Vec::new();
    for entries in layers {
        let (gz, tar) = custom_layer(entries)?;
        let (digest, size) = put(&gz)?;
        descriptors.push(serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": size}));
        diff_ids.push(sha256_digest(&tar));
        layer_digests.push(digest);
    }
    let mut image_config = serde_json::json!({"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]});
    if let (Some(base), Some(extra)) = (image_config.as_object_mut(), config.as_object()) {
        base.extend(extra.clone());
    }
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
        "config": image_config, "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let (config_digest, manifest_digest, manifest_size) = put_manifest(&dir, &config, descriptors)?;
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": manifest_size, "annotations": {"org.opencontainers.image.ref.name": "single"}},
    ]});
    fs::write(dir.join("index.json"), index.to_string())?;
    let mut first_image_blobs = vec![manifest_digest.clone(), config_digest];
    first_image_blobs.extend(layer_digests.iter().cloned());
    let manifests = BTreeMap::from([("linux/amd64".to_string(), manifest_digest)]);
    Ok(Layout {
        dir,
        manifests,
        first_image_blobs,
        first_layers: layer_digests,
    })
}

/// The busybox layer every test image starts from: /bin/busybox and its applets' links.
pub fn busybox_layer() -> Result<Vec<(String, LayerEntry)>> {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .find(|p| Path::new(p).exists())
        .context("busybox-static")?;
    let mut entries = vec![
        ("bin".to_string(), LayerEntry::Dir(0o755)),
        (
            "bin/busybox".to_string(),
            LayerEntry::File(fs::read(busybox)?, 0o755),
        ),
        ("tmp".to_string(), LayerEntry::Dir(0o1777)),
        ("etc".to_string(), LayerEntry::Dir(0o755)),
        (
            "etc/passwd".to_string(),
            LayerEntry::File(
                b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n".to_vec(),
                0o644,
            ),
        ),
        (
            "etc/group".to_string(),
            LayerEntry::File(b"root:x:0:\nnogroup:x:65534:\n".to_vec(), 0o644),
        ),
    ];
    for applet in [
        "sh", "ls", "cat", "echo", "id", "pwd", "test", "touch", "rm", "mkdir", "sleep",
        "hostname", "env", "stat", "true", "ps", "mount", "tty",
    ] {
        entries.push((
            format!("bin/{applet}"),
            LayerEntry::Symlink("busybox".into()),
        ));
    }
    Ok(entries)
}

fn custom_layer(entries: &[(String, LayerEntry)]) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, entry) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        match entry {
            LayerEntry::File(bytes, mode) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(bytes.len() as u64);
                builder.append_data(&mut header, path, bytes.as_slice())?;
            }
            LayerEntry::Dir(mode) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(*mode);
                header.set_size(0);
                builder.append_data(&mut header, path, std::io::empty())?;
            }
            LayerEntry::Symlink(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                builder.append_link(&mut header, path, target)?;
            }
        }
    }
    let tar = builder.into_inner()?;
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar)?;
    Ok((gz.finish()?, tar))
}

/// Two layers over busybox: the lower has data/{keep,gone} and opaque/old;
/// the upper whites out data/gone and makes opaque/ opaque, adding opaque/new.
pub fn whiteout_layers() -> Vec<Vec<(String, LayerEntry)>> {
    let file = |p: &str, t: &str| {
        (
            p.to_string(),
            LayerEntry::File(t.as_bytes().to_vec(), 0o644),
        )
    };
    let dir = |p: &str| (p.to_string(), LayerEntry::Dir(0o755));
    vec![
        vec![
            dir("data"),
            file("data/keep", "k"),
            file("data/gone", "g"),
            dir("opaque"),
            file("opaque/old", "o"),
        ],
        vec![
            file("data/.wh.gone", ""),
            dir("opaque"),
            file("opaque/.wh..wh..opq", ""),
            file("opaque/new", "n"),
        ],
    ]
}

/// podman's `libpod_parent` in every v1 hierarchy (or the v2 root): its
/// cgroupfs manager makes `libpod_parent/conmon` and never removes it
/// (tests/oci_podman.rs and the benchmark's podman rows remove what they made).
pub fn libpod_parents() -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let mut candidates = vec![root.join("libpod_parent")];
    if let Ok(entries) = fs::read_dir(root) {
        candidates.extend(entries.flatten().map(|e| e.path().join("libpod_parent")));
    }
    candidates.into_iter().filter(|dir| dir.is_dir()).collect()
}

/// rmdir `libpod_parent/conmon`, then `libpod_parent`, once no process of
/// the podman store `store` is left: conmon runs `podman container cleanup` after a
/// `run --rm` has returned, and that makes them again. Gone, and still gone
/// a moment later, or we give up after 10 s (never rm -r: a cgroup).
pub fn remove_libpod_parents(store: &Path) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if !processes_naming(store) {
            for dir in libpod_parents() {
                let _ = fs::remove_dir(dir.join("conmon"));
                let _ = fs::remove_dir(&dir);
            }
            std::thread::sleep(Duration::from_millis(300));
            if libpod_parents().is_empty() && !processes_naming(store) {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("podman's libpod_parent cgroups are still there after 10 s");
}

/// Is any process running with `path` in its command line (podman, conmon)?
fn processes_naming(path: &Path) -> bool {
    let needle = path.as_os_str().as_encoded_bytes();
    let Ok(entries) = fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        fs::read(entry.path().join("cmdline"))
            .is_ok_and(|cmdline| cmdline.windows(needle.len()).any(|w| w == needle))
    })
}
