//! Mutant: `.wh.` and `.wh..` are refused, `.wh...` is not: Remove("..")
//! would make the unpacker empty the directory above the whiteout's. The
//! scaffold refuses such a name itself (image/layer.rs apply_whiteout).
use anyhow::{bail, Result};
use mini_docker::image::layer::Whiteout;

pub fn whiteout(name: &str) -> Result<Option<Whiteout>> {
    let Some(rest) = name.strip_prefix(".wh.") else {
        return Ok(None);
    };
    match rest {
        ".wh..opq" => Ok(Some(Whiteout::Opaque)),
        "" | "." => bail!("malformed whiteout {name:?}"),
        _ if rest.starts_with(".wh.") => bail!("malformed whiteout {name:?}"),
        _ => Ok(Some(Whiteout::Remove(rest.to_string()))),
    }
}
