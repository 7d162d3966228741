//! A content digest, `algorithm:hex`, checked once where it enters.
//!
//! Digests come from the network (manifests, indexes, image configs, the
//! `@digest` of a reference) and become file names in the store, URLs and log
//! lines. An unchecked one is a path: `sha256:../../../../tmp/x.json` would
//! read a host file as the image config. So a digest is only ever held as a
//! `Digest`, and the only way to make one is to parse it: a known algorithm
//! and exactly as many lowercase hex digits as that algorithm's hash has.

use std::fmt;
use std::str::FromStr;

use anyhow::{bail, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// The hash functions the OCI image spec registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Sha256,
    /// Accepted by the grammar; the store verifies only sha256 and refuses it
    /// (see `Store::check_supported`).
    Sha512,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// How many hex digits a hash of this algorithm has.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// `sha256:<64 lowercase hex>` or `sha512:<128 lowercase hex>`; nothing else.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// The sha256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Digest {
        Digest {
            algorithm: Algorithm::Sha256,
            hex: format!("{:x}", Sha256::digest(bytes)),
        }
    }

    /// A finished sha256 hasher's digest.
    pub fn from_sha256(hasher: Sha256) -> Digest {
        Digest {
            algorithm: Algorithm::Sha256,
            hex: format!("{:x}", hasher.finalize()),
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The hex part: safe as a file name (only [0-9a-f], fixed length).
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The first 12 hex digits, like docker shows.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }
}

impl FromStr for Digest {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Digest> {
        // Quote with {:?} and cut long ones: a hostile value must not forge log lines.
        let shown = || {
            let cut: String = text.chars().take(80).collect();
            format!("{cut:?}{}", if cut.len() < text.len() { "…" } else { "" })
        };
        let Some((algorithm, hex)) = text.split_once(':') else {
            bail!("invalid digest {}: expected algorithm:hex", shown());
        };
        let algorithm = match algorithm {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => bail!(
                "invalid digest {}: unknown algorithm {:?} (sha256 or sha512)",
                shown(),
                algorithm.chars().take(20).collect::<String>()
            ),
        };
        let lowercase_hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
        if hex.len() != algorithm.hex_len() || !hex.chars().all(lowercase_hex) {
            bail!(
                "invalid digest {}: {} is {} lowercase hex digits",
                shown(),
                algorithm.name(),
                algorithm.hex_len()
            );
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_string(),
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

impl PartialEq<str> for Digest {
    fn eq(&self, other: &str) -> bool {
        other
            .split_once(':')
            .is_some_and(|(a, h)| a == self.algorithm.name() && h == self.hex)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Digest, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha256(hex: &str) -> String {
        format!("sha256:{hex}")
    }

    #[test]
    fn a_well_formed_digest_round_trips() {
        let text = sha256(&"ab".repeat(32));
        let digest: Digest = text.parse().unwrap();
        assert_eq!(digest.to_string(), text);
        assert_eq!(digest.short(), "abababababab");
        assert_eq!(digest.algorithm(), Algorithm::Sha256);
        let sha512 = format!("sha512:{}", "0f".repeat(64));
        assert_eq!(sha512.parse::<Digest>().unwrap().to_string(), sha512);
        assert_eq!(
            Digest::sha256_of(b"").to_string(),
            sha256("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
    }

    #[test]
    fn traversal_case_length_and_algorithm_are_refused() {
        let bad = [
            "sha256:../../../../tmp/x.json".to_string(),
            sha256(&"AB".repeat(32)),
            sha256(&"ab".repeat(31)),
            sha256(&"ab".repeat(33)),
            sha256(&format!("{}/x", "ab".repeat(31))),
            format!("sha512:{}", "ab".repeat(32)),
            format!("md5:{}", "ab".repeat(16)),
            format!("SHA256:{}", "ab".repeat(32)),
            "ab".repeat(32),
            String::new(),
            "sha256:".into(),
            format!("sha256:{}\n", "ab".repeat(32)),
        ];
        for text in bad {
            let err = text.parse::<Digest>().unwrap_err().to_string();
            assert!(err.starts_with("invalid digest"), "{text:?}: {err}");
        }
        let err = format!("md5:{}", "ab".repeat(16))
            .parse::<Digest>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown algorithm \"md5\""), "{err}");
    }

    #[test]
    fn serde_validates() {
        let good = format!("\"{}\"", sha256(&"0".repeat(64)));
        let digest: Digest = serde_json::from_str(&good).unwrap();
        assert_eq!(serde_json::to_string(&digest).unwrap(), good);
        let err = serde_json::from_str::<Digest>("\"sha256:../x\"").unwrap_err();
        assert!(err.to_string().contains("invalid digest"), "{err}");
    }
}
