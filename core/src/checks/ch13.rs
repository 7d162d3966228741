//! Chapter 13 — speak OCI. The checks drive `mini-docker runc` as an engine
//! would (podman is not needed: these run in the workshop VM too), with a
//! bundle they build — the starter busybox rootfs and a config.json — and
//! read the kernel from the host: the init waiting before exec, then the
//! process's namespaces, mounts, capabilities and cgroup, as the spec said.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::{expect_success, Check, Ctx};

pub fn checks() -> Vec<Check> {
    vec![
        Check { id: "13.1", title: "create leaves the init waiting before exec (state: created); start runs the process, which holds no fd but 0, 1, 2; kill and delete leave nothing", points: 2,
            hint: "create fails first when a chapter 13 step is unwritten: namespace_plan, mount_plan and capability_sets in exercises/ch13_oci.rs", run: lifecycle },
        Check { id: "13.2", title: "the process is in new pid, uts, ipc, net and mnt namespaces (linux.namespaces), with the spec's hostname", points: 2,
            hint: "namespace_plan: every entry without a path is one CLONE_NEW* flag in clone_flags (Pid → CLONE_NEWPID, Uts → CLONE_NEWUTS, Network → CLONE_NEWNET ...)", run: namespaces },
        Check { id: "13.3", title: "mounts as config.json says: / and /sys read-only, /tmp a nosuid,nodev tmpfs of 1 MiB, the masked paths masked", points: 2,
            hint: "mount_plan: \"ro\" → MS_RDONLY, \"nosuid\" → MS_NOSUID, \"nodev\" → MS_NODEV; words that are no flag (size=1m, mode=1777) are the data", run: mounts },
        Check { id: "13.4", title: "capabilities exactly the spec's sets: bounding, permitted and effective = CHOWN, KILL, NET_BIND_SERVICE; NoNewPrivs 1", points: 2,
            hint: "capability_sets: each of bounding/effective/permitted/inheritable/ambient converted on its own (\"CAP_\" + the name); a missing set is empty", run: capabilities },
        Check { id: "13.5", title: "the cgroup is linux.cgroupsPath with the spec's limits (pids.max 32, memory 64 MiB)", points: 1,
            hint: "create makes the cgroup at linux.cgroupsPath with chapter 8's write_limits and puts the init in it before it runs", run: cgroup },
        Check { id: "13.6", title: "exec runs a second process in every namespace of the container's init", points: 1,
            hint: "exec joins /proc/PID/ns/* of the init (user first, mnt last), then forks into the PID namespace", run: exec },
    ]
}

/// A bundle, a runtime root and a container id of their own; removed when dropped.
struct Bundle<'a> {
    ctx: &'a Ctx,
    dir: PathBuf,
    id: String,
    pid: Option<i32>,
}

const CAPS: [&str; 3] = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
/// CHOWN (0), KILL (5), NET_BIND_SERVICE (10).
const CAP_MASK: u64 = 1 | 1 << 5 | 1 << 10;
const MASKED: [&str; 3] = ["/proc/kcore", "/proc/keys", "/proc/timer_list"];
const SCRIPT: &str = "hostname > /tmp/hostname; exec sleep 1000";

