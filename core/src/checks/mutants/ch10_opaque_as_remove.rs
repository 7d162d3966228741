//! Mutant: no special case for the opaque marker: `.wh..wh..opq` is read as
//! "remove the file named .wh..opq", and the lower directory shows through.
use anyhow::{bail, Result};
use mini_docker::image::layer::Whiteout;

pub fn whiteout(name: &str) -> Result<Option<Whiteout>> {
    let Some(rest) = name.strip_prefix(".wh.") else {
        return Ok(None);
    };
    match rest {
        "" | "." | ".." => bail!("malformed whiteout {name:?}"),
        _ => Ok(Some(Whiteout::Remove(rest.to_string()))),
    }
}
