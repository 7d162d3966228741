//! Chapter 8 on a real cgroup v2 kernel. This host is v1 hybrid; workshop VMs
//! are v2. So: boot Debian's kernel under qemu (TCG, software emulation — no
//! KVM needed) from an initramfs holding mini-docker (and its libraries, if any) and
//! busybox; the VM mounts cgroup2 with every controller, runs `mini-docker
//! check 8` and prints the JSON report on the serial console, which we read.

mod common;

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The VM's first program: move out of the initramfs (pivot_root cannot leave
/// it: the initial rootfs has no parent mount), then the real work.
const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox mkdir -p /newroot
/bin/busybox mount -t tmpfs -o size=400m root /newroot
/bin/busybox cp -a /bin /lib /lib64 /stage2 /newroot/
/bin/busybox mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/tmp
exec /bin/busybox switch_root /newroot /stage2
"#;

const STAGE2: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo "@@CONTROLLERS@@ $(cat /sys/fs/cgroup/cgroup.controllers)"
/bin/mini-docker --reference --state-dir /tmp/state check 8 --format json > /tmp/report.json 2> /tmp/stderr.txt
echo "@@EXIT@@ $?"
echo "@@REPORT@@"
cat /tmp/report.json
echo "@@END@@"
cat /tmp/stderr.txt
/bin/mini-docker --reference=1-7 --state-dir /tmp/state check 8 --format json > /tmp/pristine.json 2>/dev/null
echo "@@PRISTINE@@"
cat /tmp/pristine.json
echo "@@END@@"
poweroff -f
"#;

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

/// The shared libraries a binary needs, from ldd (none for the usual static
/// build: ldd then says "not a dynamic executable" and fails).
fn libraries(binary: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(binary).output().expect("ldd");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
        .map(PathBuf::from)
        .collect()
}

fn build_initramfs(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    for sub in ["bin", "lib", "lib64"] {
        fs::create_dir_all(root.join(sub)).unwrap(); // INIT copies all three
    }
    // A stripped copy: the debug build's symbols would make the image ~60 MB.
    run(Command::new("strip")
        .arg("-o")
        .arg(root.join("bin/mini-docker"))
        .arg(BIN));
    for lib in libraries(Path::new(BIN)) {
        install(&root, &lib);
    }
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(Path::new)
        .find(|p| p.exists())
        .expect("busybox-static");
    fs::copy(busybox, root.join("bin/busybox")).unwrap();
    for (name, text) in [("init", INIT), ("stage2", STAGE2)] {
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
            "1024",
            "-smp",
            "2",
            "-nographic",
            "-no-reboot",
        ])
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initramfs)
        .args(["-append", "console=ttyS0 quiet panic=-1 rdinit=/init"])
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
    let deadline = Instant::now() + Duration::from_secs(170);
    while vm.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = vm.kill();
            let _ = vm.wait();
            panic!(
                "the VM did not finish within 170 s:\n{}",
                reader.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    reader.join().unwrap()
}

/// The JSON report printed between `marker` and @@END@@.
fn section(console: &str, marker: &str) -> serde_json::Value {
    let text = console
        .split(marker)
        .nth(1)
        .and_then(|rest| rest.split("@@END@@").next())
        .unwrap_or_else(|| panic!("no {marker} report from the VM:\n{console}"));
    serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("bad {marker} report ({e}):\n{console}"))
}

#[test]
fn chapter_8_checks_pass_on_a_cgroup_v2_kernel() {
    let started = Instant::now();
    let dir = StateDir::new("v2vm");
    let kernel = newest_kernel();
    let initramfs = build_initramfs(dir.path());
    let console = boot(&kernel, &initramfs);
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
    let report = section(&console, "@@REPORT@@");
    let checks = report["chapters"][0]["checks"].as_array().expect("checks");
    assert_eq!(
        checks.len(),
        mini_docker::checks::for_chapter(8).len(),
        "{report}"
    );
    for check in checks {
        assert_eq!(
            check["passed"], true,
            "on cgroup v2, check {} fails: {}\n{console}",
            check["id"], check["message"]
        );
    }
    let pristine = section(&console, "@@PRISTINE@@");
    let pristine_checks = pristine["chapters"][0]["checks"]
        .as_array()
        .expect("checks");
    for check in pristine_checks {
        assert_eq!(
            check["passed"], false,
            "on cgroup v2, check {} passes with the pristine exercise",
            check["id"]
        );
    }
    println!(
        "cgroup v2 VM ({}): chapter 8 reference passed {}/{} checks, pristine exercise failed all; {:.0} s",
        kernel.display(),
        checks.len(),
        checks.len(),
        started.elapsed().as_secs_f64()
    );
}