impl<'a> Bundle<'a> {
    fn new(ctx: &'a Ctx) -> Result<Bundle<'a>> {
        let id = format!("oci-check-{}", crate::sys::random_hex(4)?);
        let dir = ctx.state_dir.join(&id);
        fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let bundle = Bundle { ctx, dir, id, pid: None };
        let config = config(ctx.rootfs()?, &bundle.id);
        fs::write(bundle.dir.join("config.json"), serde_json::to_vec_pretty(&config)?)?;
        Ok(bundle)
    }

    /// `mini-docker [--reference=..] runc --root R --log L ARGS`
    fn runc(&self, args: &[&str]) -> Result<Output> {
        let mut command = Command::new(&self.ctx.exe);
        command
            .env_remove("MINI_DOCKER_REFERENCE")
            .env_remove("MINI_DOCKER_STATE_DIR");
        if let Some(reference) = self.ctx.selection.to_arg() {
            command.arg(reference);
        }
        command
            .arg("--state-dir")
            .arg(&self.ctx.state_dir)
            .args(["runc", "--root"])
            .arg(self.dir.join("runtime"))
            .arg("--log")
            .arg(self.dir.join("log.json"))
            .args(["--log-format", "json"])
            .args(args);
        // The init inherits create's stdio: files, never a pipe we would wait on.
        let out = fs::File::create(self.dir.join("stdout"))?;
        let err = fs::File::create(self.dir.join("stderr"))?;
        command.stdin(Stdio::null()).stdout(out).stderr(err);
        let status = command
            .status()
            .with_context(|| format!("run mini-docker runc {}", args.join(" ")))?;
        let stderr = fs::read(self.dir.join("stderr")).unwrap_or_default();
        Ok(Output {
            status,
            stdout: Vec::new(),
            stderr,
        })
    }

    /// create + start; the process has written its hostname once this returns.
    fn start(&mut self) -> Result<i32> {
        let bundle = self.dir.display().to_string();
        let created = self.runc(&["create", "--bundle", &bundle, &self.id])?;
        expect_success(&created, "mini-docker runc create")?;
        let state = self.state()?;
        let pid = state["pid"].as_i64().unwrap_or(0) as i32;
        self.pid = Some(pid);
        if state["status"] != "created" {
            bail!("after create, state says {}, not created", state["status"]);
        }
        expect_success(&self.runc(&["start", &self.id])?, "mini-docker runc start")?;
        self.wait_for_file(pid, "tmp/hostname")?;
        Ok(pid)
    }

    fn state(&self) -> Result<serde_json::Value> {
        let out = self.runc(&["state", &self.id])?;
        expect_success(&out, "mini-docker runc state")?;
        let text = fs::read_to_string(self.dir.join("stdout"))?;
        serde_json::from_str(&text).with_context(|| format!("state is not JSON: {text}"))
    }

    /// Poll /proc/PID/root/FILE: the container's own view of its files.
    fn wait_for_file(&self, pid: i32, file: &str) -> Result<String> {
        let path = format!("/proc/{pid}/root/{file}");
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(text) = fs::read_to_string(&path) {
                if !text.is_empty() {
                    return Ok(text);
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let stderr = fs::read_to_string(self.dir.join("stderr")).unwrap_or_default();
        bail!(
            "the container's process never wrote /{file} (is it running? does /tmp exist?){}",
            super::stderr_suffix(&stderr)
        )
    }
}

impl Drop for Bundle<'_> {
    fn drop(&mut self) {
        let _ = self.runc(&["delete", "--force", &self.id]);
        if let Some(pid) = self.pid {
            // We are its subreaper (like conmon): reap it.
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The spec the checks run: namespaces, mounts, capabilities, limits.
fn config(rootfs: &Path, id: &str) -> serde_json::Value {
    let ns = |t: &str| serde_json::json!({ "type": t });
    serde_json::json!({
        "ociVersion": "1.0.2",
        "root": { "path": rootfs, "readonly": true },
        "hostname": "oci-check",
        "process": {
            "args": ["/bin/sh", "-c", SCRIPT],
            "env": ["PATH=/bin:/sbin:/usr/bin"],
            "cwd": "/",
            "user": { "uid": 0, "gid": 0 },
            "noNewPrivileges": true,
            "capabilities": { "bounding": CAPS, "effective": CAPS, "permitted": CAPS },
            "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }]
        },
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
              "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"] },
            { "destination": "/sys", "type": "sysfs", "source": "sysfs",
              "options": ["nosuid", "noexec", "nodev", "ro"] },
            { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
              "options": ["nosuid", "noexec", "nodev", "relatime", "ro"] },
            { "destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "nodev", "size=1m", "mode=1777"] }
        ],
        "linux": {
            "namespaces": [ns("pid"), ns("ipc"), ns("uts"), ns("mount"), ns("network")],
            "cgroupsPath": format!("/mini-docker/{id}"),
            "resources": { "pids": { "limit": 32 }, "memory": { "limit": 64 << 20 } },
            "maskedPaths": MASKED,
            "readonlyPaths": ["/proc/sys"]
        }
    })
}

/// Become the subreaper of what `create` leaves behind (conmon's role).
fn adopt_orphans() {
    let _ = nix::sys::prctl::set_child_subreaper(true);
}

fn lifecycle(ctx: &Ctx) -> Result<()> {
    adopt_orphans();
    let mut bundle = Bundle::new(ctx)?;
    let bundle_path = bundle.dir.display().to_string();
    let created = bundle.runc(&["create", "--bundle", &bundle_path, &bundle.id])?;
    expect_success(&created, "mini-docker runc create")?;
    let state = bundle.state()?;
    let pid = state["pid"].as_i64().unwrap_or(0) as i32;
    bundle.pid = Some(pid);
    if state["status"] != "created" || pid <= 0 {
        bail!("after create, state says {} with pid {pid}: expected created", state["status"]);
    }
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    if String::from_utf8_lossy(&cmdline).contains("sleep") {
        bail!("after create (before start) the process already runs: the init must wait on the exec fifo");
    }
    expect_success(&bundle.runc(&["start", &bundle.id])?, "mini-docker runc start")?;
    bundle.wait_for_file(pid, "tmp/hostname")?;
    let state = bundle.state()?;
    if state["status"] != "running" {
        bail!("after start, state says {}, not running", state["status"]);
    }
    let mut fds: Vec<String> = fs::read_dir(format!("/proc/{pid}/fd"))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    fds.sort();
    if fds != ["0", "1", "2"] {
        bail!("the process holds fds {fds:?}: only 0, 1, 2 may reach it (the exec fifo, the log, the channel must be close-on-exec)");
    }
    expect_success(&bundle.runc(&["kill", &bundle.id, "KILL"])?, "mini-docker runc kill")?;
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    bundle.pid = None;
    let state = bundle.state()?;
    if state["status"] != "stopped" {
        bail!("after kill, state says {}, not stopped", state["status"]);
    }
    expect_success(&bundle.runc(&["delete", &bundle.id])?, "mini-docker runc delete")?;
    if bundle.runc(&["state", &bundle.id])?.status.success() {
        bail!("after delete, `state` still finds the container");
    }
    if bundle.dir.join("runtime").join(&bundle.id).exists() {
        bail!("after delete, the container's state directory is still there");
    }
    Ok(())
}

fn namespaces(ctx: &Ctx) -> Result<()> {
    adopt_orphans();
    let mut bundle = Bundle::new(ctx)?;
    let pid = bundle.start()?;
    for kind in ["pid", "uts", "ipc", "net", "mnt"] {
        let theirs = fs::read_link(format!("/proc/{pid}/ns/{kind}"))?;
        let ours = fs::read_link(format!("/proc/self/ns/{kind}"))?;
        if theirs == ours {
            bail!("the process shares the host's {kind} namespace ({}): config.json asked for a new one", ours.display());
        }
    }
    let hostname = bundle.wait_for_file(pid, "tmp/hostname")?;
    if hostname.trim() != "oci-check" {
        bail!("the process's hostname is {:?}, the spec says \"oci-check\"", hostname.trim());
    }
    Ok(())
}

/// (mount point, per-mount options, fs type, super options) of each line of mountinfo.
fn mountinfo(pid: i32) -> Result<Vec<(String, String, String, String)>> {
    let text = fs::read_to_string(format!("/proc/{pid}/mountinfo"))?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let right: Vec<&str> = right.split(' ').collect();
            Some((
                left.get(4)?.to_string(),
                left.get(5)?.to_string(),
                right.first()?.to_string(),
                right.get(2).unwrap_or(&"").to_string(),
            ))
        })
        .collect())
}

