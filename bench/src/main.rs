//! `bench/run.sh`: container start latency against crun, runc and the
//! `unshare … chroot` floor; pull + unpack against skopeo + umoci; 50 containers
//! at once; the lifecycle (`run -d` against `run --rm`, `ps` with 100 detached
//! containers, `exec` against `crun exec`). Everything in one run on this
//! machine, medians after warm-up.
//! Traffic stays on 127.0.0.1 (a local registry, see core/src/checks/fixture.rs).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use mini_docker::checks::fixture::{
    build_image, busybox_layer, libpod_parents, remove_libpod_parents, Auth, LayerEntry, Registry,
};
use mini_docker::checks::random_hex;
use nix::sys::resource::{getrusage, UsageWho};

/// Container start latency against crun, runc and the unshare floor; pull +
/// unpack against skopeo + umoci; N containers at once; `run -d`, `ps`, `exec`.
#[derive(clap::Parser)]
#[command(name = "mini-docker-bench")]
struct Options {
    /// A few runs of everything: does the benchmark work? (the test suite's smoke test)
    #[arg(long)]
    quick: bool,
    /// Measured runs per start-latency row (default 30; 3 with --quick)
    #[arg(long)]
    runs: Option<usize>,
    /// Unmeasured runs before them (default 3; 1 with --quick)
    #[arg(long)]
    warmup: Option<usize>,
    /// Containers started at once (default 50; 5 with --quick)
    #[arg(long)]
    concurrent: Option<usize>,
    /// Detached containers kept running for the `ps` row (default 100; 10 with --quick)
    #[arg(long)]
    detached: Option<usize>,
    /// Rounds of chapter 11's cost table (default 400; 4 with --quick)
    #[arg(long)]
    rounds: Option<usize>,
    /// Only pull the benchmark's busybox image into DIR/state, print the `run` command
    /// to profile (strace, perf) and leave DIR in place
    #[arg(long, value_name = "DIR")]
    prepare: Option<PathBuf>,
}

impl Options {
    fn runs(&self) -> usize {
        self.runs.unwrap_or(if self.quick { 3 } else { 30 })
    }
    fn warmup(&self) -> usize {
        self.warmup.unwrap_or(if self.quick { 1 } else { 3 })
    }
    fn concurrent(&self) -> usize {
        self.concurrent.unwrap_or(if self.quick { 5 } else { 50 })
    }
    fn detached(&self) -> usize {
        self.detached.unwrap_or(if self.quick { 10 } else { 100 })
    }
    fn rounds(&self) -> usize {
        self.rounds.unwrap_or(if self.quick { 4 } else { 400 })
    }
    /// Bytes per layer of the pull benchmark's 4-layer image.
    fn layer_bytes(&self) -> usize {
        if self.quick {
            1 << 20
        } else {
            14 << 20
        }
    }
}

/// Run `argv` once; its wall time. Not after Ctrl-C: we are stopping.
fn time_once(argv: &[String]) -> Result<Duration> {
    if STOPPED.load(std::sync::atomic::Ordering::SeqCst) {
        bail!("interrupted");
    }
    time_even_when_stopping(argv)
}

