//! From a pulled image to a container's filesystem: unpack each layer (once,
//! shared by every container), and give the container its own upper and work
//! directories. The overlay itself is mounted by the container's init, inside
//! its own mount namespace, so it vanishes with the container.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::digest::Digest;
use super::layer::{self, Caps};
use super::store::{check_supported, ImageRecord, Store};

/// What the init needs to mount the container's root.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Overlay {
    /// The directory the short lower paths are relative to (the init chdirs there).
    pub layers_dir: PathBuf,
    /// `l/<id>` per layer, top layer first (overlayfs's order), under the
    /// mount-point layer (`mountpoints-<id>`, see mount_point_layer.rs).
    pub lowers: Vec<String>,
    pub upper: PathBuf,
    pub work: PathBuf,
    /// Where the overlay is mounted: `STATE_DIR/mnt`, one directory for every
    /// container (see `mount_point`).
    pub merged: PathBuf,
    /// `--rm`: the upper is thrown away at exit, so overlayfs need not sync
    /// it (mount option `volatile`; without it every unmount is a syncfs(2)).
    pub volatile: bool,
}

/// The parts of the image config `run` honours.
#[derive(Clone, Debug, Default)]
pub struct ImageConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
}

/// The image config's run settings and its diff_ids (each a valid digest, or an error).
pub fn image_config(store: &Store, image: &ImageRecord) -> Result<(ImageConfig, Vec<Digest>)> {
    let config: serde_json::Value = serde_json::from_slice(&store.read_blob(&image.config_digest)?)
        .context("parse the image config")?;
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let c = &config["config"];
    let text = |v: &serde_json::Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let parsed = ImageConfig {
        entrypoint: strings(&c["Entrypoint"]),
        cmd: strings(&c["Cmd"]),
        env: strings(&c["Env"]),
        working_dir: text(&c["WorkingDir"]),
        user: text(&c["User"]),
    };
    let diff_ids = config["rootfs"]["diff_ids"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, id)| {
            serde_json::from_value::<Digest>(id.clone())
                .with_context(|| format!("the image config's rootfs.diff_ids[{i}]"))
        })
        .collect::<Result<Vec<_>>>()?;
    for diff_id in &diff_ids {
        check_supported(diff_id)?;
    }
    Ok((parsed, diff_ids))
}

/// Unpack every layer of `image` (once: present ones are skipped); returns
/// the short lower paths, top layer first, and the image config.
pub fn unpack_layers(
    state_dir: &Path,
    image: &ImageRecord,
    shift: Option<layer::IdShift>,
    whiteout: layer::WhiteoutRule,
    apply_whiteout: layer::ApplyWhiteout,
) -> Result<(Vec<String>, ImageConfig)> {
    let store = Store::open(state_dir)?;
    let (config, diff_ids) = image_config(&store, image)?;
    if diff_ids.len() != image.layers.len() {
        bail!(
            "the image config lists {} diff_ids for {} layers: refused",
            diff_ids.len(),
            image.layers.len()
        );
    }
    let layers_dir = layer::layers_dir(state_dir);
    fs::create_dir_all(layers_dir.join("l"))?;
    let caps = Caps {
        shift,
        ..Caps::from_env(whiteout, apply_whiteout)
    };
    let mut lowers = Vec::new();
    for (descriptor, diff_id) in image.layers.iter().zip(&diff_ids) {
        let dir = layer::unpack(
            state_dir,
            &store,
            &descriptor.digest,
            &descriptor.media_type,
            diff_id,
            caps,
        )?;
        lowers.push(short_link(&layers_dir, &dir)?);
    }
    lowers.reverse(); // overlayfs wants the top layer first
                      // A layer listed twice (the same bytes): overlayfs refuses a lower dir
                      // twice, and the upper copy hides everything the lower one shows, so
                      // keeping only the topmost gives the same view.
    let mut seen = std::collections::HashSet::new();
    lowers.retain(|lower| seen.insert(lower.clone()));
    Ok((lowers, config))
}

/// The directory every container's overlay is mounted on. Each container
/// mounts it in its own mount namespace, so the mounts never meet, and the
/// host's view of it stays an empty directory. One directory, made once:
/// a directory per container is one more inode for ext4 to allocate at each
/// start and free at each exit (with the `discard` mount option, that free
/// waits for the disk).
pub fn mount_point(state_dir: &Path) -> Result<PathBuf> {
    let dir = state_dir.join("mnt");
    fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir)
}

/// Unpack the image's layers (verified against the config's diff_ids) and
/// make the container's upper and work directories under `container_dir`.
/// `volatile`: the container is thrown away at exit (`--rm`).
pub fn prepare(
    state_dir: &Path,
    image: &ImageRecord,
    container_dir: &Path,
    shift: Option<layer::IdShift>,
    volatile: bool,
    whiteout: layer::WhiteoutRule,
    apply_whiteout: layer::ApplyWhiteout,
) -> Result<(Overlay, ImageConfig)> {
    let (mut lowers, config) = unpack_layers(state_dir, image, shift, whiteout, apply_whiteout)?;
    let layers_dir = layer::layers_dir(state_dir);
    // The mount points the image lacks, in a shared layer on top: the
    // container's own writable layer starts (and, for /bin/true, stays) empty.
    lowers.insert(
        0,
        super::mount_point_layer::ensure(&layers_dir, &lowers, shift)?,
    );
    for sub in ["upper", "work"] {
        fs::create_dir_all(container_dir.join(sub)).with_context(|| format!("create {sub} dir"))?;
        if let Some(s) = shift {
            // The container's root (host uid s.uid) writes here.
            std::os::unix::fs::chown(container_dir.join(sub), Some(s.uid), Some(s.gid))?;
        }
    }
    if shift.is_some() {
        // Its mapped root must reach upper/work through this directory.
        fs::set_permissions(
            container_dir,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )?;
    }
    let overlay = Overlay {
        layers_dir,
        lowers,
        upper: container_dir.join("upper"),
        work: container_dir.join("work"),
        merged: mount_point(state_dir)?,
        volatile,
    };
    Ok((overlay, config))
}

/// `l/<12 hex>` -> the layer dir: mount options are limited to one page, and
/// full paths of many layers would not fit (docker's overlay2 does the same).
fn short_link(layers_dir: &Path, dir: &Path) -> Result<String> {
    let name = dir.file_name().context("layer dir")?.to_string_lossy();
    // 12 hex digits of the diff_id, and the id shift if any (`-u100000`).
    let suffix = name
        .split_once('-')
        .map(|(_, s)| format!("-{s}"))
        .unwrap_or_default();
    let short = format!("l/{}{suffix}", &name[..12.min(name.len())]);
    let link = layers_dir.join(&short);
    if fs::symlink_metadata(&link).is_err() {
        // A random part too: pids repeat across PID namespaces (a check's sandbox).
        let temp = layers_dir.join(format!(
            "l/.tmp-{}-{}-{}",
            &name[..12.min(name.len())],
            std::process::id(),
            crate::sys::random_hex(4)?
        ));
        let _ = fs::remove_file(&temp);
        symlink(format!("../{name}"), &temp)?;
        fs::rename(&temp, &link)?; // atomic: concurrent containers may race here
    }
    Ok(short)
}
