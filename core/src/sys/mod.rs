//! The few system interfaces the scaffold wraps itself: in-root path
//! resolution and `*at()` calls (`at`), flock(2) locks (`lock`), random ids.
//! Every `unsafe` block in here says why it is sound (SAFETY).

pub mod at;
pub mod lock;

/// `bytes` random bytes as lowercase hex, from getrandom(2). Ids name
/// containers and temporary files, so a failure is an error, never zeros.
pub fn random_hex(bytes: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; bytes];
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: the pointer and length describe `rest`, which we own.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        match n {
            n if n > 0 => filled += n as usize,
            _ if nix::errno::Errno::last() == nix::errno::Errno::EINTR => {}
            _ => anyhow::bail!("getrandom: {}", std::io::Error::last_os_error()),
        }
    }
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// A new container id: 64 hex digits (256 random bits), like docker's.
/// Where a name must stay short (a hostname, a column of `ps`) it is cut
/// to `short_id`'s 12.
pub fn new_id() -> anyhow::Result<String> {
    random_hex(32)
}

/// The 12 hex digits docker shows of an id (the default hostname, `ps`).
pub fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// A number below `n` (n > 0) from getrandom(2); the bias of the modulo is
/// nothing next to 2^32 for the small `n` it is used with (word lists).
pub fn random_below(n: usize) -> anyhow::Result<usize> {
    let hex = random_hex(4)?;
    let value = u32::from_str_radix(&hex, 16)?;
    Ok(value as usize % n.max(1))
}