/// Run `argv` once; its wall time, also after Ctrl-C (a cleanup's command).
fn time_even_when_stopping(argv: &[String]) -> Result<Duration> {
    let started = Instant::now();
    let out = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    let took = started.elapsed();
    if !out.status.success() {
        bail!(
            "`{}` failed: {}",
            argv.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(took)
}

/// Run `argv` `runs` times after `warmup` unmeasured runs; the median wall time.
fn median(argv: &[String], runs: usize, warmup: usize, before_each: &dyn Fn()) -> Result<Duration> {
    let mut times = Vec::new();
    for i in 0..warmup + runs {
        before_each();
        let took = time_once(argv)?;
        if i >= warmup {
            times.push(took);
        }
    }
    Ok(middle(times))
}

/// Medians of several commands, run in turns (a, b, c, a, b, c, …): a slow
/// spell of this noisy VM then hits every command alike, not just one row.
fn medians_in_turns(argvs: &[Vec<String>], runs: usize, warmup: usize) -> Result<Vec<Duration>> {
    let mut times = vec![Vec::new(); argvs.len()];
    for i in 0..warmup + runs {
        for (argv, times) in argvs.iter().zip(&mut times) {
            let took = time_once(argv)?;
            if i >= warmup {
                times.push(took);
            }
        }
    }
    Ok(times.into_iter().map(middle).collect())
}

fn middle(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Median time of a mkdir in `dir`: how costly inodes are on
/// this disk right now (it varies on a VM, and a start creates about a dozen).
fn mkdir_latency(dir: &Path) -> Result<Duration> {
    let probe = dir.join("mkdir-probe");
    fs::create_dir_all(&probe)?;
    let times = (0..20)
        .map(|i| {
            let started = Instant::now();
            fs::create_dir(probe.join(i.to_string())).map(|_| started.elapsed())
        })
        .collect::<std::io::Result<Vec<_>>>();
    fs::remove_dir_all(&probe)?;
    Ok(middle(times?))
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// An OCI bundle for crun/runc: runc's default spec running `args` in `rootfs`.
fn bundle(dir: &Path, rootfs: &Path, args: &[&str]) -> Result<()> {
    fs::create_dir_all(dir)?;
    let status = Command::new("cp")
        .arg("-a")
        .arg(rootfs)
        .arg(dir.join("rootfs"))
        .status()?;
    if !status.success() {
        bail!("copy the rootfs into the bundle");
    }
    let status = Command::new("runc")
        .args(["spec", "--bundle"])
        .arg(dir)
        .status()
        .context("runc spec (apt-get install runc)")?;
    if !status.success() {
        bail!("runc spec failed");
    }
    let path = dir.join("config.json");
    let mut spec: serde_json::Value = serde_json::from_slice(&fs::read(&path)?)?;
    spec["process"]["args"] = serde_json::json!(args);
    spec["process"]["terminal"] = serde_json::json!(false);
    fs::write(&path, serde_json::to_vec_pretty(&spec)?)?;
    Ok(())
}

/// Pseudo-random bytes (xorshift), half compressible: like real binaries.
fn data(size: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..size)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if (i / 4096) % 2 == 0 {
                x as u8
            } else {
                (i % 7) as u8
            }
        })
        .collect()
}

fn du_kib(path: &Path) -> u64 {
    let out = Command::new("du").arg("-sk").arg(path).output().ok();
    out.and_then(|o| {
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
    .unwrap_or(0)
}

fn main() -> std::process::ExitCode {
    let opts = <Options as clap::Parser>::parse();
    match bench(&opts) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mini-docker-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn bench(opts: &Options) -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("the benchmark starts containers: run it as root (bench/run.sh uses sudo)");
    }
    let exe = std::env::current_exe()?.with_file_name("mini-docker");
    if let Some(dir) = &opts.prepare {
        return prepare(&exe, dir);
    }
    // Beside mini-docker's default state dir (/var/lib/mini-docker), where
    // containers really live: on this VM's ext4 (no journal), a new inode
    // costs more the more inodes its block group freed in the last minutes,
    // and /tmp's group churns all day (a mkdir there: ~350 us, under
    // /var/lib: 25 us when quiet). A start makes 12 inodes (5 ours, 7 of
    // overlayfs's own at mount); README, Benchmarks.
    let work = Path::new("/var/lib").join(format!("mini-docker-bench-{}", random_hex(4)?));
    fs::create_dir_all(&work)?;
    let _cleanup = Cleanup {
        exe: exe.clone(),
        work: work.clone(),
    };
    stop_on_signals()?;
    enter_private_mount_namespace()?;
    run_all(opts, &exe, &work)
}

/// Whatever ends the benchmark — done, an error, a panic (stdout closed),
/// Ctrl-C — its containers (ours and crun's), bridge, NAT table and directory go.
struct Cleanup {
    exe: PathBuf,
    work: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        // Detached containers first: `cleanup` leaves running ones alone.
        let md = Mini::new(&self.exe, &self.work.join("state"));
        let _ = remove_all_containers(&md);
        delete_crun_container(&crun_exec_name(&self.work));
        let _ = Command::new(&self.exe)
            .args(["--state-dir"])
            .arg(self.work.join("state"))
            .arg("cleanup")
            .output();
        let _ = fs::remove_dir_all(&self.work);
    }
}

static STOPPED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn note_stop(_: libc::c_int) {
    STOPPED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Ctrl-C or SIGTERM: the command being timed gets it too (same process
/// group) and fails; we note it and stop after it, cleaning up on the way out.
fn stop_on_signals() -> Result<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(
        SigHandler::Handler(note_stop),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic.
        unsafe { sigaction(signal, &action) }.context("install a signal handler")?;
    }
    Ok(())
}

/// The image every start row runs, pulled from the local registry into `state`.
/// The registry may stop afterwards: `run` finds the image in the store.
fn pull_busybox(registry: &Registry, md: &Mini) -> Result<String> {
    let small = build_image(&[busybox_layer()?], serde_json::json!({}))?;
    registry.push(&small.dir, "single", "bench/busybox:1", None)?;
    let image = format!("{}/bench/busybox:1", registry.address());
    let pulled = md.command(&["pull", "--unpack", &image]).output()?;
    if !pulled.status.success() {
        bail!("pull: {}", String::from_utf8_lossy(&pulled.stderr));
    }
    Ok(image)
}

/// `--prepare DIR`: the image pulled into DIR/state, and the command to profile.
fn prepare(exe: &Path, dir: &Path) -> Result<()> {
    let md = Mini::new(exe, &dir.join("state"));
    let registry = Registry::start(Auth::Token)?;
    let image = pull_busybox(&registry, &md)?;
    let argv = md.argv(&["run", "--rm", "--network", "none", &image, "/bin/true"]);
    println!("{}", argv.join(" "));
    Ok(())
}

/// `mini-docker --reference --state-dir STATE …`
struct Mini {
    prefix: Vec<String>,
}

impl Mini {
    fn new(exe: &Path, state: &Path) -> Mini {
        let prefix = [
            exe,
            Path::new("--reference"),
            Path::new("--state-dir"),
            state,
        ];
        Mini {
            prefix: prefix.iter().map(|p| p.display().to_string()).collect(),
        }
    }
    fn argv(&self, args: &[&str]) -> Vec<String> {
        let mut v = self.prefix.clone();
        v.extend(strings(args));
        v
    }
    fn command(&self, args: &[&str]) -> Command {
        let argv = self.argv(args);
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        cmd
    }
}

fn run_all(opts: &Options, exe: &Path, work: &Path) -> Result<()> {
    let registry = Registry::start(Auth::Token)?;
    let state = work.join("state");
    let md = Mini::new(exe, &state);
    let image = pull_busybox(&registry, &md)?;
    let layer = start_latency(opts, &md, &image, work)?;
    hardening_cost(opts, &md, &image)?;
    pull_and_unpack(opts, exe, &registry, work)?;
    concurrent(opts, &md, &image, &state, &layer)?;
    lifecycle(opts, &md, &image, work)?;
    podman_rows(opts, exe, work)?;
    through_the_daemon(opts, exe, &md, &image, work)
}

/// Chapter 13: podman with mini-docker as its OCI runtime against podman with
/// runc, the same `run --rm` in turns (a podman store of our own under `work`).
fn podman_rows(opts: &Options, exe: &Path, work: &Path) -> Result<()> {
    let store = PodmanStore::new(exe, work)?;
    let (runs, warmup) = (opts.runs(), opts.warmup());
    let argv = |runtime: &str| {
        let mut argv = store.prefix.clone();
        argv.extend(strings(&[
            "--runtime",
            runtime,
            "run",
            "--rm",
            "--network",
            "none",
        ]));
        argv.extend(strings(&[
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
        ]));
        argv.extend(strings(&[&store.image, "/bin/true"]));
        argv
    };
    let link = store.runc_link.display().to_string();
    let rows = [
        ("podman --runtime mini-docker-runc run --rm", argv(&link)),
        ("podman --runtime runc run --rm", argv("runc")),
    ];
    let argvs: Vec<Vec<String>> = rows.iter().map(|(_, a)| a.clone()).collect();
    let medians = medians_in_turns(&argvs, runs, warmup)?;
    println!(
        "\nchapter 13, podman 4 + conmon driving an OCI runtime, --network none, /bin/true: median of {runs} runs after {warmup} warm-up, in turns"
    );
    for ((name, _), median) in rows.iter().zip(&medians) {
        println!(
            "{name:<44} {:>7.2} ms {:>9.2}x",
            ms(*median),
            ms(*median) / ms(medians[1])
        );
    }
    Ok(())
}

/// A podman store of our own (`--root`/`--runroot` under `work`), busybox
/// pulled into it, and a `mini-docker-runc` link; all removed when dropped.
struct PodmanStore {
    dir: PathBuf,
    /// podman's cgroupfs manager makes `libpod_parent/conmon` in every
    /// hierarchy and never removes it: ours to remove if we made it.
    made_libpod_parent: bool,
    prefix: Vec<String>,
    image: String,
    runc_link: PathBuf,
    _registry: Registry,
}

impl PodmanStore {
    fn new(exe: &Path, work: &Path) -> Result<PodmanStore> {
        let made_libpod_parent = libpod_parents().is_empty();
        let dir = work.join("podman");
        fs::create_dir_all(&dir)?;
        let runc_link = dir.join("mini-docker-runc");
        std::os::unix::fs::symlink(exe, &runc_link)?;
        let registry = Registry::start(Auth::Htpasswd {
            user: "bench".into(),
            password: "bench".into(),
        })?;
        let small = build_image(&[busybox_layer()?], serde_json::json!({}))?;
        registry.push(&small.dir, "single", "bench/busybox:1", None)?;
        let image = format!("{}/bench/busybox:1", registry.address());
        let mut prefix = strings(&["podman", "--root"]);
        prefix.push(dir.join("root").display().to_string());
        prefix.push("--runroot".into());
        prefix.push(dir.join("runroot").display().to_string());
        prefix.push("--tmpdir".into());
        prefix.push(dir.join("tmp").display().to_string());
        prefix.extend(strings(&[
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "none",
        ]));
        prefix.extend(strings(&["--storage-driver", "overlay"]));
        let store = PodmanStore {
            dir,
            made_libpod_parent,
            prefix,
            image,
            runc_link,
            _registry: registry,
        };
        let pulled = store
            .command(&[
                "pull",
                "--quiet",
                "--tls-verify=false",
                "--creds",
                "bench:bench",
                &store.image,
            ])
            .output()?;
        if !pulled.status.success() {
            bail!("podman pull: {}", String::from_utf8_lossy(&pulled.stderr));
        }
        Ok(store)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.prefix[0]);
        command.args(&self.prefix[1..]).args(args);
        command
    }
}

impl Drop for PodmanStore {
    fn drop(&mut self) {
        let _ = self
            .command(&["rm", "--all", "--force", "--time", "0"])
            .output();
        let _ = self.command(&["rmi", "--all", "--force"]).output();
        let _ = self.command(&["system", "reset", "--force"]).output();
        // podman's storage mounts left under the store, deepest first.
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut points: Vec<&str> = mountinfo
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|p| Path::new(p).starts_with(&self.dir))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for point in points {
            let _ = nix::mount::umount2(point, nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = fs::remove_dir_all(&self.dir);
        if self.made_libpod_parent {
            remove_libpod_parents(&self.dir);
        }
    }
}

/// The last table (chapter 14): the same start through the Engine API —
/// the docker CLI, HTTP over the daemon's socket, create + attach + wait +
/// start — against `mini-docker run --rm`, in turns, in the same run.
fn through_the_daemon(
    opts: &Options,
    exe: &Path,
    md: &Mini,
    image: &str,
    work: &Path,
) -> Result<()> {
    let socket = work.join("api.sock");
    let mut daemon = Command::new(exe)
        .arg("--reference")
        .arg("--state-dir")
        .arg(work.join("state"))
        .arg("daemon")
        .arg("--socket")
        .arg(&socket)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("start mini-docker daemon")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::os::unix::net::UnixStream::connect(&socket).is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let config = work.join("docker-config");
    fs::create_dir_all(&config)?;
    let host = format!("unix://{}", socket.display());
    let rows: [(&str, Vec<String>); 2] = [
        (
            "mini-docker run --rm --network none (direct)",
            md.argv(&["run", "--rm", "--network", "none", image, "/bin/true"]),
        ),
        (
            "docker run --rm --network none (the daemon)",
            strings(&[
                "docker",
                "--config",
                &config.display().to_string(),
                "-H",
                &host,
                "run",
                "--rm",
                "--network",
                "none",
                image,
                "/bin/true",
            ]),
        ),
    ];
    let argvs: Vec<Vec<String>> = rows.iter().map(|(_, argv)| argv.clone()).collect();
    let medians = medians_in_turns(&argvs, opts.runs(), opts.warmup());
    // Our own child: stopped, then reaped.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = daemon.wait();
    let medians = medians?;
    println!(
        "through the Engine API (chapter 14): median of {} runs after {} warm-up, in turns",
        opts.runs(),
        opts.warmup()
    );
    for (i, (name, _)) in rows.iter().enumerate() {
        println!(
            "{name:<48} {:>7.2} ms {:>7.2}x",
            ms(medians[i]),
            ms(medians[i]) / ms(medians[0])
        );
    }
    Ok(())
}

/// The unpacked busybox layer in `state`: the same tree for every runtime.
fn unpacked_layer(state: &Path) -> Result<PathBuf> {
    fs::read_dir(state.join("layers"))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir() && !p.ends_with("l"))
        .context("unpacked layer")
}

/// Every runtime runs in the same mount namespace, made once here: a
/// private copy of the host's in which the hybrid host's cgroup2 at
/// /sys/fs/cgroup/unified is out of sight (crun refuses to start while it
/// sees a controller-less cgroup2 there). Earlier rounds wrapped each crun
/// start alone in `unshare --mount sh -c 'umount …; exec crun …'`, which
/// charged crun an unshare, a shell and a umount per start (README).
fn enter_private_mount_namespace() -> Result<()> {
    use nix::mount::{mount, umount2, MntFlags, MsFlags};
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).context("unshare(CLONE_NEWNS)")?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .context("make / private")?;
    let _ = umount2("/sys/fs/cgroup/unified", MntFlags::MNT_DETACH); // only on a hybrid host
    Ok(())
}

