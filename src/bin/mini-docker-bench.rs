//! `bench/run.sh`: container start latency against crun, runc and the
//! `unshare … chroot` floor; pull + unpack against skopeo + umoci; 50 containers
//! at once. Everything in one run on this machine, medians after warm-up.
//! Traffic stays on 127.0.0.1 (a local registry, see src/checks/fixture.rs).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use mini_docker::checks::fixture::{build_image, busybox_layer, Auth, LayerEntry, Registry};
use mini_docker::checks::random_hex;

struct Options {
    runs: usize,
    warmup: usize,
    concurrent: usize,
    /// Bytes per layer of the pull benchmark's 4-layer image.
    layer_bytes: usize,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str, default: usize| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1)?.parse().ok())
            .unwrap_or(default)
    };
    let quick = args.iter().any(|a| a == "--quick");
    Options {
        runs: value("--runs", if quick { 3 } else { 30 }),
        warmup: value("--warmup", if quick { 1 } else { 3 }),
        concurrent: value("--concurrent", if quick { 5 } else { 50 }),
        layer_bytes: if quick { 1 << 20 } else { 14 << 20 },
    }
}

/// Run `argv` `runs` times after `warmup` unmeasured runs; the median wall time.
fn median(argv: &[String], runs: usize, warmup: usize, before_each: &dyn Fn()) -> Result<Duration> {
    let mut times = Vec::new();
    for i in 0..warmup + runs {
        before_each();
        let started = Instant::now();
        let status = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()?;
        let took = started.elapsed();
        if !status.status.success() {
            bail!(
                "`{}` failed: {}",
                argv.join(" "),
                String::from_utf8_lossy(&status.stderr).trim()
            );
        }
        if i >= warmup {
            times.push(took);
        }
    }
    times.sort();
    Ok(times[times.len() / 2])
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// An OCI bundle for crun/runc: runc's default spec running /bin/true in `rootfs`.
fn bundle(dir: &Path, rootfs: &Path) -> Result<()> {
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
    spec["process"]["args"] = serde_json::json!(["/bin/true"]);
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

fn main() -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("the benchmark starts containers: run it as root (bench/run.sh uses sudo)");
    }
    let opts = options();
    let exe = std::env::current_exe()?.with_file_name("mini-docker");
    let work = std::env::temp_dir().join(format!("mini-docker-bench-{}", random_hex(4)));
    fs::create_dir_all(&work)?;
    let result = run_all(&opts, &exe, &work);
    let _ = Command::new(&exe)
        .args(["--state-dir"])
        .arg(work.join("state"))
        .arg("cleanup")
        .output();
    let _ = fs::remove_dir_all(&work);
    result
}

