//! Mutant: only `.wh..wh.X` is refused: `.wh.` alone, `.wh..` and `.wh...`
//! become Remove(""), Remove("."), Remove("..").
use anyhow::{bail, Result};
use mini_docker::image::layer::Whiteout;

pub fn whiteout(name: &str) -> Result<Option<Whiteout>> {
    let Some(rest) = name.strip_prefix(".wh.") else {
        return Ok(None);
    };
    match rest {
        ".wh..opq" => Ok(Some(Whiteout::Opaque)),
        _ if rest.starts_with(".wh.") => bail!("malformed whiteout {name:?}"),
        _ => Ok(Some(Whiteout::Remove(rest.to_string()))),
    }
}
