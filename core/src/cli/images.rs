//! `pull`, `images`, `rmi` and `chapter 9 resolve`.

use std::path::Path;

use anyhow::Result;

use super::args::PullArgs;
use crate::image;
use crate::workshop::Steps;

pub fn pull(state_dir: &Path, args: PullArgs, steps: &Steps) -> Result<i32> {
    let record = image::pull::pull(
        state_dir,
        &args.image,
        args.platform,
        &steps.pull_protocol(),
    )?;
    if args.unpack {
        image::container::unpack_layers(
            state_dir,
            &record,
            None,
            steps.ch10_layers.whiteout,
            steps.ch10_layers.apply_whiteout,
        )?;
    }
    println!(
        "{} {} ({}, {})",
        record.key(),
        record.manifest_digest,
        record.platform,
        human_size(record.size())
    );
    Ok(0)
}

pub fn resolve(text: &str, steps: &Steps) -> Result<i32> {
    let r = steps.pull_protocol().resolve(text)?;
    println!("registry:   {}", r.registry);
    println!("repository: {}", r.repository);
    println!("tag:        {}", r.tag.as_deref().unwrap_or("-"));
    println!(
        "digest:     {}",
        r.digest.as_ref().map_or("-".to_string(), |d| d.to_string())
    );
    println!("endpoint:   {}", r.endpoint());
    println!("canonical:  {r}");
    Ok(0)
}

pub fn list(state_dir: &Path) -> Result<i32> {
    let store = image::store::Store::open(state_dir)?;
    println!(
        "{:<40} {:<16} {:<14} {:<22} {:>10}",
        "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"
    );
    for image in store.images()?.values() {
        let tag = image.tag.clone().unwrap_or_else(|| "<none>".into());
        let created = image
            .created
            .as_deref()
            .map(|c| c.get(..19).unwrap_or(c).replace('T', " "))
            .unwrap_or_default();
        let id = image.config_digest.short();
        println!(
            "{:<40} {:<16} {:<14} {:<22} {:>10}",
            image.name,
            tag,
            id,
            created,
            human_size(image.size())
        );
    }
    Ok(0)
}

pub fn remove(state_dir: &Path, images: &[String], steps: &Steps) -> Result<i32> {
    let store = image::store::Store::open(state_dir)?;
    for text in images {
        let r = steps.pull_protocol().resolve(text)?;
        let key = match &r.digest {
            Some(digest) => format!("{}@{digest}", r.name()),
            None => format!("{}:{}", r.name(), r.tag.as_deref().unwrap_or("latest")),
        };
        let deleted = store.remove(&key)?;
        println!("untagged {key}; deleted {deleted} blob(s) no other image uses");
    }
    Ok(0)
}

/// Compressed size, as a registry counts it.
fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1 << 20) as f64),
        b => format!("{:.1} KiB", b as f64 / 1024.0),
    }
}
