//! Every chapter on a real cgroup v2 kernel, the workshop VM's kind. This host
//! is v1 hybrid, so: boot Debian's kernel under qemu (TCG, software emulation —
//! no KVM needed) once, from an initramfs made here holding mini-docker and
//! everything its checks use (busybox, the kernel modules, nft, docker-registry,
//! skopeo, mini-docker-fixture, each with its libraries). The VM runs each
//! chapter's checks in both directions — all-reference, then
//! `--reference=1-(N-1)` with the pristine exercise — and `run --rm IMAGE echo hi`
//! against a registry of its own on its 127.0.0.1, and prints every JSON report
//! on the serial console; each trial below reads its own. The VM has no network
//! card (`-nic none`): nothing it does leaves it.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;
use mini_docker::checks::fixture::{build_image, busybox_layer};
use mini_docker::workshop::CHAPTERS;

/// The whole VM session, boot to poweroff: ~3 min here (chapter 8's OOM and
/// CPU measurements and chapters 9-10's registries are most of it).
const VM_DEADLINE: Duration = Duration::from_secs(420);

/// The VM's first program: move out of the initramfs (pivot_root cannot leave
/// it: the initial rootfs has no parent mount), then the real work.
const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox mkdir -p /newroot
/bin/busybox mount -t tmpfs -o size=1200m root /newroot
/bin/busybox cp -a /bin /lib /lib64 /etc /modules /layout /stage2 /newroot/
/bin/busybox mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/tmp /newroot/root /newroot/var/tmp
exec /bin/busybox switch_root /newroot /stage2
"#;

/// Mounts, modules, loopback; then the chapters (appended by `stage2`).
const STAGE2_SETUP: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/shm /dev/pts
mount -t tmpfs shm /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmp /tmp
chmod 1777 /var/tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
for module in $(cat /modules/order); do
    insmod "/modules/$module" || echo "@@INSMOD-FAILED@@ $module"
done
ip link set lo up
hostname vm
echo "@@CONTROLLERS@@ $(cat /sys/fs/cgroup/cgroup.controllers)"
# One `mini-docker --state-dir STATE ARGS --format json`: its report, exit
# status, stderr's tail, and whatever it left behind (as tests/common checks on
# the host: containers, leases, mounts, cgroups, interfaces but the shared bridge).
check() {
    name=$1
    state=$2
    shift 2
    mini-docker --state-dir "$state" "$@" --format json > /tmp/report.json 2> /tmp/stderr.txt
    echo "@@EXIT $name $?@@"
    echo "@@REPORT $name@@"
    cat /tmp/report.json
    echo "@@END@@"
    echo "@@STDERR $name@@"
    tail -c 1500 /tmp/stderr.txt
    echo "@@END@@"
    echo "@@LEFT $name@@"
    for dir in "$state/containers" "$state/network/leases" "$state/mnt" "$state/rootfs/busybox/tmp"; do
        [ -d "$dir" ] && ls -A "$dir" | sed "s|^|$dir/|"
    done
    awk -v state="$state" 'index($5, state) == 1 { print "mount " $5 }' /proc/self/mountinfo
    [ -d /sys/fs/cgroup/mini-docker ] && find /sys/fs/cgroup/mini-docker -mindepth 1 -type d | sed 's/^/cgroup /'
    ls /sys/class/net | grep -v -x -e lo -e mdk0 | sed 's/^/interface /'
    echo "@@END@@"
}
"#;