/// Total wall time of `n` starts one after another, per start: the deferred
/// kernel work of each start (namespace and overlay teardown) lands on the
/// next start of the same runtime, so every runtime pays for its own.
fn per_start_in_a_loop(argv: &[String], n: usize) -> Result<Duration> {
    let started = Instant::now();
    for _ in 0..n {
        time_once(argv)?;
    }
    Ok(started.elapsed() / n as u32)
}

/// Per-row times of several commands, measured in turns, in blocks and in a loop.
struct ThreeWays {
    in_turns: Vec<Duration>,
    in_blocks: Vec<Duration>,
    in_a_loop: Vec<Duration>,
}

/// Every row measured the three ways of table 1, one way after the other.
fn three_ways(argvs: &[Vec<String>], runs: usize, warmup: usize) -> Result<ThreeWays> {
    let in_turns = medians_in_turns(argvs, runs, warmup)?;
    let in_blocks = argvs
        .iter()
        .map(|argv| median(argv, runs, warmup, &|| {}))
        .collect::<Result<Vec<_>>>()?;
    let in_a_loop = argvs
        .iter()
        .map(|argv| per_start_in_a_loop(argv, runs))
        .collect::<Result<Vec<_>>>()?;
    Ok(ThreeWays {
        in_turns,
        in_blocks,
        in_a_loop,
    })
}

