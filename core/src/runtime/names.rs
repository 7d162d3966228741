//! `--name`: STATE_DIR/names/NAME holds the id of the container that has it.
//! A container run without one gets `adjective_surname`, as docker's do.

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

/// Two short lists of our own: 50 x 50 = 2500 names, enough that a
/// collision (retried) is rare on a workshop machine.
const ADJECTIVES: [&str; 50] = [
    "agile", "amber", "bold", "brave", "breezy", "bright", "calm", "clever", "cosmic", "crisp",
    "curious", "daring", "deft", "eager", "epic", "fancy", "fearless", "fond", "frosty", "gentle",
    "glad", "golden", "happy", "humble", "jolly", "keen", "kind", "lively", "lucid", "lunar",
    "mellow", "merry", "mighty", "nimble", "noble", "patient", "plucky", "polite", "proud",
    "quick", "quiet", "rapid", "serene", "shiny", "snappy", "steady", "sunny", "swift", "tidy",
    "witty",
];

/// Surnames of people who made computing and the sciences it stands on.
const SURNAMES: [&str; 50] = [
    "abel",
    "ada",
    "babbage",
    "backus",
    "bernoulli",
    "boole",
    "cantor",
    "cerf",
    "church",
    "codd",
    "conway",
    "cray",
    "dijkstra",
    "eckert",
    "euclid",
    "euler",
    "fermat",
    "floyd",
    "gauss",
    "godel",
    "hamming",
    "hilbert",
    "hoare",
    "hopper",
    "huffman",
    "kahan",
    "kay",
    "knuth",
    "lamport",
    "leibniz",
    "liskov",
    "lovelace",
    "mccarthy",
    "minsky",
    "napier",
    "neumann",
    "noether",
    "pascal",
    "perlis",
    "postel",
    "ritchie",
    "shannon",
    "stroustrup",
    "tarjan",
    "thompson",
    "torvalds",
    "turing",
    "wirth",
    "yao",
    "zuse",
];

/// A random `adjective_surname`; after many collisions a digit is added
/// (docker does the same), so a full list still yields a name.
fn random_name(attempt: usize) -> Result<String> {
    let adjective = ADJECTIVES[crate::sys::random_below(ADJECTIVES.len())?];
    let surname = SURNAMES[crate::sys::random_below(SURNAMES.len())?];
    Ok(match attempt {
        0..=9 => format!("{adjective}_{surname}"),
        _ => format!("{adjective}_{surname}{}", crate::sys::random_below(10)?),
    })
}

/// Claim a generated name for `id`: another container may hold the one
/// drawn (or take it at the same moment: `claim` is create_new), so draw again.
pub fn claim_generated(state_dir: &Path, id: &str) -> Result<(String, Claim)> {
    for attempt in 0..100 {
        let name = random_name(attempt)?;
        if state_dir.join("names").join(&name).exists() {
            continue;
        }
        if let Ok(claim) = claim(state_dir, &name, id) {
            return Ok((name, claim));
        }
    }
    bail!("no free container name after 100 tries: remove some containers (or give --name)")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_are_valid_and_distinct_while_held() {
        let state_dir = std::env::temp_dir().join(format!("md-names-{}", std::process::id()));
        let mut held = std::collections::HashSet::new();
        // More claims than adjectives or surnames alone: collisions must be retried.
        for n in 0..300 {
            let (name, _claim) = claim_generated(&state_dir, &format!("id{n}")).unwrap();
            validate(&name).unwrap();
            assert!(name.contains('_'), "{name}");
            assert!(held.insert(name.clone()), "{name} given twice");
        }
        std::fs::remove_dir_all(&state_dir).unwrap();
    }

    #[test]
    fn the_word_lists_are_valid_name_parts_without_repeats() {
        for list in [&ADJECTIVES[..], &SURNAMES[..]] {
            let unique: std::collections::HashSet<_> = list.iter().collect();
            assert_eq!(unique.len(), list.len());
            assert!(list
                .iter()
                .all(|w| w.chars().all(|c| c.is_ascii_lowercase())));
        }
    }
}