/// `run --rm IMAGE echo hi`, pulled from a registry of the VM's own.
const SMOKE: &str = r#"
mkdir -p /tmp/registry
printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: /tmp/registry\nhttp:\n  addr: 127.0.0.1:5000\n' > /tmp/registry.yml
docker-registry serve /tmp/registry.yml > /tmp/registry.log 2>&1 &
registry=$!
for i in $(seq 100); do wget -q -O /dev/null http://127.0.0.1:5000/v2/ 2>/dev/null && break; sleep 0.2; done
HOME=/tmp skopeo --insecure-policy copy --quiet --dest-tls-verify=false oci:/layout:single docker://127.0.0.1:5000/smoke:latest
echo "@@PUSHED $?@@"
mini-docker --reference --state-dir /tmp/state-smoke run --rm 127.0.0.1:5000/smoke echo hi > /tmp/run.out 2> /tmp/run.err
echo "@@RUN-EXIT $?@@"
echo "@@RUN@@"
cat /tmp/run.out
echo "@@END@@"
echo "@@RUN-STDERR@@"
tail -c 1000 /tmp/run.err
echo "@@END@@"
kill $registry
"#;

/// Chapter 11's device allow-list on v2 (the BPF program), both ways: a block
/// device (loop0) and a char device (kmsg) off the list, made in the
/// container's own /dev and opened read-only; null and zero on it. (The VM has
/// no disk: a loop node shows the same refusal — EPERM from the program —
/// or, without it, ENXIO at worst when no loop device exists.) What a probe
/// left is what appeared during it: an earlier run's leftovers are its own.
const DEVICES: &str = r#"
cgroups() {
    [ -d /sys/fs/cgroup/mini-docker ] && find /sys/fs/cgroup/mini-docker -mindepth 1 -type d | sort
}
devices() {
    name=$1
    shift
    cgroups > /tmp/cgroups.before
    mini-docker --state-dir /tmp/state-devices-$name "$@" chapter 11 run -- sh -c '
for p in "loop b 7 0" "kmsg c 1 11" "null c 1 3" "zero c 1 5"; do
    set -- $p
    mknod /dev/probe-$1 $2 $3 $4 || echo "$1 mknod failed"
    if err=$(dd if=/dev/probe-$1 of=/dev/null bs=1 count=0 2>&1); then echo "$1 opened"; else echo "$1 $err"; fi
done' > /tmp/devices.out 2> /tmp/devices.err
    echo "@@DEVICES-EXIT $name $?@@"
    echo "@@DEVICES $name@@"
    cat /tmp/devices.out
    echo "@@END@@"
    echo "@@DEVICES-STDERR $name@@"
    tail -c 1000 /tmp/devices.err
    echo "@@END@@"
    echo "@@LEFT devices-$name@@"
    cgroups | grep -vxF -f /tmp/cgroups.before | sed 's/^/cgroup /'
    echo "@@END@@"
}
devices reference --reference
devices pristine --reference=1-10
echo "@@DOCTOR@@"
mini-docker --state-dir /tmp/state-doctor doctor | grep -E 'seccomp|devices'
echo "@@END@@"
"#;

/// MINI_DOCKER_VM_CHAPTERS=11 (or "8,11"): only those chapters run in the VM
/// (and only their trials exist) — a whole session takes minutes.
fn selected(chapter: u8) -> bool {
    match std::env::var("MINI_DOCKER_VM_CHAPTERS") {
        Ok(list) if !list.trim().is_empty() => list
            .split(',')
            .any(|n| n.trim().parse::<u8>().ok() == Some(chapter)),
        _ => true,
    }
}

/// The script the VM runs after switch_root: setup, every chapter both ways, the smoke test.
fn stage2() -> String {
    let mut script = STAGE2_SETUP.to_string();
    for chapter in CHAPTERS.iter().filter(|c| selected(c.number)) {
        let n = chapter.number;
        script += &format!("check ch{n:02}-reference /tmp/state-reference --reference check {n}\n");
        let selection = if n > 1 {
            format!("--reference=1-{} ", n - 1)
        } else {
            String::new()
        };
        script +=
            &format!("check ch{n:02}-pristine /tmp/state-pristine-{n} {selection}check {n}\n");
    }
    if selected(11) {
        script += DEVICES;
    }
    script += SMOKE;
    script += "echo @@DONE@@\npoweroff -f\n";
    script
}

