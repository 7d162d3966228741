//! The bundle's `config.json`, parsed with the oci-spec crate, and checked
//! for what this runtime cannot honour: such a field is an error naming it,
//! never a silent ignore that would leave a container less isolated than
//! its engine asked for.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxSeccompAction, Spec};

/// Read `BUNDLE/config.json`.
pub fn load(bundle: &Path) -> Result<Spec> {
    let file = bundle.join("config.json");
    let spec = Spec::load(&file).with_context(|| format!("parse {}", file.display()))?;
    refuse_unsupported(&spec)?;
    Ok(spec)
}

/// The rootfs: `root.path`, relative to the bundle unless absolute.
pub fn rootfs(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    let root = spec.root().as_ref().context("config.json has no root")?;
    let path = bundle.join(root.path());
    path.canonicalize()
        .with_context(|| format!("root.path {}", path.display()))
}

fn refuse_unsupported(spec: &Spec) -> Result<()> {
    if let Some(hooks) = spec.hooks() {
        let any = [
            hooks.prestart().is_some(),
            hooks.create_runtime().is_some(),
            hooks.create_container().is_some(),
            hooks.start_container().is_some(),
            hooks.poststart().is_some(),
            hooks.poststop().is_some(),
        ];
        if any.iter().any(|&given| given) {
            bail!("config.json: hooks are not supported by mini-docker-runc");
        }
    }
    let process = spec
        .process()
        .as_ref()
        .context("config.json has no process")?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        bail!("config.json: process.args is empty");
    }
    if process.io_priority().is_some() || process.scheduler().is_some() {
        bail!("config.json: process.ioPriority and process.scheduler are not supported");
    }
    if process
        .selinux_label()
        .as_ref()
        .is_some_and(|l| !l.is_empty())
        && Path::new("/sys/fs/selinux/enforce").exists()
    {
        bail!(
            "config.json: process.selinuxLabel is not supported (SELinux is enabled on this host)"
        );
    }
    let Some(linux) = spec.linux() else {
        bail!("config.json has no linux section");
    };
    if linux.intel_rdt().is_some() {
        bail!("config.json: linux.intelRdt is not supported");
    }
    if linux.personality().is_some() {
        bail!("config.json: linux.personality is not supported");
    }
    if linux.time_offsets().is_some() {
        bail!("config.json: linux.timeOffsets is not supported");
    }
    if let Some(resources) = linux.resources() {
        if resources
            .hugepage_limits()
            .as_ref()
            .is_some_and(|h| !h.is_empty())
        {
            bail!("config.json: linux.resources.hugepageLimits is not supported");
        }
        if resources.network().is_some() {
            bail!("config.json: linux.resources.network is not supported");
        }
        if resources.rdma().as_ref().is_some_and(|r| !r.is_empty()) {
            bail!("config.json: linux.resources.rdma is not supported");
        }
        if resources.unified().as_ref().is_some_and(|u| !u.is_empty()) {
            bail!("config.json: linux.resources.unified is not supported");
        }
        if let Some(io) = resources.block_io() {
            let limits = [
                io.throttle_read_bps_device()
                    .as_ref()
                    .is_some_and(|v| !v.is_empty()),
                io.throttle_write_bps_device()
                    .as_ref()
                    .is_some_and(|v| !v.is_empty()),
                io.throttle_read_iops_device()
                    .as_ref()
                    .is_some_and(|v| !v.is_empty()),
                io.throttle_write_iops_device()
                    .as_ref()
                    .is_some_and(|v| !v.is_empty()),
                io.weight_device().as_ref().is_some_and(|v| !v.is_empty()),
                io.weight().is_some(),
            ];
            if limits.iter().any(|&l| l) {
                bail!("config.json: linux.resources.blockIO is not supported");
            }
        }
    }
    if let Some(seccomp) = linux.seccomp() {
        if seccomp.listener_path().is_some() {
            bail!("config.json: linux.seccomp.listenerPath (SCMP_ACT_NOTIFY) is not supported");
        }
        let actions = std::iter::once(seccomp.default_action())
            .chain(seccomp.syscalls().iter().flatten().map(|s| s.action()));
        for action in actions {
            if matches!(
                action,
                LinuxSeccompAction::ScmpActNotify | LinuxSeccompAction::ScmpActTrace
            ) {
                bail!("config.json: seccomp action {action} is not supported");
            }
        }
        if seccomp.flags().as_ref().is_some_and(|f| !f.is_empty()) {
            bail!("config.json: linux.seccomp.flags are not supported");
        }
    }
    if let Some(mounts) = spec.mounts() {
        for mount in mounts {
            if mount.destination().is_relative() {
                bail!(
                    "config.json: mount destination {} must be absolute",
                    mount.destination().display()
                );
            }
        }
    }
    Ok(())
}
