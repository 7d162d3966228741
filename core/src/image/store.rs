//! The content-addressed image store under STATE_DIR/images:
//! `blobs/sha256/<hex>` (every blob verified while it streams in, written to a
//! temporary name and renamed: a crash or a bad digest leaves nothing), and
//! `images.json`, the tags, under a file lock. Blob paths are made only from
//! a parsed `Digest` (never from text), so a digest cannot name a path.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::digest::{Algorithm, Digest};
use super::manifest::Descriptor;
use crate::sys::lock::FileLock;

/// What `run` needs to know about a pulled image.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImageRecord {
    /// `registry/repository`
    pub name: String,
    pub tag: Option<String>,
    pub manifest_digest: Digest,
    /// The index (or manifest list) it was chosen from, if any: kept too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_digest: Option<Digest>,
    pub config_digest: Digest,
    pub layers: Vec<Descriptor>,
    pub platform: String,
    pub created: Option<String>,
}

impl ImageRecord {
    /// The key in images.json: `name:tag`, or `name@digest` when pulled by digest.
    pub fn key(&self) -> String {
        match &self.tag {
            Some(tag) => format!("{}:{tag}", self.name),
            None => format!("{}@{}", self.name, self.manifest_digest),
        }
    }
    pub fn size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }
}

pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn open(state_dir: &Path) -> Result<Store> {
        let root = state_dir.join("images");
        fs::create_dir_all(root.join("blobs/sha256"))
            .with_context(|| format!("create {}", root.display()))?;
        Ok(Store { root })
    }

    /// Where a blob lives: `blobs/sha256/<hex>`. Only sha256 blobs are
    /// stored (the only hash the store verifies), so only they have a path.
    pub fn blob_path(&self, digest: &Digest) -> Result<PathBuf> {
        check_supported(digest)?;
        Ok(self.root.join("blobs/sha256").join(digest.hex()))
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_ok_and(|path| path.is_file())
    }

    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        fs::read(self.blob_path(digest)?).with_context(|| format!("read blob {digest}"))
    }

    /// Stream `body` into the store, hashing as it goes; keep it only if its
    /// size and sha256 are `expected`'s. `progress` hears every chunk's length.
    pub fn write_blob(
        &self,
        expected: &Descriptor,
        mut body: impl Read,
        progress: &dyn Fn(u64),
    ) -> Result<()> {
        let target = self.blob_path(&expected.digest)?;
        // A random part too: pids repeat across PID namespaces (a check's
        // sandbox), and several threads download at once.
        let temp = self.root.join("blobs/sha256").join(format!(
            ".partial-{}-{}-{}",
            expected.digest.hex(),
            std::process::id(),
            crate::sys::random_hex(4)?
        ));
        let result = (|| {
            let mut file =
                File::create(&temp).with_context(|| format!("create {}", temp.display()))?;
            let mut hasher = Sha256::new();
            let (mut buf, mut total) = (vec![0u8; 256 << 10], 0u64);
            loop {
                let n = body
                    .read(&mut buf)
                    .with_context(|| format!("download {}", expected.digest))?;
                if n == 0 {
                    break;
                }
                total += n as u64;
                if total > expected.size {
                    bail!(
                        "blob {} is bigger than the {} bytes its manifest promises: refused",
                        expected.digest,
                        expected.size
                    );
                }
                hasher.update(&buf[..n]);
                file.write_all(&buf[..n])?;
                progress(n as u64);
            }
            let actual = Digest::from_sha256(hasher);
            if actual != expected.digest || total != expected.size {
                bail!("blob {} failed verification: got {actual}, {total} bytes (expected {} bytes): refused", expected.digest, expected.size);
            }
            file.sync_all()?;
            fs::rename(&temp, &target).context("move the verified blob into place")
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }

    /// Store small content we already hold in memory (manifests), verified the same way.
    pub fn write_bytes(&self, digest: &Digest, bytes: &[u8]) -> Result<()> {
        let descriptor = Descriptor {
            media_type: String::new(),
            digest: digest.clone(),
            size: bytes.len() as u64,
            platform: None,
        };
        self.write_blob(&descriptor, bytes, &|_| {})
    }

    fn images_path(&self) -> PathBuf {
        self.root.join("images.json")
    }

    fn lock(&self) -> Result<FileLock> {
        FileLock::exclusive(&self.root.join("lock"))
    }

    pub fn images(&self) -> Result<BTreeMap<String, ImageRecord>> {
        match fs::read(self.images_path()) {
            Ok(bytes) => serde_json::from_slice(&bytes).context("parse images.json"),
            Err(_) => Ok(BTreeMap::new()),
        }
    }

    fn save(&self, images: &BTreeMap<String, ImageRecord>) -> Result<()> {
        let temp = self
            .root
            .join(format!(".images.json-{}", std::process::id()));
        fs::write(&temp, serde_json::to_vec_pretty(images)?)?;
        fs::rename(temp, self.images_path()).context("write images.json")
    }

    pub fn record(&self, image: ImageRecord) -> Result<()> {
        let _lock = self.lock()?;
        let mut images = self.images()?;
        images.insert(image.key(), image);
        self.save(&images)
    }

    /// Untag `key`; delete every blob no remaining image uses. Returns the blobs deleted.
    pub fn remove(&self, key: &str) -> Result<usize> {
        let _lock = self.lock()?;
        let mut images = self.images()?;
        if images.remove(key).is_none() {
            bail!("no such image: {key} (see `mini-docker images`)");
        }
        self.save(&images)?;
        let mut used: Vec<&Digest> = Vec::new();
        for image in images.values() {
            used.push(&image.manifest_digest);
            used.extend(&image.index_digest);
            used.push(&image.config_digest);
            used.extend(image.layers.iter().map(|l| &l.digest));
        }
        let mut deleted = 0;
        for entry in fs::read_dir(self.root.join("blobs/sha256"))?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || used.iter().any(|d| d.hex() == name) {
                continue;
            }
            fs::remove_file(entry.path())?;
            deleted += 1;
        }
        Ok(deleted)
    }
}

/// The store verifies blobs with sha256 only: a digest of another algorithm
/// is well-formed but cannot be checked, so it is refused, not trusted.
pub fn check_supported(digest: &Digest) -> Result<()> {
    match digest.algorithm() {
        Algorithm::Sha256 => Ok(()),
        other => bail!(
            "{digest}: {} digests are valid but not supported (mini-docker verifies sha256 only): refused",
            other.name()
        ),
    }
}

/// `sha256:<hex>` of `bytes`, as text (for checks and tests; the pull uses `Digest::sha256_of`).
pub fn sha256_digest(bytes: &[u8]) -> String {
    Digest::sha256_of(bytes).to_string()
}