fn newest_kernel() -> PathBuf {
    let mut kernels: Vec<PathBuf> = fs::read_dir("/boot")
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().contains("vmlinuz-"))
                .collect()
        })
        .unwrap_or_default();
    kernels.sort();
    kernels.pop().expect("no /boot/vmlinuz-*: install Debian's kernel (apt-get install linux-image-amd64; ./setup.sh --ci does)")
}

/// `/boot/vmlinuz-6.1.0-18-amd64` → `/lib/modules/6.1.0-18-amd64`.
fn modules_dir(kernel: &Path) -> PathBuf {
    let name = kernel.file_name().unwrap().to_string_lossy();
    let release = name.trim_start_matches("vmlinuz-");
    let dir = Path::new("/lib/modules").join(release);
    assert!(
        dir.join("modules.dep").is_file(),
        "{} has no modules.dep: the kernel package's modules are missing",
        dir.display()
    );
    dir
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Copy `file` into `root` at the same path.
fn install(root: &Path, file: &Path) {
    let target = root.join(file.strip_prefix("/").unwrap());
    fs::create_dir_all(target.parent().unwrap()).unwrap();
    fs::copy(file, &target).unwrap_or_else(|e| panic!("copy {}: {e}", file.display()));
}

/// The shared libraries a binary needs, from ldd (none for a static build:
/// ldd then says "not a dynamic executable" and fails).
fn libraries(binary: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(binary).output().expect("ldd");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
        .map(PathBuf::from)
        .collect()
}

/// A program from the host's PATH into the VM's /bin, with its libraries.
fn install_tool(root: &Path, name: &str, package: &str) {
    let path = ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{name} is not installed: apt-get install {package} (./setup.sh --ci does)")
        });
    fs::copy(&path, root.join("bin").join(name)).unwrap();
    for lib in libraries(&path) {
        install(root, &lib);
    }
}

/// Kernel modules the chapters use that Debian builds as modules (=m), by name.
const MODULES: [&str; 8] = [
    // nf_tables needs libcrc32c, and libcrc32c a crc32c implementation that
    // modules.dep does not list (modules.softdep's "pre: crc32c"): the generic one.
    "crc32c_generic",
    "overlay",       // chapter 10: the image's layers
    "veth",          // chapter 6: the container's link
    "bridge",        // chapter 6: mdk0
    "nf_tables",     // chapter 6: outbound NAT (nft) ...
    "nft_chain_nat", // ... its `type nat` chain
    "nft_masq",      // ... masquerade
    "nft_ct",        // ... `ct state established,related`
];

/// modules.dep: module path → every module it needs (the whole closure).
fn module_deps(dir: &Path) -> BTreeMap<String, Vec<String>> {
    fs::read_to_string(dir.join("modules.dep"))
        .unwrap()
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(module, deps)| {
            let deps = deps.split_whitespace().map(str::to_string).collect();
            (module.to_string(), deps)
        })
        .collect()
}

/// `module` after everything it needs, each once (modprobe's order, without modprobe).
fn load_order(module: &str, deps: &BTreeMap<String, Vec<String>>, order: &mut Vec<String>) {
    if order.iter().any(|m| m == module) {
        return;
    }
    // modules.dep lists a module's needs deepest last: load from the end.
    for dep in deps[module].iter().rev() {
        load_order(dep, deps, order);
    }
    order.push(module.to_string());
}