fn mounts(ctx: &Ctx) -> Result<()> {
    adopt_orphans();
    let mut bundle = Bundle::new(ctx)?;
    let pid = bundle.start()?;
    let table = mountinfo(pid)?;
    let find = |point: &str| table.iter().rev().find(|m| m.0 == point).cloned();
    let has = |options: &str, word: &str| options.split(',').any(|o| o == word);
    let (_, root_options, _, _) = find("/").context("no / in the process's mountinfo")?;
    if !has(&root_options, "ro") {
        bail!("/ is mounted {root_options}: root.readonly is true");
    }
    let (_, sys_options, _, _) = find("/sys").context("no /sys mount")?;
    if !has(&sys_options, "ro") {
        bail!("/sys is mounted {sys_options}: its options say \"ro\"");
    }
    let (_, tmp_options, fstype, data) = find("/tmp").context("no /tmp mount")?;
    if fstype != "tmpfs" || !has(&tmp_options, "nosuid") || !has(&tmp_options, "nodev") {
        bail!("/tmp is a {fstype} mounted {tmp_options}: the spec says a tmpfs with nosuid, nodev");
    }
    if !has(&data, "size=1024k") {
        bail!("/tmp's tmpfs has {data}: the spec says size=1m");
    }
    // What this kernel has of the spec's masked paths must be hidden.
    let masked: Vec<&str> = MASKED.into_iter().filter(|p| Path::new(p).exists()).collect();
    if masked.is_empty() {
        bail!("this kernel has none of {MASKED:?}: nothing to check masking with");
    }
    for path in masked {
        if find(path).is_none() {
            bail!("{path} is not masked (linux.maskedPaths)");
        }
    }
    Ok(())
}