/// Table 1: start latency of every runtime, measured three ways in one run:
/// in turns (a, b, c, a, b, c: a slow spell hits every row alike), in blocks
/// (each runtime's runs together: nobody pays for another's teardown) and as
/// a loop of sequential starts (total / n: each pays its own teardown).
fn start_latency(opts: &Options, md: &Mini, image: &str, work: &Path) -> Result<PathBuf> {
    let layer = unpacked_layer(&work.join("state"))?;
    let rootfs = work.join("rootfs");
    Command::new("cp")
        .arg("-a")
        .arg(&layer)
        .arg(&rootfs)
        .status()?;
    let crun_bundle = work.join("crun");
    let runc_bundle = work.join("runc");
    bundle(&crun_bundle, &rootfs, &["/bin/true"])?;
    bundle(&runc_bundle, &rootfs, &["/bin/true"])?;
    let rootfs = rootfs.display().to_string();
    let (crun_bundle, runc_bundle) = (
        crun_bundle.display().to_string(),
        runc_bundle.display().to_string(),
    );
    let rows: [(&str, Vec<String>); 5] = [
        (
            "mini-docker run --rm --network none",
            md.argv(&["run", "--rm", "--network", "none", image, "/bin/true"]),
        ),
        (
            "crun run",
            strings(&["crun", "run", "--bundle", &crun_bundle, "bench-crun"]),
        ),
        (
            "runc run",
            strings(&["runc", "run", "--bundle", &runc_bundle, "bench-runc"]),
        ),
        (
            "unshare --pid --mount ... chroot (floor)",
            strings(&[
                "unshare",
                "--pid",
                "--fork",
                "--mount",
                "--uts",
                "--ipc",
                "--net",
                "chroot",
                &rootfs,
                "/bin/true",
            ]),
        ),
        (
            "mini-docker run --rm (--network bridge)",
            md.argv(&["run", "--rm", image, "/bin/true"]),
        ),
    ];
    let argvs: Vec<Vec<String>> = rows.iter().map(|(_, argv)| argv.clone()).collect();
    let (runs, warmup) = (opts.runs(), opts.warmup());
    // One start first: it makes STATE/containers, in a block group of its own
    // (core/src/runtime/placement.rs), where the probe then measures.
    time_once(&argvs[0])?;
    let containers = work.join("state/containers");
    let inodes_before = mkdir_latency(&containers)?;
    let ThreeWays {
        in_turns,
        in_blocks,
        in_a_loop,
    } = three_ways(&argvs, runs, warmup)?;
    let inodes_after = mkdir_latency(&containers)?;
    println!(
        "start latency, /bin/true, this machine, every runtime in one private mount namespace: median of {runs} runs after {warmup} warm-up in turns and in blocks; {runs} sequential starts in a loop (total / {runs})"
    );
    println!(
        "{:<44} {:>10} {:>10} {:>10} {:>14}",
        "", "in turns", "in blocks", "in a loop", "loop vs ours"
    );
    for (i, (name, _)) in rows.iter().enumerate() {
        println!(
            "{name:<44} {:>7.2} ms {:>7.2} ms {:>7.2} ms {:>13.2}x",
            ms(in_turns[i]),
            ms(in_blocks[i]),
            ms(in_a_loop[i]),
            ms(in_a_loop[i]) / ms(in_a_loop[0])
        );
    }
    // On this VM's ext4 (no journal) inodes freed in the last minutes make
    // new ones slower: a start makes a dozen, the floor none (README).
    println!(
        "(a mkdir where containers live: {:.0} us before these rows, {:.0} us after; a start makes a dozen inodes, the floor none)",
        inodes_before.as_secs_f64() * 1e6,
        inodes_after.as_secs_f64() * 1e6
    );
    Ok(layer)
}