/// The modules, decompressed (busybox insmod reads plain .ko), into /modules
/// with /modules/order naming them in the order to insmod.
fn install_modules(root: &Path, kernel: &Path) {
    let dir = modules_dir(kernel);
    let deps = module_deps(&dir);
    let mut order = Vec::new();
    for name in MODULES {
        let module = deps
            .keys()
            .find(|path| {
                let file = path.rsplit('/').next().unwrap();
                file.split('.').next() == Some(name)
            })
            .unwrap_or_else(|| {
                panic!(
                    "module {name} is not in {}/modules.dep (built in? then drop it from MODULES)",
                    dir.display()
                )
            });
        load_order(module, &deps, &mut order);
    }
    fs::create_dir_all(root.join("modules")).unwrap();
    let mut names = Vec::new();
    for module in &order {
        let source = dir.join(module);
        let file = module.rsplit('/').next().unwrap();
        let (name, decompress) = match file.rsplit_once('.') {
            Some((stem, "xz")) => (stem.to_string(), Some("xz")),
            Some((stem, "zst")) => (stem.to_string(), Some("zstd")),
            Some((stem, "gz")) => (stem.to_string(), Some("gzip")),
            _ => (file.to_string(), None),
        };
        let bytes = match decompress {
            Some(tool) => run(Command::new(tool).arg("-dc").arg(&source)).stdout,
            None => fs::read(&source).unwrap(),
        };
        fs::write(root.join("modules").join(&name), bytes).unwrap();
        names.push(name);
    }
    fs::write(root.join("modules/order"), names.join("\n") + "\n").unwrap();
}

/// /etc as the checks expect it: nobody exists (chapter 7 runs as uid 65534).
fn install_etc(root: &Path) {
    fs::create_dir_all(root.join("etc")).unwrap();
    for (file, text) in [
        (
            "passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        ),
        ("group", "root:x:0:\nnogroup:x:65534:\n"),
        ("hosts", "127.0.0.1\tlocalhost\n"),
        ("resolv.conf", "nameserver 127.0.0.1\n"),
    ] {
        fs::write(root.join("etc").join(file), text).unwrap();
    }
}

/// The smoke test's image, an OCI layout (ref "single") for skopeo to push in the VM.
fn install_layout(root: &Path) {
    let layout = build_image(&[busybox_layer().unwrap()], serde_json::json!({})).unwrap();
    run(Command::new("cp")
        .arg("-a")
        .arg(&layout.dir)
        .arg(root.join("layout")));
}

fn build_initramfs(dir: &Path, kernel: &Path) -> PathBuf {
    let root = dir.join("root");
    for sub in ["bin", "lib", "lib64"] {
        fs::create_dir_all(root.join(sub)).unwrap(); // INIT copies all three
    }
    // Stripped copies: the debug builds' symbols would make the image ~100 MB.
    // The fixture (the token server of chapters 9 and 10) is found beside mini-docker.
    let fixture = Path::new(BIN).with_file_name("mini-docker-fixture");
    assert!(
        fixture.is_file(),
        "{} is not built: run `cargo build` at the top of the project",
        fixture.display()
    );
    for (binary, name) in [
        (Path::new(BIN), "mini-docker"),
        (&*fixture, "mini-docker-fixture"),
    ] {
        run(Command::new("strip")
            .arg("-o")
            .arg(root.join("bin").join(name))
            .arg(binary));
        for lib in libraries(binary) {
            install(&root, &lib);
        }
    }
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(Path::new)
        .find(|p| p.exists())
        .expect("busybox-static");
    fs::copy(busybox, root.join("bin/busybox")).unwrap();
    install_tool(&root, "nft", "nftables");
    install_tool(&root, "docker-registry", "docker-registry");
    install_tool(&root, "skopeo", "skopeo");
    install_modules(&root, kernel);
    install_etc(&root);
    install_layout(&root);
    for (name, text) in [("init", INIT.to_string()), ("stage2", stage2())] {
        fs::write(root.join(name), text).unwrap();
        fs::set_permissions(root.join(name), fs::Permissions::from_mode(0o755)).unwrap();
    }
    let image = dir.join("initramfs.cpio");
    let archive = fs::File::create(&image).unwrap();
    let files = run(Command::new("find").arg(".").current_dir(&root));
    let mut cpio = Command::new("cpio")
        .args(["-o", "-H", "newc", "--quiet"])
        .current_dir(&root)
        .stdin(Stdio::piped())
        .stdout(archive)
        .spawn()
        .expect("cpio (apt-get install cpio)");
    std::io::Write::write_all(cpio.stdin.as_mut().unwrap(), &files.stdout).unwrap();
    drop(cpio.stdin.take());
    assert!(cpio.wait().unwrap().success());
    image
}

/// Boot, and return everything the VM printed on its serial console.
fn boot(kernel: &Path, initramfs: &Path) -> String {
    let mut vm = Command::new("qemu-system-x86_64")
        .args([
            "-accel",
            "tcg",
            "-m",
            "2048",
            "-smp",
            "2",
            "-nographic",
            "-no-reboot",
            // No network card: every registry, server and client is on the VM's own loopback.
            "-nic",
            "none",
        ])
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initramfs)
        .args([
            "-append",
            "console=ttyS0 quiet loglevel=1 panic=-1 rdinit=/init",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("qemu-system-x86_64 (apt-get install qemu-system-x86; ./setup.sh --ci does)");
    let mut stdout = vm.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stdout.read_to_end(&mut text);
        String::from_utf8_lossy(&text).into_owned()
    });
    let deadline = Instant::now() + VM_DEADLINE;
    while vm.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = vm.kill();
            let _ = vm.wait();
            panic!(
                "the VM did not finish within {} s:\n{}",
                VM_DEADLINE.as_secs(),
                reader.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    reader.join().unwrap()
}

/// What the one VM session printed, and how long it took.
struct Session {
    console: String,
    seconds: f64,
}

/// The VM boots once, for all the trials (the others wait for the first).
/// A failed boot is kept as its message, so it is not retried by every trial.
fn session() -> &'static Session {
    static SESSION: OnceLock<Result<Session, String>> = OnceLock::new();
    let session = SESSION.get_or_init(|| {
        std::panic::catch_unwind(|| {
            let started = Instant::now();
            let dir = StateDir::new("v2vm");
            let kernel = newest_kernel();
            let initramfs = build_initramfs(dir.path(), &kernel);
            let console = boot(&kernel, &initramfs);
            // MINI_DOCKER_VM_CONSOLE=FILE keeps the whole console, to read a failure in full.
            if let Some(file) = std::env::var_os("MINI_DOCKER_VM_CONSOLE") {
                fs::write(&file, &console).expect("write MINI_DOCKER_VM_CONSOLE");
            }
            let seconds = started.elapsed().as_secs_f64();
            println!("cgroup v2 VM ({}): {seconds:.0} s", kernel.display());
            Session { console, seconds }
        })
        .map_err(|panic| panic_message(&*panic))
    });
    match session {
        Ok(session) => session,
        Err(message) => panic!("the VM session failed: {message}"),
    }
}