fn run_all(opts: &Options, exe: &Path, work: &Path) -> Result<()> {
    let registry = Registry::start(Auth::Token)?;
    let small = build_image(&[busybox_layer()?], serde_json::json!({}))?;
    registry.push(&small.dir, "single", "bench/busybox:1", None)?;
    let image = format!("{}/bench/busybox:1", registry.address());
    let state = work.join("state");
    let md = |args: &[&str]| -> Vec<String> {
        let mut v = vec![
            exe.display().to_string(),
            "--reference".into(),
            "--state-dir".into(),
            state.display().to_string(),
        ];
        v.extend(args.iter().map(|s| s.to_string()));
        v
    };
    let pulled = Command::new(&md(&[])[0])
        .args(&md(&["pull", "--unpack", &image])[1..])
        .output()?;
    if !pulled.status.success() {
        bail!("pull: {}", String::from_utf8_lossy(&pulled.stderr));
    }
    // The same busybox tree for everybody: the unpacked layer.
    let layer = fs::read_dir(state.join("layers"))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir() && !p.ends_with("l"))
        .context("unpacked layer")?;
    let rootfs = work.join("rootfs");
    Command::new("cp")
        .arg("-a")
        .arg(&layer)
        .arg(&rootfs)
        .status()?;
    let crun_bundle = work.join("crun");
    let runc_bundle = work.join("runc");
    bundle(&crun_bundle, &rootfs)?;
    bundle(&runc_bundle, &rootfs)?;
    let (runs, warmup) = (opts.runs, opts.warmup);
    let nothing = || {};

    println!(
        "start latency: median of {runs} runs after {warmup} warm-up, /bin/true, this machine"
    );
    let ours = median(
        &md(&["run", "--rm", "--network", "none", &image, "/bin/true"]),
        runs,
        warmup,
        &nothing,
    )?;
    // On a hybrid cgroup host crun refuses to start unless cgroup2 at unified/ is out of sight (the recipe).
    let wrap = |cmd: &str| {
        strings(&[
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            &format!("umount /sys/fs/cgroup/unified 2>/dev/null; exec {cmd}"),
        ])
    };
    let crun = median(
        &wrap(&format!(
            "crun run --bundle {} bench-crun",
            crun_bundle.display()
        )),
        runs,
        warmup,
        &nothing,
    )?;
    let wrapper = median(&wrap("/bin/true"), runs, warmup, &nothing)?;
    let runc = median(
        &strings(&[
            "runc",
            "run",
            "--bundle",
            &runc_bundle.display().to_string(),
            "bench-runc",
        ]),
        runs,
        warmup,
        &nothing,
    )?;
    let floor = median(
        &strings(&[
            "unshare",
            "--pid",
            "--fork",
            "--mount",
            "--uts",
            "--ipc",
            "--net",
            "chroot",
            &rootfs.display().to_string(),
            "/bin/true",
        ]),
        runs,
        warmup,
        &nothing,
    )?;
    let bridge = median(
        &md(&["run", "--rm", &image, "/bin/true"]),
        runs,
        warmup,
        &nothing,
    )?;
    let crun_net = crun.saturating_sub(wrapper);
    println!("{:<44} {:>9} {:>16}", "", "median", "ratio to ours");
    for (name, d) in [
        ("mini-docker run --rm --network none", ours),
        ("crun run (incl. unshare+umount wrapper)", crun),
        ("crun run (wrapper subtracted)", crun_net),
        ("runc run", runc),
        ("unshare --pid --mount ... chroot (floor)", floor),
        ("mini-docker run --rm (--network bridge)", bridge),
    ] {
        println!("{name:<44} {:>7.2} ms {:>15.2}x", ms(d), ms(d) / ms(ours));
    }

    // Pull + unpack of a 4-layer image, ~56 MiB uncompressed, into an empty store.
    let layers: Vec<Vec<(String, LayerEntry)>> = (0..4)
        .map(|i| {
            vec![(
                format!("data/blob{i}"),
                LayerEntry::File(data(opts.layer_bytes, 7 + i), 0o644),
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
    let pull_runs = runs.min(30);
    let ours_pull = median(
        &strings(&[
            &exe.display().to_string(),
            "--reference",
            "--state-dir",
            &fresh.display().to_string(),
            "pull",
            "--unpack",
            &big_image,
        ]),
        pull_runs,
        1,
        &reset,
    )?;
    let script = format!(
        "skopeo --insecure-policy copy --quiet --src-tls-verify=false docker://{big_image} oci:{0}/oci:big && umoci unpack --image {0}/oci:big {0}/bundle >/dev/null",
        fresh.display()
    );
    let theirs_pull = median(
        &strings(&[
            "sh",
            "-c",
            &format!("mkdir -p {} && {script}", fresh.display()),
        ]),
        pull_runs,
        1,
        &reset,
    )?;
    reset();
    println!(
        "\npull + unpack, 4 layers, {} MiB uncompressed, empty store, median of {pull_runs}",
        (4 * opts.layer_bytes) >> 20
    );
    println!(
        "{:<44} {:>7.0} ms",
        "mini-docker pull --unpack",
        ms(ours_pull)
    );
    println!(
        "{:<44} {:>7.0} ms {:>9.2}x slower",
        "skopeo copy + umoci unpack",
        ms(theirs_pull),
        ms(theirs_pull) / ms(ours_pull)
    );

    // N containers at once; their disk use.
    let n = opts.concurrent;
    let started = Instant::now();
    let children: Vec<_> = (0..n)
        .map(|i| {
            Command::new(&md(&[])[0])
                .args(
                    &md(&[
                        "run",
                        "--name",
                        &format!("bench-{i}"),
                        "--network",
                        "none",
                        &image,
                        "/bin/true",
                    ])[1..],
                )
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
    let image_kib = du_kib(&layer);
    println!("\n{n} containers at once: {:.0} ms in all, {failed} failed; {per_container:.0} KiB on disk each (image: {image_kib} KiB, shared)", ms(total));
    let _ = fs::remove_dir_all(state.join("containers"));
    let _ = fs::remove_dir_all(state.join("names"));
    let _: Option<PathBuf> = None;
    Ok(())
}
