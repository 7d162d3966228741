//! Which chapters come from `solutions/` (the reference) and which from `exercises/`.
//!
//! `--reference` = every chapter from the reference; `--reference=1-4` = chapters 1..=4
//! from the reference, the rest from the learner's exercises.

use std::fmt;

use anyhow::{bail, Result};

/// The highest chapter number this build knows.
pub const LAST_CHAPTER: u8 = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Selection {
    /// Bit n set = chapter n runs the reference solution.
    reference_mask: u32,
}

impl Selection {
    pub fn exercises_only() -> Self {
        Selection { reference_mask: 0 }
    }

    pub fn all_reference() -> Self {
        Selection {
            reference_mask: u32::MAX,
        }
    }

    /// Parse `all`, `N`, `N-M` or a comma list of those (`1-3,5`).
    pub fn parse(spec: &str) -> Result<Self> {
        let spec = spec.trim();
        if spec.is_empty() || spec == "all" {
            return Ok(Self::all_reference());
        }
        let mut mask = 0u32;
        for part in spec.split(',') {
            let (lo, hi) = match part.split_once('-') {
                Some((lo, hi)) => (parse_chapter(lo, spec)?, parse_chapter(hi, spec)?),
                None => (parse_chapter(part, spec)?, parse_chapter(part, spec)?),
            };
            if lo > hi {
                bail!("--reference={spec}: range {lo}-{hi} runs backwards");
            }
            for ch in lo..=hi {
                mask |= 1 << ch;
            }
        }
        Ok(Selection {
            reference_mask: mask,
        })
    }

    /// These chapters from the reference, the rest from the exercises.
    pub fn of(chapters: &[u8]) -> Self {
        let mask = chapters
            .iter()
            .filter(|&&ch| ch < 32)
            .fold(0u32, |mask, &ch| mask | 1 << ch);
        Selection {
            reference_mask: mask,
        }
    }

    pub fn is_reference(&self, chapter: u8) -> bool {
        self.reference_mask & (1 << chapter) != 0
    }

    /// The `--reference=...` argument that reproduces this selection, if any.
    pub fn to_arg(self) -> Option<String> {
        if self.reference_mask == 0 {
            return None;
        }
        if self.reference_mask == u32::MAX {
            return Some("--reference=all".into());
        }
        Some(format!("--reference={}", self.ranges().join(",")))
    }

    /// The chapters from the reference as ranges: ["1-3", "5"].
    fn ranges(self) -> Vec<String> {
        let chapters: Vec<u8> = (1..=31u8).filter(|&ch| self.is_reference(ch)).collect();
        let mut ranges: Vec<(u8, u8)> = Vec::new();
        for ch in chapters {
            match ranges.last_mut() {
                Some((_, hi)) if *hi + 1 == ch => *hi = ch,
                _ => ranges.push((ch, ch)),
            }
        }
        ranges
            .into_iter()
            .map(|(lo, hi)| match lo == hi {
                true => lo.to_string(),
                false => format!("{lo}-{hi}"),
            })
            .collect()
    }
}

fn parse_chapter(text: &str, spec: &str) -> Result<u8> {
    match text.trim().parse::<u8>() {
        Ok(n) if (1..=30).contains(&n) => Ok(n),
        _ => bail!("--reference={spec}: expected chapter numbers like 3 or 1-4, got {text:?}"),
    }
}

impl fmt::Display for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = |ch: u8| {
            if self.is_reference(ch) {
                "reference"
            } else {
                "exercise"
            }
        };
        let parts: Vec<String> = (1..=LAST_CHAPTER)
            .map(|ch| format!("{ch}:{}", label(ch)))
            .collect();
        write!(f, "{}", parts.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_and_lists() {
        let s = Selection::parse("1-3,5").unwrap();
        assert!(s.is_reference(1) && s.is_reference(3) && s.is_reference(5));
        assert!(!s.is_reference(4));
        assert_eq!(Selection::parse(&s.to_arg().unwrap()[12..]).unwrap(), s);
        assert!(Selection::parse("all").unwrap().is_reference(9));
        assert_eq!(
            Selection::of(&[1, 2, 3, 5, 7, 8]).to_arg().unwrap(),
            "--reference=1-3,5,7-8"
        );
    }

    #[test]
    fn rejects_nonsense() {
        for bad in ["0", "x", "4-2", "1-", "99"] {
            assert!(Selection::parse(bad).is_err(), "{bad}");
        }
    }
}
