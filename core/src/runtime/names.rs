//! `--name`: STATE_DIR/names/NAME holds the id of the container that has it.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

/// A name this container holds; `release` gives it back.
pub struct Claim(PathBuf);

impl Claim {
    pub fn release(self) {
        let _ = std::fs::remove_file(self.0);
    }
}

/// Letters, digits, `_ . -`, starting with a letter or digit (docker's rule).
pub fn validate(name: &str) -> Result<()> {
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !first_ok || !rest_ok || name.len() > 128 {
        bail!("--name {name:?}: letters, digits, _ . - (starting with a letter or digit)");
    }
    Ok(())
}

/// Take `name` for container `id`; refused if another container has it.
pub fn claim(state_dir: &Path, name: &str, id: &str) -> Result<Claim> {
    validate(name)?;
    let names = state_dir.join("names");
    std::fs::create_dir_all(&names)?;
    let file = names.join(name);
    // create_new: two containers racing for one name cannot both win.
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&file)
    {
        Ok(mut f) => f.write_all(id.as_bytes())?,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let other = std::fs::read_to_string(&file).unwrap_or_default();
            if other.trim() == id {
                return Ok(Claim(file)); // `start` again: the name is its own
            }
            bail!(
                "Conflict. The container name \"/{name}\" is already in use by container \"{}\". \
                 You have to remove (or rename) that container to be able to reuse that name.",
                other.trim()
            )
        }
        Err(e) => return Err(e.into()),
    }
    Ok(Claim(file))
}

/// Drop the names whose container directory is gone (after a prune).
pub fn forget_removed(state_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(state_dir.join("names")) else {
        return;
    };
    for entry in entries.flatten() {
        let id = std::fs::read_to_string(entry.path()).unwrap_or_default();
        let alive = !id.is_empty() && state_dir.join("containers").join(id.trim()).is_dir();
        if !alive {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
