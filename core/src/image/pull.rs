//! `mini-docker pull`: reference -> manifest (-> platform) -> config -> layers.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{anyhow, bail, Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::digest::Digest;
use super::image_ref::ImageRef;
use super::manifest::{self, Descriptor, ImageManifest, Manifest};
use super::platform::Platform;
use super::registry::{Protocol, Registry};
use super::store::{check_supported, ImageRecord, Store};

/// How many layers download at once.
const PARALLEL: usize = 4;

/// Refuse bigger image configs: a config is read into memory, and real ones
/// are kilobytes (a long history makes them a few hundred).
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

pub fn pull(
    state_dir: &Path,
    text: &str,
    platform: Option<Platform>,
    protocol: &Protocol,
) -> Result<ImageRecord> {
    let reference = protocol.resolve(text)?;
    let store = Store::open(state_dir)?;
    let registry = Registry::connect(&reference, protocol)?;
    let wanted = platform.clone().unwrap_or_else(Platform::host);
    let (index_digest, manifest_digest, image) =
        fetch_image_manifest(&registry, &store, &reference, &wanted, protocol)?;
    // Every digest the image names must be one the store can verify, before
    // anything is downloaded.
    for descriptor in std::iter::once(&image.config).chain(&image.layers) {
        check_supported(&descriptor.digest)?;
    }
    let config = fetch_blob_small(&registry, &store, &image.config)?;
    let config: serde_json::Value =
        serde_json::from_slice(&config).context("the image config is not JSON")?;
    let actual = format!(
        "{}/{}",
        config["os"].as_str().unwrap_or("?"),
        config["architecture"].as_str().unwrap_or("?")
    );
    if platform.is_some() && !actual.starts_with(&format!("{}/{}", wanted.os, wanted.architecture))
    {
        bail!("{reference} is a single-platform image for {actual}, not {wanted}");
    }
    download_layers(&registry, &store, &image.layers)?;
    let record = ImageRecord {
        name: reference.name(),
        tag: reference.tag.clone().filter(|_| reference.digest.is_none()),
        manifest_digest,
        index_digest,
        config_digest: image.config.digest.clone(),
        layers: image.layers,
        platform: actual,
        created: config["created"].as_str().map(str::to_string),
    };
    store.record(record.clone())?;
    Ok(record)
}

/// The image manifest for `wanted`, following an index if there is one; every
/// manifest's raw bytes are hashed and must match the digest that named them.
/// Returns (index digest if any, image manifest digest, image manifest).
fn fetch_image_manifest(
    registry: &Registry,
    store: &Store,
    reference: &ImageRef,
    wanted: &Platform,
    protocol: &Protocol,
) -> Result<(Option<Digest>, Digest, ImageManifest)> {
    let (bytes, content_type, header_digest) = registry.manifest(&reference.version())?;
    let digest = Digest::sha256_of(&bytes);
    if let Some(expected) = reference.digest.as_ref().or(header_digest.as_ref()) {
        if *expected != digest {
            bail!("the manifest of {reference} hashes to {digest}, not {expected}: refused");
        }
    }
    store.write_bytes(&digest, &bytes)?;
    match manifest::parse(&bytes, content_type.as_deref())? {
        Manifest::Image(image) => Ok((None, digest, image)),
        Manifest::Index(list) => {
            let chosen = (protocol.select_manifest)(&list, wanted)
                .ok_or_else(|| no_platform(reference, wanted, &list))?
                .clone();
            check_supported(&chosen.digest)?;
            let (bytes, content_type, _) = registry.manifest(&chosen.digest.to_string())?;
            if bytes.len() as u64 != chosen.size {
                bail!(
                    "the {wanted} manifest of {reference} is {} bytes, not the {} its index says: refused",
                    bytes.len(),
                    chosen.size
                );
            }
            if Digest::sha256_of(&bytes) != chosen.digest {
                bail!(
                    "the {wanted} manifest of {reference} does not hash to {}: refused",
                    chosen.digest
                );
            }
            store.write_bytes(&chosen.digest, &bytes)?;
            match manifest::parse(&bytes, content_type.as_deref())? {
                Manifest::Image(image) => Ok((Some(digest), chosen.digest, image)),
                Manifest::Index(_) => bail!("the index of {reference} points to another index"),
            }
        }
    }
}