/// The text between `marker` and the next @@END@@.
fn section<'a>(console: &'a str, marker: &str) -> Option<&'a str> {
    console
        .split(marker)
        .nth(1)
        .and_then(|rest| rest.split("@@END@@").next())
}

/// One `check` run's JSON report; panics with its stderr if there is none.
fn report(console: &str, name: &str) -> serde_json::Value {
    let text = section(console, &format!("@@REPORT {name}@@"))
        .unwrap_or_else(|| panic!("no {name} report from the VM:\n{console}"));
    let stderr = section(console, &format!("@@STDERR {name}@@")).unwrap_or("");
    serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("bad {name} report ({e}): {text}\nstderr: {stderr}"))
}

/// What a `check` run left behind in the VM: nothing, or its list.
fn assert_nothing_left(console: &str, name: &str) {
    let left = section(console, &format!("@@LEFT {name}@@"))
        .unwrap_or_else(|| panic!("no @@LEFT {name}@@ from the VM:\n{console}"));
    assert!(
        left.trim().is_empty(),
        "{name} left behind in the VM:\n{}",
        left.trim()
    );
}

fn checks_of(report: &serde_json::Value) -> Vec<(String, bool, String)> {
    report["chapters"][0]["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("no checks in {report}"))
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["passed"].as_bool().unwrap(),
                c["message"].to_string(),
            )
        })
        .collect()
}