fn status_field(pid: i32, field: &str) -> Result<String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

fn capabilities(ctx: &Ctx) -> Result<()> {
    adopt_orphans();
    let mut bundle = Bundle::new(ctx)?;
    let pid = bundle.start()?;
    for (field, want) in [("CapBnd", CAP_MASK), ("CapPrm", CAP_MASK), ("CapEff", CAP_MASK), ("CapInh", 0), ("CapAmb", 0)] {
        let text = status_field(pid, field)?;
        let got = u64::from_str_radix(&text, 16).unwrap_or(u64::MAX);
        if got != want {
            bail!("{field} is {text}, the spec says {want:016x} (CHOWN, KILL, NET_BIND_SERVICE{})",
                if want == 0 { ": none here" } else { "" });
        }
    }
    if status_field(pid, "NoNewPrivs")? != "1" {
        bail!("NoNewPrivs is not 1: process.noNewPrivileges is true");
    }
    Ok(())
}

fn cgroup(ctx: &Ctx) -> Result<()> {
    adopt_orphans();
    let mut bundle = Bundle::new(ctx)?;
    let pid = bundle.start()?;
    let path = format!("/mini-docker/{}", bundle.id);
    let own = fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    if !own.lines().any(|l| l.ends_with(&path)) {
        bail!("the process is not in {path}: /proc/{pid}/cgroup says\n{own}");
    }
    let relative = path.trim_start_matches('/');
    let (pids, memory) = match crate::cgroups::detect()? {
        crate::cgroups::Mode::V2 => {
            let dir = Path::new("/sys/fs/cgroup").join(relative);
            (dir.join("pids.max"), dir.join("memory.max"))
        }
        crate::cgroups::Mode::V1 { .. } => (
            crate::cgroups::v1::mount_point("pids")?.join(relative).join("pids.max"),
            crate::cgroups::v1::mount_point("memory")?.join(relative).join("memory.limit_in_bytes"),
        ),
    };
    let read = |p: &Path| fs::read_to_string(p).unwrap_or_default().trim().to_string();
    if read(&pids) != "32" {
        bail!("{} is {:?}: linux.resources.pids.limit is 32", pids.display(), read(&pids));
    }
    if read(&memory) != (64u64 << 20).to_string() {
        bail!("{} is {:?}: linux.resources.memory.limit is 64 MiB", memory.display(), read(&memory));
    }
    Ok(())
}

fn exec(ctx: &Ctx) -> Result<()> {
    adopt_orphans();
    let mut bundle = Bundle::new(ctx)?;
    let pid = bundle.start()?;
    let script = "for ns in pid mnt uts net; do readlink /proc/self/ns/$ns; done; hostname";
    let out = bundle.runc(&["exec", &bundle.id, "/bin/sh", "-c", script])?;
    expect_success(&out, "mini-docker runc exec")?;
    let text = fs::read_to_string(bundle.dir.join("stdout"))?;
    let mut lines = text.lines();
    for kind in ["pid", "mnt", "uts", "net"] {
        let init = fs::read_link(format!("/proc/{pid}/ns/{kind}"))?;
        let got = lines.next().unwrap_or_default();
        if got != init.to_string_lossy() {
            bail!("exec's {kind} namespace is {got:?}, the init's is {}", init.display());
        }
    }
    let hostname = lines.next().unwrap_or_default();
    if hostname != "oci-check" {
        bail!("exec's hostname is {hostname:?}, the container's is \"oci-check\"");
    }
    Ok(())
}