fn no_platform(reference: &ImageRef, wanted: &Platform, list: &[Descriptor]) -> anyhow::Error {
    let available: Vec<String> = list
        .iter()
        .filter_map(|d| d.platform.as_ref().map(|p| p.to_string()))
        .collect();
    anyhow!(
        "{reference} has no image for {wanted}; it has: {}",
        available.join(", ")
    )
}

fn fetch_blob_small(
    registry: &Registry,
    store: &Store,
    descriptor: &Descriptor,
) -> Result<Vec<u8>> {
    if descriptor.size > MAX_CONFIG_BYTES {
        bail!(
            "the image config {} is {} bytes, over the {} MiB mini-docker accepts: refused",
            descriptor.digest,
            descriptor.size,
            MAX_CONFIG_BYTES >> 20
        );
    }
    if !store.has_blob(&descriptor.digest) {
        store.write_blob(descriptor, registry.blob(&descriptor.digest)?, &|_| {})?;
    }
    store.read_blob(&descriptor.digest)
}

/// Missing layers download in parallel, each verified as it streams in. A
/// layer the manifest lists twice (the same bytes) downloads once.
fn download_layers(registry: &Registry, store: &Store, layers: &[Descriptor]) -> Result<()> {
    let progress = Progress::new();
    let mut seen = std::collections::HashSet::new();
    let missing: Vec<&Descriptor> = layers
        .iter()
        .filter(|layer| seen.insert(&layer.digest))
        .filter(|layer| {
            let present = store.has_blob(&layer.digest);
            if present {
                progress.note(&layer.digest, "already exists");
            }
            !present
        })
        .collect();
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL.min(missing.len()) {
            scope.spawn(|| {
                while let Some(layer) = missing.get(next.fetch_add(1, Ordering::SeqCst)) {
                    if failure.lock().unwrap().is_some() {
                        return;
                    }
                    if let Err(e) = download(registry, store, layer, &progress) {
                        failure.lock().unwrap().get_or_insert(e);
                    }
                }
            });
        }
    });
    match failure.into_inner().unwrap() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn download(
    registry: &Registry,
    store: &Store,
    layer: &Descriptor,
    progress: &Progress,
) -> Result<()> {
    let bar = progress.bar(&layer.digest, layer.size);
    let result = registry
        .blob(&layer.digest)
        .and_then(|body| store.write_blob(layer, body, &|n| bar.inc(n)));
    match &result {
        Ok(()) => progress.finish(&bar, &layer.digest, "pulled"),
        Err(_) => progress.finish(&bar, &layer.digest, "failed"),
    }
    result
}

/// A bar per layer on a terminal; plain lines otherwise (CI logs, pipes).
struct Progress {
    bars: Option<MultiProgress>,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            bars: std::io::stderr().is_terminal().then(MultiProgress::new),
        }
    }

    fn bar(&self, digest: &Digest, size: u64) -> ProgressBar {
        match &self.bars {
            Some(bars) => {
                let bar = bars.add(ProgressBar::new(size));
                let style =
                    ProgressStyle::with_template("{prefix} [{bar:30}] {bytes}/{total_bytes} {msg}")
                        .expect("valid template");
                bar.set_style(style.progress_chars("=> "));
                bar.set_prefix(digest.short().to_string());
                bar
            }
            None => {
                eprintln!("{}: downloading ({size} bytes)", digest.short());
                ProgressBar::hidden()
            }
        }
    }

    fn finish(&self, bar: &ProgressBar, digest: &Digest, what: &str) {
        match &self.bars {
            Some(_) => bar.finish_with_message(what.to_string()),
            None => eprintln!("{}: {what}", digest.short()),
        }
    }

    fn note(&self, digest: &Digest, what: &str) {
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(format!("{}: {what}", digest.short()));
            }
            None => eprintln!("{}: {what}", digest.short()),
        }
    }
}