/// Chapter 11's cost on a start: `run --rm --network none IMAGE /bin/true`
/// with every layer (the default), without seccomp, and with none of them
/// (`--privileged`). Medians of 30 runs cannot see half a millisecond on this
/// VM, so: many rounds, each running every mode once in a shuffled order
/// (what ran just before a start leaves it kernel work to finish: a fixed
/// rotation would always hand the same mode the default's leftovers and
/// make the layers look up to 0.2 ms cheaper here), and the cost is the median
/// of the per-round differences, with a 95% interval, wall-clock and
/// CPU time (user + system of mini-docker and its container, from the
/// kernel's accounting of reaped children: other work inflates it less).
fn hardening_cost(opts: &Options, md: &Mini, image: &str) -> Result<()> {
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--rm", "--network", "none"];
        args.extend(extra);
        args.extend([image, "/bin/true"]);
        md.argv(&args)
    };
    let modes: [(&str, Vec<String>); 3] = [
        ("all layers (the default)", run(&[])),
        (
            "--security-opt seccomp=unconfined",
            run(&["--security-opt", "seccomp=unconfined"]),
        ),
        ("--privileged (no ch11)", run(&["--privileged"])),
    ];
    for (_, argv) in &modes {
        for _ in 0..opts.warmup() {
            time_once(argv)?;
        }
    }
    let rounds = opts.rounds();
    let mut wall = vec![Vec::new(); modes.len()];
    let mut cpu = vec![Vec::new(); modes.len()];
    let mut shuffle = Shuffle(0x9e37_79b9_7f4a_7c15);
    for _ in 0..rounds {
        for mode in shuffle.order(modes.len()) {
            let (took, used) = time_and_cpu(&modes[mode].1)?;
            wall[mode].push(took);
            cpu[mode].push(used);
        }
    }
    println!(
        "chapter 11's cost on run --rm --network none IMAGE /bin/true: {rounds} rounds, each mode once per round in shuffled order"
    );
    println!(
        "{:<44} {:>10} {:>10} {:>10}",
        "", "median", "fastest", "CPU median"
    );
    for (i, (name, _)) in modes.iter().enumerate() {
        println!(
            "{name:<44} {:>7.2} ms {:>7.2} ms {:>7.2} ms",
            ms(middle(wall[i].clone())),
            ms(*wall[i].iter().min().expect("rounds")),
            ms(middle(cpu[i].clone()))
        );
    }
    for (other, name) in [(2, "--privileged"), (1, "seccomp=unconfined")] {
        let (wall, cpu) = (
            Difference::of(&wall[0], &wall[other]),
            Difference::of(&cpu[0], &cpu[other]),
        );
        println!(
            "all layers - {name}, median of the per-round differences: {:+.2} ms wall-clock ({:+.2} to {:+.2}), {:+.2} ms CPU ({:+.2} to {:+.2})",
            wall.median, wall.low, wall.high, cpu.median, cpu.low, cpu.high
        );
    }
    Ok(())
}

