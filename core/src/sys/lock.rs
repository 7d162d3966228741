//! flock(2) locks on files and directories under the state dir.
//!
//! A lock lives as long as its open file: the kernel drops it when the file
//! is closed — also when the holder dies, even by SIGKILL — so a lock can
//! never go stale the way a pid file can.

use std::fs::{File, OpenOptions};
use std::path::Path;

use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};

/// Held until dropped.
pub struct FileLock {
    _held: Flock<File>,
}

impl FileLock {
    /// Wait for an exclusive lock on `path` (made, with its parents, if missing).
    pub fn exclusive(path: &Path) -> Result<FileLock> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("create {}", parent.display()))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .with_context(|| format!("open {}", path.display()))?;
        let held = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| anyhow::anyhow!("lock {}: {e}", path.display()))?;
        Ok(FileLock { _held: held })
    }

    /// Wait for an exclusive lock on `path` in a directory that must exist:
    /// a directory removed meanwhile (`rm` of a container) is an error, not
    /// made again.
    pub fn exclusive_in_place(path: &Path) -> Result<FileLock> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .with_context(|| format!("open {}", path.display()))?;
        let held = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| anyhow::anyhow!("lock {}: {e}", path.display()))?;
        Ok(FileLock { _held: held })
    }

    /// An exclusive lock on the directory `dir` if nobody holds one now.
    pub fn try_directory(dir: &Path) -> Result<Option<FileLock>> {
        let file = File::open(dir).with_context(|| format!("open {}", dir.display()))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(held) => Ok(Some(FileLock { _held: held })),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, e)) => Err(anyhow::anyhow!("lock {}: {e}", dir.display())),
        }
    }
}