fn setup_worked() {
    let console = &session().console;
    let controllers = console
        .lines()
        .find_map(|l| l.split("@@CONTROLLERS@@").nth(1))
        .unwrap_or_else(|| panic!("the VM never ran its init:\n{console}"));
    for c in ["memory", "pids", "cpu"] {
        assert!(
            controllers.split_whitespace().any(|x| x == c),
            "cgroup2 in the VM lacks {c}: {controllers}"
        );
    }
    let failed: Vec<&str> = console
        .lines()
        .filter_map(|l| l.split("@@INSMOD-FAILED@@ ").nth(1))
        .collect();
    assert!(failed.is_empty(), "insmod failed in the VM: {failed:?}");
    assert!(
        console.contains("@@DONE@@"),
        "the VM did not reach the end of its script:\n{console}"
    );
}

fn reference_passes(chapter: u8) {
    let console = &session().console;
    let checks = checks_of(&report(console, &format!("ch{chapter:02}-reference")));
    assert!(
        checks.len() >= 4,
        "chapter {chapter} has only {} checks",
        checks.len()
    );
    for (id, passed, message) in &checks {
        assert!(
            passed,
            "on cgroup v2, the reference fails check {id}: {message}"
        );
    }
    assert_nothing_left(console, &format!("ch{chapter:02}-reference"));
    println!(
        "VM, chapter {chapter}: reference passes all {} checks",
        checks.len()
    );
}

fn pristine_exercise_fails(chapter: u8, exercise: &str) {
    let source = fs::read_to_string(format!("{}/{exercise}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    assert!(
        source.contains("todo!(") && source.contains(&format!("TODO(ch{chapter:02})")),
        "{exercise} is no longer pristine (its todo!()s are gone): this test proves the shipped \
         exercise fails; run it on a clean checkout (git stash)"
    );
    let console = &session().console;
    let checks = checks_of(&report(console, &format!("ch{chapter:02}-pristine")));
    assert!(!checks.is_empty(), "chapter {chapter} has no checks");
    for (id, passed, _) in &checks {
        assert!(
            !passed,
            "on cgroup v2, check {id} passes with the pristine {exercise}: it proves nothing"
        );
    }
    assert!(
        checks[0].2.contains(exercise),
        "failure should name {exercise}, got {}",
        checks[0].2
    );
    assert_nothing_left(console, &format!("ch{chapter:02}-pristine"));
    println!(
        "VM, chapter {chapter}: pristine exercise fails all {} checks",
        checks.len()
    );
}

/// One device probe run in the VM: what each node's open gave.
fn device_outcomes(name: &str) -> BTreeMap<String, String> {
    let console = &session().console;
    let output = section(console, &format!("@@DEVICES {name}@@"))
        .unwrap_or_else(|| panic!("no device probe {name} from the VM:\n{console}"));
    let stderr = section(console, &format!("@@DEVICES-STDERR {name}@@")).unwrap_or("");
    assert!(
        console.contains(&format!("@@DEVICES-EXIT {name} 0@@")),
        "the {name} device probe failed in the VM: {output}\nstderr: {stderr}"
    );
    assert!(
        !output.contains("mknod failed"),
        "mknod is allowed (CAP_MKNOD, 'c *:* m'): {output}\nstderr: {stderr}"
    );
    assert_nothing_left(console, &format!("devices-{name}"));
    output
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(node, rest)| (node.to_string(), rest.to_string()))
        .collect()
}

fn devices_reference_refuses() {
    let opened = device_outcomes("reference");
    for node in ["null", "zero"] {
        assert_eq!(
            opened.get(node).map(String::as_str),
            Some("opened"),
            "{opened:?}"
        );
    }
    for node in ["loop", "kmsg"] {
        assert!(
            opened
                .get(node)
                .is_some_and(|e| e.contains("Operation not permitted")),
            "on cgroup v2, {node} must be refused by the device program (EPERM): {opened:?}"
        );
    }
    println!("VM, chapter 11: the BPF device filter refuses loop0 and kmsg, opens null and zero");
}

