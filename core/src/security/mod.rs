//! Chapter 11's scaffold: docker's defaults as data, and the flags that
//! change them (`--cap-add`, `--cap-drop`, `--privileged`, `--read-only`,
//! `--tmpfs`, `--security-opt`). The learner's steps apply them inside the
//! container (exercises/ch11_hardening.rs); this module only decides *what*.

pub mod caps;
pub mod paths;
pub mod seccomp;
pub mod seccomp_layout;
pub mod seccomp_program;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// The flags, as typed (the CLI's `SecurityFlags`, as data).
#[derive(Clone, Debug, Default)]
pub struct SecurityOptions {
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub read_only: bool,
    pub tmpfs: Vec<String>,
    pub security_opt: Vec<String>,
}

impl SecurityOptions {
    /// Any flag a chapter before 11 cannot honour?
    pub fn any(&self) -> bool {
        !self.cap_add.is_empty()
            || !self.cap_drop.is_empty()
            || self.privileged
            || self.read_only
            || !self.tmpfs.is_empty()
            || !self.security_opt.is_empty()
    }
}

/// What the inside applies from chapter 11 on (sent in the container config).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Hardening {
    /// The capabilities the container keeps ("CAP_CHOWN", ...): bounding,
    /// permitted and effective for root; bounding only for a `-u` user.
    pub capabilities: Vec<String>,
    /// `--security-opt no-new-privileges`.
    pub no_new_privs: bool,
    /// Which seccomp profile (host side only; None = unconfined).
    #[serde(skip)]
    pub seccomp_choice: Option<seccomp::Choice>,
    /// The compiled filter the container loads (`compile_seccomp` fills it in).
    pub seccomp: Option<seccomp_program::BpfProgram>,
    /// Hidden: /dev/null over files, an empty read-only tmpfs over directories.
    pub masked_paths: Vec<String>,
    /// Bound read-only onto themselves.
    pub readonly_paths: Vec<String>,
    /// `--read-only`: the root filesystem itself.
    pub read_only_rootfs: bool,
    /// `--tmpfs PATH[:OPTIONS]`.
    pub tmpfs: Vec<Tmpfs>,
    /// `--privileged`: every capability, no seccomp, no masking, every device.
    pub privileged: bool,
    /// The container's own cgroupfs, as this host lays it out (read on the host).
    pub cgroupfs: crate::cgroups::CgroupFs,
}

/// `--tmpfs /run:size=64m,mode=1777`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tmpfs {
    pub path: String,
    /// Options for the tmpfs (size=, mode=, ...), docker's defaults added.
    pub options: String,
}

impl Hardening {
    /// Docker's defaults, changed by the flags.
    /// `in_user_namespace`: no v1 cgroup hierarchy can be mounted in there;
    /// `cpu_limited`: `--cpus` gives the container a cpu cgroup too (v1).
    pub fn from_options(
        opts: &SecurityOptions,
        in_user_namespace: bool,
        cpu_limited: bool,
    ) -> Result<Hardening> {
        let mut no_new_privs = false;
        let mut seccomp_choice = seccomp::Choice::Default;
        for opt in &opts.security_opt {
            match parse_security_opt(opt)? {
                SecurityOpt::NoNewPrivileges(on) => no_new_privs = on,
                SecurityOpt::Seccomp(choice) => seccomp_choice = choice,
            }
        }
        let capabilities = caps::resolve(&opts.cap_add, &opts.cap_drop, opts.privileged)?;
        let seccomp_choice = match (opts.privileged, seccomp_choice) {
            (true, _) | (_, seccomp::Choice::Unconfined) => None,
            (false, choice) => Some(choice),
        };
        let (masked_paths, readonly_paths) = match opts.privileged {
            true => (Vec::new(), Vec::new()),
            false => (
                paths::MASKED.iter().map(|p| p.to_string()).collect(),
                paths::READ_ONLY.iter().map(|p| p.to_string()).collect(),
            ),
        };
        Ok(Hardening {
            capabilities: capabilities.iter().map(|c| c.to_string()).collect(),
            no_new_privs,
            seccomp_choice,
            seccomp: None,
            masked_paths,
            readonly_paths,
            read_only_rootfs: opts.read_only,
            tmpfs: opts
                .tmpfs
                .iter()
                .map(|t| parse_tmpfs(t))
                .collect::<Result<_>>()?,
            privileged: opts.privileged,
            cgroupfs: crate::cgroups::CgroupFs::of_host(in_user_namespace, cpu_limited)?,
        })
    }

