//! The container's root and command: a rootfs directory (chapters 2-9) or an
//! image (chapter 10 on, `run IMAGE`), and what the image config asks for.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::config::merge_env;
use super::container_dir::ContainerDir;
use crate::userns::IdMap;
use crate::workshop::Steps;

/// What a container runs in: a rootfs directory (chapters 2-9) or an image (10).
pub enum Target {
    Rootfs {
        rootfs: Option<PathBuf>,
        command: Vec<String>,
    },
    Image {
        image: String,
        command: Vec<String>,
        options: ImageRunOptions,
    },
}

/// The `run` flags that only make sense with an image.
#[derive(Default, Clone)]
pub struct ImageRunOptions {
    /// Remove the container's writable layer when it exits
    pub rm: bool,
    /// A name for the container (unique)
    pub name: Option<String>,
    /// Set an environment variable (K=V, or K to copy it from here)
    pub env: Vec<String>,
    /// Working directory inside the container
    pub workdir: Option<String>,
    /// User to run as: uid[:gid] or name[:group]
    pub user: Option<String>,
    /// Keep stdin attached (otherwise it is /dev/null, like docker)
    pub interactive: bool,
    /// A terminal for the container (with -i: an interactive shell; Ctrl-C and job control work)
    pub tty: bool,
    /// Platform to pull if the image is missing
    pub platform: Option<crate::image::platform::Platform>,
    /// Replace the image's Entrypoint (and with it its Cmd); "" clears it
    pub entrypoint: Option<String>,
}

/// `chapter N run -- sh` typed at a terminal: a shell with a prompt and job
/// control needs a terminal, but never the caller's (a container could type
/// into it with TIOCSTI). From chapter 5 the container has a devpts of its
/// own, so it gets a pty there, like `run -it`; piped stdio stays piped.
fn wants_a_terminal(chapter: u8) -> bool {
    use std::io::IsTerminal;
    chapter >= 5 && std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// The container's root and command, ready for the config.
pub struct Prepared {
    pub rootfs: Option<PathBuf>,
    pub overlay: Option<crate::image::container::Overlay>,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub stdin_null: bool,
    pub tty: bool,
    pub interactive: bool,
    pub keep: bool,
    pub name: Option<String>,
}

pub fn prepare_root(
    chapter: u8,
    target: Target,
    state_dir: &Path,
    container_dir: Option<&ContainerDir>,
    userns: Option<&IdMap>,
    steps: &Steps,
) -> Result<Prepared> {
    match target {
        Target::Rootfs { rootfs, command } => {
            let rootfs = match (chapter, rootfs) {
                (1, _) => None,
                (_, Some(dir)) => Some(
                    dir.canonicalize()
                        .with_context(|| format!("rootfs {}", dir.display()))?,
                ),
                (_, None) => Some(crate::rootfs::starter(state_dir)?),
            };
            if let Some(dir) = rootfs.as_ref().filter(|d| !d.is_dir()) {
                bail!("rootfs {} is not a directory", dir.display());
            }
            Ok(Prepared {
                rootfs,
                overlay: None,
                argv: command,
                env: Vec::new(),
                workdir: None,
                user: None,
                stdin_null: false,
                tty: wants_a_terminal(chapter),
                interactive: true,
                keep: false,
                name: None,
            })
        }
        Target::Image {
            image,
            command,
            options,
        } => {
            let record = find_or_pull(state_dir, &image, options.platform.clone(), steps)?;
            let dir = container_dir.context("an image needs a container directory")?;
            // --userns: layers unpacked with owners in the namespace's range (docker's userns-remap).
            let shift = userns.map(|m| crate::image::layer::IdShift {
                uid: m.host_uid,
                gid: m.host_gid,
                count: m.count,
            });
            let (overlay, config) = crate::image::container::prepare(
                state_dir,
                &record,
                dir.path(),
                shift,
                options.rm,
                steps.ch10_layers.whiteout,
                steps.ch10_layers.apply_whiteout,
            )?;
            // --entrypoint replaces the image's and drops its Cmd, as docker does.
            let (entrypoint, default_cmd) = match options.entrypoint.as_deref() {
                None => (config.entrypoint.clone(), config.cmd.clone()),
                Some("") => (Vec::new(), Vec::new()),
                Some(first) => (vec![first.to_string()], Vec::new()),
            };
            let mut argv = entrypoint;
            argv.extend(if command.is_empty() {
                default_cmd
            } else {
                command
            });
            if argv.is_empty() {
                bail!("{image} has no Entrypoint or Cmd: give a command");
            }
            let mut env: Vec<(String, String)> = config
                .env
                .iter()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.into(), v.into()))
                .collect();
            for item in &options.env {
                let pair = match item.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (item.clone(), std::env::var(item).unwrap_or_default()),
                };
                merge_env(&mut env, &[pair]);
            }
            Ok(Prepared {
                rootfs: Some(overlay.merged.clone()),
                overlay: Some(overlay),
                argv,
                env,
                workdir: options.workdir.or(config.working_dir),
                user: options.user.or(config.user),
                stdin_null: !options.interactive && !options.tty,
                tty: options.tty,
                interactive: options.interactive,
                keep: !options.rm,
                name: options.name,
            })
        }
    }
}

/// The image in the store, pulled first if it is not there (like docker run).
pub fn find_or_pull(
    state_dir: &Path,
    text: &str,
    platform: Option<crate::image::platform::Platform>,
    steps: &Steps,
) -> Result<crate::image::store::ImageRecord> {
    let protocol = steps.pull_protocol();
    let reference = protocol.resolve(text)?;
    let key = match &reference.digest {
        Some(d) => format!("{}@{d}", reference.name()),
        None => format!(
            "{}:{}",
            reference.name(),
            reference.tag.as_deref().unwrap_or("latest")
        ),
    };
    let store = crate::image::store::Store::open(state_dir)?;
    if let Some(record) = store.images()?.remove(&key) {
        return Ok(record);
    }
    eprintln!("mini-docker: {key} not here, pulling");
    crate::image::pull::pull(state_dir, text, platform, &protocol)
}