fn devices_pristine_opens() {
    let opened = device_outcomes("pristine");
    assert_eq!(
        opened.get("kmsg").map(String::as_str),
        Some("opened"),
        "{opened:?}"
    );
    assert!(
        opened
            .get("loop")
            .is_some_and(|e| !e.contains("Operation not permitted")),
        "without the step nothing refuses loop0: {opened:?}"
    );
    println!("VM, chapter 11: without restrict_devices, kmsg opens and loop0 is not refused");
}

fn doctor_reports_the_bpf_filter() {
    let console = &session().console;
    let lines = section(console, "@@DOCTOR@@")
        .unwrap_or_else(|| panic!("no doctor output from the VM:\n{console}"));
    for needle in [
        "ok      devices: cgroup v2 BPF_PROG_TYPE_CGROUP_DEVICE program loads",
        "builds a filter",
    ] {
        assert!(
            lines.contains(needle),
            "doctor in the VM lacks {needle:?}:\n{lines}"
        );
    }
}

fn run_image_says_hi() {
    let console = &session().console;
    assert!(
        console.contains("@@PUSHED 0@@"),
        "skopeo could not push the smoke test's image in the VM:\n{console}"
    );
    let output = section(console, "@@RUN@@")
        .unwrap_or_else(|| panic!("the VM did not run the image:\n{console}"));
    let stderr = section(console, "@@RUN-STDERR@@").unwrap_or("");
    assert!(
        console.contains("@@RUN-EXIT 0@@") && output.trim() == "hi",
        "`mini-docker run --rm IMAGE echo hi` in the VM printed {output:?}, stderr: {stderr}"
    );
    println!(
        "VM: run --rm IMAGE echo hi printed hi; the whole VM session took {:.0} s",
        session().seconds
    );
}

/// One trial per chapter and direction, from the chapter table, as
/// tests/chapters.rs does on the host; all read the one VM session.
fn main() {
    let args = libtest_mimic::Arguments::from_args();
    let mut trials = vec![libtest_mimic::Trial::test(
        "vm_boots_with_cgroup2_and_modules",
        || catch(setup_worked),
    )];
    for chapter in CHAPTERS.iter().filter(|c| selected(c.number)) {
        let n = chapter.number;
        let exercise = chapter.exercise_file();
        trials.push(libtest_mimic::Trial::test(
            format!("vm_ch{n:02}_reference_passes"),
            move || catch(|| reference_passes(n)),
        ));
        trials.push(libtest_mimic::Trial::test(
            format!("vm_ch{n:02}_pristine_exercise_fails"),
            move || catch(|| pristine_exercise_fails(n, &exercise)),
        ));
    }
    if selected(11) {
        trials.push(libtest_mimic::Trial::test(
            "vm_ch11_devices_reference_refuses_off_list",
            || catch(devices_reference_refuses),
        ));
        trials.push(libtest_mimic::Trial::test(
            "vm_ch11_devices_pristine_opens",
            || catch(devices_pristine_opens),
        ));
        trials.push(libtest_mimic::Trial::test(
            "vm_doctor_reports_seccomp_and_the_bpf_device_filter",
            || catch(doctor_reports_the_bpf_filter),
        ));
    }
    trials.push(libtest_mimic::Trial::test("vm_run_image_echo_hi", || {
        catch(run_image_says_hi)
    }));
    libtest_mimic::run(&args, trials).exit();
}

/// The assertions above panic, as in a #[test]; a trial reports a failure.
fn catch(test: impl FnOnce() + std::panic::UnwindSafe) -> Result<(), libtest_mimic::Failed> {
    std::panic::catch_unwind(test).map_err(|panic| panic_message(&*panic).into())
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panicked".into())
}