    /// The kept capabilities as the `caps` crate's set.
    pub fn capability_set(&self) -> caps::Capabilities {
        self.capabilities
            .iter()
            .filter_map(|name| name.parse().ok())
            .collect()
    }
}

enum SecurityOpt {
    NoNewPrivileges(bool),
    Seccomp(seccomp::Choice),
}

/// docker's spellings: `no-new-privileges`, `no-new-privileges:true|false`
/// (`=` works too), `seccomp=unconfined`, `seccomp=PROFILE.json`.
fn parse_security_opt(opt: &str) -> Result<SecurityOpt> {
    let (key, value) = match opt.split_once(['=', ':']) {
        Some((k, v)) => (k, Some(v)),
        None => (opt, None),
    };
    match (key, value) {
        ("no-new-privileges", None | Some("true")) => Ok(SecurityOpt::NoNewPrivileges(true)),
        ("no-new-privileges", Some("false")) => Ok(SecurityOpt::NoNewPrivileges(false)),
        ("seccomp", Some("unconfined")) => Ok(SecurityOpt::Seccomp(seccomp::Choice::Unconfined)),
        ("seccomp", Some(file)) if !file.is_empty() => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("--security-opt seccomp={file}: cannot read the profile"))?;
            Ok(SecurityOpt::Seccomp(seccomp::Choice::Profile {
                file: file.to_string(),
                json: text,
            }))
        }
        _ => bail!(
            "--security-opt {opt:?}: expected no-new-privileges[:true|false], seccomp=unconfined or seccomp=PROFILE.json"
        ),
    }
}

/// `PATH[:OPTIONS]`: an absolute path, options as mount(8) takes them; docker
/// mounts it noexec,nosuid,nodev unless the options say otherwise.
fn parse_tmpfs(spec: &str) -> Result<Tmpfs> {
    let (path, options) = spec.split_once(':').unwrap_or((spec, ""));
    let clean = path.split('/').all(|part| part != ".." && part != ".");
    if !path.starts_with('/') || path == "/" || !clean {
        bail!("--tmpfs {spec:?}: expected an absolute path other than / (PATH[:OPTIONS])");
    }
    for option in options.split(',').filter(|o| !o.is_empty()) {
        let name = option.split('=').next().unwrap_or_default();
        if !TMPFS_OPTIONS.contains(&name) {
            bail!(
                "--tmpfs {spec:?}: unknown option {option:?} (known: {})",
                TMPFS_OPTIONS.join(", ")
            );
        }
    }
    let mut all: Vec<&str> = vec!["noexec", "nosuid", "nodev"];
    all.extend(options.split(',').filter(|o| !o.is_empty()));
    Ok(Tmpfs {
        path: path.trim_end_matches('/').to_string(),
        options: all.join(","),
    })
}

const TMPFS_OPTIONS: &[&str] = &[
    "size",
    "mode",
    "uid",
    "gid",
    "nr_inodes",
    "exec",
    "noexec",
    "suid",
    "nosuid",
    "dev",
    "nodev",
    "ro",
    "rw",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_opts_in_docker_spellings() {
        for on in [
            "no-new-privileges",
            "no-new-privileges:true",
            "no-new-privileges=true",
        ] {
            assert!(matches!(
                parse_security_opt(on).unwrap(),
                SecurityOpt::NoNewPrivileges(true)
            ));
        }
        assert!(matches!(
            parse_security_opt("seccomp=unconfined").unwrap(),
            SecurityOpt::Seccomp(seccomp::Choice::Unconfined)
        ));
        for bad in ["apparmor=foo", "seccomp=", "no-new-privileges:maybe", ""] {
            assert!(parse_security_opt(bad).is_err(), "{bad}");
        }
        let missing = parse_security_opt("seccomp=/nonexistent/profile.json");
        assert!(format!("{:#}", missing.err().unwrap()).contains("/nonexistent/profile.json"));
    }

    #[test]
    fn tmpfs_specs() {
        let t = parse_tmpfs("/run:size=64m").unwrap();
        assert_eq!(t.path, "/run");
        assert_eq!(t.options, "noexec,nosuid,nodev,size=64m");
        for bad in ["run", "/", "/a/../etc", "/x:size=1m,bogus"] {
            assert!(parse_tmpfs(bad).is_err(), "{bad}");
        }
    }
}