/// Orders of 0..n, shuffled (Fisher-Yates over xorshift64: the same
/// sequence every run, no dependency).
struct Shuffle(u64);

impl Shuffle {
    fn order(&mut self, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            order.swap(i, (self.0 % (i as u64 + 1)) as usize);
        }
        order
    }
}

/// The median of `a[i] - b[i]` in milliseconds, and a 95% interval for it
/// (the order statistics n/2 -+ 0.98 sqrt(n), distribution-free).
struct Difference {
    median: f64,
    low: f64,
    high: f64,
}

impl Difference {
    fn of(a: &[Duration], b: &[Duration]) -> Difference {
        let mut d: Vec<f64> = a.iter().zip(b).map(|(a, b)| ms(*a) - ms(*b)).collect();
        d.sort_by(f64::total_cmp);
        let n = d.len();
        let spread = (0.98 * (n as f64).sqrt()) as usize;
        Difference {
            median: d[n / 2],
            low: d[(n / 2).saturating_sub(spread)],
            high: d[(n / 2 + spread).min(n - 1)],
        }
    }
}

/// Run `argv` once: its wall time, and the CPU time it and everything it
/// waited for used (the growth of our reaped children's rusage).
fn time_and_cpu(argv: &[String]) -> Result<(Duration, Duration)> {
    let used = || -> Result<Duration> {
        let usage = getrusage(UsageWho::RUSAGE_CHILDREN)?;
        let micros =
            |t: nix::sys::time::TimeVal| t.tv_sec() as u64 * 1_000_000 + t.tv_usec() as u64;
        Ok(Duration::from_micros(
            micros(usage.user_time()) + micros(usage.system_time()),
        ))
    };
    let before = used()?;
    let took = time_once(argv)?;
    Ok((took, used()?.saturating_sub(before)))
}

/// Table 2: pull + unpack of a 4-layer image into an empty store.
fn pull_and_unpack(opts: &Options, exe: &Path, registry: &Registry, work: &Path) -> Result<()> {
    let layers: Vec<Vec<(String, LayerEntry)>> = (0..4)
        .map(|i| {
            vec![(
                format!("data/blob{i}"),
                LayerEntry::File(data(opts.layer_bytes(), 7 + i), 0o644),
            )]
        })
        .collect();
    let big = build_image(&layers, serde_json::json!({}))?;
    registry.push(&big.dir, "single", "bench/big:1", None)?;
    let big_image = format!("{}/bench/big:1", registry.address());
    let fresh = work.join("fresh");
    let reset = || {
        let _ = fs::remove_dir_all(&fresh);
    };
    let pull_runs = opts.runs().min(30);
    let ours = Mini::new(exe, &fresh).argv(&["pull", "--unpack", &big_image]);
    let ours = median(&ours, pull_runs, 1, &reset)?;
    let script = format!(
        "mkdir -p {0} && skopeo --insecure-policy copy --quiet --src-tls-verify=false docker://{big_image} oci:{0}/oci:big && umoci unpack --image {0}/oci:big {0}/bundle >/dev/null",
        fresh.display()
    );
    let theirs = median(&strings(&["sh", "-c", &script]), pull_runs, 1, &reset)?;
    reset();
    println!(
        "\npull + unpack, 4 layers, {} MiB uncompressed, empty store, median of {pull_runs}",
        (4 * opts.layer_bytes()) >> 20
    );
    println!("{:<44} {:>7.0} ms", "mini-docker pull --unpack", ms(ours));
    println!(
        "{:<44} {:>7.0} ms {:>9.2}x slower",
        "skopeo copy + umoci unpack",
        ms(theirs),
        ms(theirs) / ms(ours)
    );
    Ok(())
}

