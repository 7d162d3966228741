//! STATE_DIR/containers/ID: the files of one container, locked while it runs.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{names, placement};
use crate::sys::lock::FileLock;

/// The files of one container; removed when it ends, unless kept (`run`
/// without --rm keeps its writable layer, like docker).
pub struct ContainerDir {
    dir: PathBuf,
    keep: Cell<bool>,
    /// The name this container claimed, released with the directory.
    name: RefCell<Option<names::Claim>>,
    /// flock(2)ed while the container runs: a dir nobody holds a lock on
    /// belongs to a dead mini-docker (`prune_container_dirs`). The kernel
    /// drops the lock when we die, even by SIGKILL; no pid file to go stale.
    _running: FileLock,
}

impl ContainerDir {
    pub fn create(state_dir: &Path, id: &str) -> Result<ContainerDir> {
        let containers = state_dir.join("containers");
        let dir = containers.join(id);
        // 0710 (0700 rootless); the group is containers/'s, set-group-id.
        let create = || {
            std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), private_mode())
                .create(&dir)
        };
        let mut made = create();
        if matches!(&made, Err(e) if e.kind() == std::io::ErrorKind::NotFound) {
            // The first container of this state dir: where containers/ goes matters.
            placement::create_dir_apart(&containers)?;
            make_private(&containers, true);
            made = create();
        }
        // A container started again (`start`): its directory is not ours to
        // remove if this start fails before `settle` (its writable layer, its state).
        let existed = matches!(&made, Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists);
        if let Err(e) = made.or_else(already_there_is_fine) {
            return Err(e).with_context(|| format!("create {}", dir.display()));
        }
        let running = FileLock::try_directory(&dir)?
            .with_context(|| format!("{} is in use by another mini-docker", dir.display()))?;
        Ok(ContainerDir {
            dir,
            keep: Cell::new(existed),
            name: RefCell::new(None),
            _running: running,
        })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The container id (the directory's name).
    pub fn id(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// `sub`'s path if the directory goes when the container ends (for a
    /// caller that removes part of it early, on another thread).
    pub fn disposable(&self, sub: &str) -> Option<PathBuf> {
        (!self.keep.get()).then(|| self.dir.join(sub))
    }

    /// Claim `name` (unique per state dir), then decide whether the directory
    /// outlives the container. In this order: a refused name keeps nothing.
    pub fn settle(&self, keep: bool, name: Option<&str>) -> Result<()> {
        self.settle_named(keep, name, false).map(|_| ())
    }

    /// `settle`, and the name the container holds: `name`, else (`generate`,
    /// an image's container) the one it had before a `start`, else a new
    /// `adjective_surname`, as docker names every container.
    pub fn settle_named(
        &self,
        keep: bool,
        name: Option<&str>,
        generate: bool,
    ) -> Result<Option<String>> {
        let state_dir = self
            .dir
            .parent()
            .and_then(Path::parent)
            .context("state dir")?;
        let earlier = || {
            crate::lifecycle::state::read(&self.dir)
                .ok()
                .and_then(|s| s.name)
        };
        let name = match name.map(String::from) {
            Some(name) => Some(name),
            None if generate => earlier(),
            None => None,
        };
        let held = match name {
            Some(name) => Some((names::claim(state_dir, &name, &self.id())?, name)),
            None if generate => {
                let (name, claim) = names::claim_generated(state_dir, &self.id())?;
                Some((claim, name))
            }
            None => None,
        };
        let name = held.map(|(claim, name)| {
            *self.name.borrow_mut() = Some(claim);
            name
        });
        self.keep.set(keep);
        Ok(name)
    }
}

impl Drop for ContainerDir {
    fn drop(&mut self) {
        if !self.keep.get() {
            if let Some(claim) = self.name.borrow_mut().take() {
                claim.release();
            }
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn already_there_is_fine(e: std::io::Error) -> std::io::Result<()> {
    match e.kind() {
        std::io::ErrorKind::AlreadyExists => Ok(()),
        _ => Err(e),
    }
}

/// Remove the dirs of containers whose mini-docker is gone (killed with
/// SIGKILL, or a kept container's): nobody holds their lock. Their names go too.
pub fn prune_container_dirs(state_dir: &Path) {
    placement::remove_leftovers(state_dir);
    let Ok(entries) = std::fs::read_dir(state_dir.join("containers")) else {
        return;
    };
    for entry in entries.flatten() {
        if let Ok(Some(_free)) = FileLock::try_directory(&entry.path()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    names::forget_removed(state_dir);
}

/// 0710 as root (the group: see `make_state_dir_private`), 0700 rootless.
fn private_mode() -> u32 {
    if nix::unistd::geteuid().is_root() {
        0o710
    } else {
        0o700
    }
}

/// `dir` private, group the remapped root's. `inherit`: set-group-id, so the
/// directories made in it get that group too (a container's own directory,
/// which `--userns`'s root must traverse to its layers) at no extra cost.
fn make_private(dir: &Path, inherit: bool) {
    use std::os::unix::fs::PermissionsExt;
    let root = nix::unistd::geteuid().is_root();
    if root {
        let gid = crate::userns::IdMap::remapped_root().host_gid;
        let _ = std::os::unix::fs::chown(dir, None, Some(gid));
    }
    let setgid = if root && inherit { 0o2000 } else { 0 };
    let mode = private_mode() | setgid;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode));
}

/// The state dir is private, like docker's /var/lib/docker (0710): other
/// host users must not reach a container's writable layer (a setuid-root
/// file the container made there would be theirs to run) or the starter
/// rootfs's world-writable /tmp. As root the group is the one `--userns`
/// maps the container's root to: that uid must still traverse it to the
/// layers and rootfs; rootless, the mapped uid is our own (0700).
/// Best effort: a state dir we do not own is left as it is.
pub fn make_state_dir_private(state_dir: &Path) {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let mode = private_mode();
    if let Some(parent) = state_dir.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    // Made here: 0700 until make_private sets its group, then its mode.
    let made = std::fs::DirBuilder::new().mode(0o700).create(state_dir);
    let Ok(meta) = std::fs::metadata(state_dir) else {
        return;
    };
    let ours = meta.uid() == nix::unistd::geteuid().as_raw();
    if !ours || (made.is_err() && meta.mode() & 0o7777 == mode) {
        return; // not ours, or private already (the group was set with the mode)
    }
    make_private(state_dir, false);
    // A state dir from before: its containers/ too (see ContainerDir::create).
    if state_dir.join("containers").is_dir() {
        make_private(&state_dir.join("containers"), true);
    }
}