/// Table 3: N containers started at once; the disk each one uses.
fn concurrent(opts: &Options, md: &Mini, image: &str, state: &Path, layer: &Path) -> Result<()> {
    let n = opts.concurrent();
    let started = Instant::now();
    let children: Vec<_> = (0..n)
        .map(|i| {
            let name = format!("bench-{i}");
            md.command(&[
                "run",
                "--name",
                &name,
                "--network",
                "none",
                image,
                "/bin/true",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
        })
        .collect::<Result<_, _>>()?;
    let mut failed = 0;
    for child in children {
        if !child.wait_with_output()?.status.success() {
            failed += 1;
        }
    }
    let total = started.elapsed();
    let per_container = du_kib(&state.join("containers")) as f64 / n as f64;
    let image_kib = du_kib(layer);
    println!("\n{n} containers at once: {:.0} ms in all, {failed} failed; {per_container:.0} KiB on disk each (image: {image_kib} KiB, shared)", ms(total));
    let _ = fs::remove_dir_all(state.join("containers"));
    let _ = fs::remove_dir_all(state.join("names"));
    Ok(())
}

/// The ids `ps -aq` lists: every container of the state dir, running or not.
fn container_ids(md: &Mini) -> Result<Vec<String>> {
    let out = md.command(&["ps", "-aq"]).output()?;
    if !out.status.success() {
        bail!("ps -aq: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

/// `rm -f` of every container of the state dir, in one command: its wall time.
/// `Cleanup` calls it after Ctrl-C too: the detached containers must go then.
fn remove_all_containers(md: &Mini) -> Result<Duration> {
    let ids = container_ids(md)?;
    if ids.is_empty() {
        return Ok(Duration::ZERO);
    }
    let mut args = vec!["rm", "-f"];
    args.extend(ids.iter().map(String::as_str));
    time_even_when_stopping(&md.argv(&args))
}

/// A `run -d --rm` container removes itself once it ends, in its shim,
/// after the client returned: wait until all have, so that the next rows
/// start from an empty state dir and pay for nobody's teardown.
fn wait_until_no_container(md: &Mini) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !container_ids(md)?.is_empty() {
        if Instant::now() > deadline {
            bail!("`run -d --rm` containers still there after 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Table 4: the lifecycle (chapter 12). `run -d` start latency (the
/// client's return: the shim reported "started") against an attached
/// `run --rm`, the three ways of table 1; then N detached containers kept
/// running (`sleep`), `ps -a` listing them, and `exec` into one of them
/// against `crun exec`.
fn lifecycle(opts: &Options, md: &Mini, image: &str, work: &Path) -> Result<()> {
    let (runs, warmup) = (opts.runs(), opts.warmup());
    let rows: [(&str, Vec<String>); 2] = [
        (
            "mini-docker run --rm --network none",
            md.argv(&["run", "--rm", "--network", "none", image, "/bin/true"]),
        ),
        (
            "mini-docker run -d --rm --network none",
            md.argv(&["run", "-d", "--rm", "--network", "none", image, "/bin/true"]),
        ),
    ];
    let argvs: Vec<Vec<String>> = rows.iter().map(|(_, argv)| argv.clone()).collect();
    let ways = three_ways(&argvs, runs, warmup)?;
    wait_until_no_container(md)?;
    println!(
        "\nlifecycle, /bin/true: `run -d` returns once its shim reports the container started (it is removed later, by the shim); median of {runs} runs after {warmup} warm-up in turns and in blocks; {runs} sequential starts in a loop (total / {runs})"
    );
    println!(
        "{:<44} {:>10} {:>10} {:>10} {:>14}",
        "", "in turns", "in blocks", "in a loop", "loop vs --rm"
    );
    for (i, (name, _)) in rows.iter().enumerate() {
        println!(
            "{name:<44} {:>7.2} ms {:>7.2} ms {:>7.2} ms {:>13.2}x",
            ms(ways.in_turns[i]),
            ms(ways.in_blocks[i]),
            ms(ways.in_a_loop[i]),
            ms(ways.in_a_loop[i]) / ms(ways.in_a_loop[0])
        );
    }
    let ps = md.argv(&["ps", "-a"]);
    let ps_empty = median(&ps, runs, warmup, &|| {})?;
    let n = opts.detached();
    if n == 0 {
        bail!("--detached 0: the ps row needs at least one container");
    }
    // Real detached containers, each with its shim and a sleeping PID 1,
    // started one after another (no network: no veth per container).
    let sleeper = md.argv(&["run", "-d", "--network", "none", image, "sleep", "100000"]);
    let starts = (0..n)
        .map(|_| time_once(&sleeper))
        .collect::<Result<Vec<_>>>()?;
    let ps_full = median(&ps, runs, warmup, &|| {})?;
    let ids = container_ids(md)?;
    if ids.len() != n {
        bail!("ps -aq lists {} containers, not the {n} started", ids.len());
    }
    let exec = exec_latency(opts, md, &ids[0], work)?;
    let rm_all = remove_all_containers(md)?;
    // Does a start slow down as containers pile up? The first tenth against the last.
    let tenth = n.div_ceil(10);
    println!(
        "{:<44} {:>7.2} ms (median of {n}, with 0 to {} already running; first {tenth}: {:.2} ms, last {tenth}: {:.2} ms)",
        "mini-docker run -d --network none ... sleep",
        ms(middle(starts.clone())),
        n - 1,
        ms(middle(starts[..tenth].to_vec())),
        ms(middle(starts[n - tenth..].to_vec())),
    );
    println!(
        "{:<44} {:>7.2} ms (no container: {:.2} ms; median of {runs}; target: 50 ms)",
        format!("mini-docker ps -a, {n} running"),
        ms(ps_full),
        ms(ps_empty)
    );
    println!(
        "{:<44} {:>7.0} ms in all",
        format!("mini-docker rm -f of all {n}"),
        ms(rm_all)
    );
    print_exec_rows(opts, n, &exec);
    Ok(())
}

/// The crun container the exec rows enter: named after the benchmark's
/// directory, so that `Cleanup` finds it on every path out.
fn crun_exec_name(work: &Path) -> String {
    let dir = work.file_name().unwrap_or_default().to_string_lossy();
    format!("{dir}-exec")
}

/// `crun delete -f`: the container killed and gone, if it is there at all.
fn delete_crun_container(name: &str) {
    let _ = Command::new("crun")
        .args(["delete", "-f", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// `crun run -d`: a crun container running `sleep` from a bundle of the
/// same busybox tree as the start rows'.
fn start_crun_sleeper(work: &Path, name: &str) -> Result<()> {
    let dir = work.join("crun-exec");
    bundle(&dir, &work.join("rootfs"), &["sleep", "100000"])?;
    // No pipe: `sleep` inherits crun's stdio and would hold a pipe open.
    let status = Command::new("crun")
        .args(["run", "-d", "--bundle"])
        .arg(&dir)
        .arg(name)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("crun run -d")?;
    if !status.success() {
        bail!("crun run -d --bundle {} {name} failed", dir.display());
    }
    Ok(())
}

/// `mini-docker exec ID /bin/true` into the detached `sleep` container `id`
/// against `crun exec NAME /bin/true` into a crun `sleep` container, the
/// three ways of table 1. The crun container goes afterwards, whatever happened.
fn exec_latency(opts: &Options, md: &Mini, id: &str, work: &Path) -> Result<ThreeWays> {
    let name = crun_exec_name(work);
    let ways = start_crun_sleeper(work, &name).and_then(|()| {
        let argvs = [
            md.argv(&["exec", id, "/bin/true"]),
            strings(&["crun", "exec", &name, "/bin/true"]),
        ];
        three_ways(&argvs, opts.runs(), opts.warmup())
    });
    delete_crun_container(&name);
    ways
}

fn print_exec_rows(opts: &Options, detached: usize, ways: &ThreeWays) {
    let (runs, warmup) = (opts.runs(), opts.warmup());
    println!(
        "\nexec /bin/true into a running `sleep` container (ours: one of the {detached} above, all running; crun's: from a bundle of the same tree); median of {runs} runs after {warmup} warm-up in turns and in blocks; {runs} sequential execs in a loop (total / {runs}); target: faster than crun"
    );
    println!(
        "{:<44} {:>10} {:>10} {:>10} {:>14}",
        "", "in turns", "in blocks", "in a loop", "loop vs ours"
    );
    let names = [
        "mini-docker exec CONTAINER /bin/true",
        "crun exec NAME /bin/true",
    ];
    for (i, name) in names.iter().enumerate() {
        println!(
            "{name:<44} {:>7.2} ms {:>7.2} ms {:>7.2} ms {:>13.2}x",
            ms(ways.in_turns[i]),
            ms(ways.in_blocks[i]),
            ms(ways.in_a_loop[i]),
            ms(ways.in_a_loop[i]) / ms(ways.in_a_loop[0])
        );
    }
}
