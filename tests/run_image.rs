//! Chapter 10: `mini-docker run IMAGE` against images pushed to a real
//! registry: the image config honoured, whiteouts and opaque directories,
//! copy-on-write, many layers, --rm, names, and 10 containers at once that
//! leave nothing behind.

mod common;

use std::fs;

use common::*;
use mini_docker::checks::fixture::{
    build_image, busybox_layer, whiteout_layers, Auth, LayerEntry, Registry,
};

fn file(path: &str, text: &str) -> (String, LayerEntry) {
    (
        path.to_string(),
        LayerEntry::File(text.as_bytes().to_vec(), 0o644),
    )
}

fn dir(path: &str) -> (String, LayerEntry) {
    (path.to_string(), LayerEntry::Dir(0o755))
}

fn run(state: &StateDir, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--reference", "run", "--network", "none"];
    all.extend_from_slice(args);
    mini_docker(state, &all)
}

#[test]
fn the_image_config_is_honoured_and_flags_override_it() {
    require_root();
    let _serial = serial();
    let registry = Registry::start(Auth::Token).unwrap();
    let config = serde_json::json!({
        "Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo cmd=default; pwd; id -u; echo $GREETING"],
        "Env": ["PATH=/bin", "GREETING=hello"], "WorkingDir": "/work", "User": "nobody",
    });
    let layout = build_image(&[busybox_layer().unwrap()], config).unwrap();
    registry
        .push(&layout.dir, "single", "run/config:1", None)
        .unwrap();
    let state = StateDir::new("runconfig");
    let before = HostSnapshot::take();
    let image = format!("{}/run/config:1", registry.address());
    let out = run(&state, &["--rm", &image]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "cmd=default\n/work\n65534\nhello\n",
        "Entrypoint + Cmd, WorkingDir, User, Env"
    );
    let out = run(
        &state,
        &[
            "--rm",
            "-e",
            "GREETING=bye",
            "-w",
            "/tmp",
            "-u",
            "0:0",
            &image,
            "echo override; pwd; id -u; echo $GREETING",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "override\n/tmp\n0\nbye\n",
        "CMD, -w, -u and -e override the image"
    );
    let out = run(&state, &["--rm", &image, "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    HostSnapshot::assert_clean_since(&before, "run with --rm");
    assert!(
        fs::read_dir(state.path().join("containers"))
            .map(|d| d.count())
            .unwrap_or(0)
            == 0,
        "--rm leaves no container dir"
    );
}

#[test]
fn whiteouts_opaque_dirs_and_copy_on_write() {
    require_root();
    let _serial = serial();
    let registry = Registry::start(Auth::Token).unwrap();
    let lower = vec![
        dir("data"),
        file("data/keep", "keep"),
        file("data/gone", "gone"),
        dir("opaque"),
        file("opaque/old", "old"),
        file("shared", "original"),
    ];
    let upper = vec![
        file("data/.wh.gone", ""),
        dir("opaque"),
        file("opaque/.wh..wh..opq", ""),
        file("opaque/new", "new"),
    ];
    let layout = build_image(
        &[busybox_layer().unwrap(), lower, upper],
        serde_json::json!({}),
    )
    .unwrap();
    registry
        .push(&layout.dir, "single", "run/layers:1", None)
        .unwrap();
    let state = StateDir::new("runlayers");
    let image = format!("{}/run/layers:1", registry.address());
    let out = run(
        &state,
        &[
            "--rm",
            &image,
            "sh",
            "-c",
            "ls /data; echo --; ls -a /opaque",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "keep\n--\n.\n..\nnew\n",
        "whiteout removes data/gone, the opaque dir hides old, markers never show"
    );

    // Container A changes a file of the image; B and the layer on disk do not see it.
    let out = run(
        &state,
        &[
            "--name",
            "cow-a",
            &image,
            "sh",
            "-c",
            "echo changed > /shared; cat /shared",
        ],
    );
    assert_eq!(stdout(&out), "changed\n", "{}", stderr(&out));
    let out = run(&state, &["--rm", &image, "sh", "-c", "cat /shared"]);
    assert_eq!(
        stdout(&out),
        "original",
        "another container sees the image's file"
    );
    let layers = state.path().join("layers");
    let on_disk: Vec<String> = fs::read_dir(&layers)
        .unwrap()
        .flatten()
        .filter_map(|e| fs::read_to_string(e.path().join("shared")).ok())
        .collect();
    assert_eq!(
        on_disk,
        vec!["original".to_string()],
        "the unpacked layer is untouched"
    );
    // A kept its writable layer (no --rm), with the change in it; the name is taken.
    let kept: Vec<_> = fs::read_dir(state.path().join("containers"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        fs::read_to_string(kept[0].path().join("upper/shared")).unwrap(),
        "changed\n"
    );
    let out = run(&state, &["--name", "cow-a", &image, "sh", "-c", "true"]);
    assert!(
        !out.status.success() && stderr(&out).contains("already in use"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn many_layers_stack() {
    require_root();
    let _serial = serial();
    let registry = Registry::start(Auth::Token).unwrap();
    let mut layers = vec![busybox_layer().unwrap()];
    for i in 0..40 {
        layers.push(vec![
            file(&format!("layer{i:02}"), &i.to_string()),
            file("top", &i.to_string()),
        ]);
    }
    let layout = build_image(&layers, serde_json::json!({})).unwrap();
    registry
        .push(&layout.dir, "single", "run/many:1", None)
        .unwrap();
    let state = StateDir::new("runmany");
    let image = format!("{}/run/many:1", registry.address());
    let out = run(
        &state,
        &["--rm", &image, "sh", "-c", "ls / | grep -c layer; cat /top"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "40\n39",
        "41 layers: every file there, the top layer wins"
    );
}

#[test]
fn ten_containers_in_parallel_leave_nothing_behind() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("run/par:1");
    let state = StateDir::new("runpar");
    assert!(
        run(&state, &["--rm", &image, "sh", "-c", "true"])
            .status
            .success(),
        "pull first"
    );
    let before = HostSnapshot::take();
    let outputs: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..10)
            .map(|i| {
                let (state, image) = (&state, &image);
                s.spawn(move || {
                    let name = format!("par-{i}");
                    mini_docker(
                        state,
                        &[
                            "--reference",
                            "run",
                            "--rm",
                            "--name",
                            &name,
                            "-m",
                            "64m",
                            image,
                            "sh",
                            "-c",
                            "hostname; echo $$",
                        ],
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut hostnames = std::collections::BTreeSet::new();
    for out in &outputs {
        assert!(out.status.success(), "{}", stderr(out));
        let text = stdout(out);
        let mut lines = text.lines();
        hostnames.insert(lines.next().unwrap().to_string());
        assert_eq!(lines.next(), Some("1"));
    }
    assert_eq!(hostnames.len(), 10, "distinct containers");
    HostSnapshot::assert_clean_since(&before, "10 parallel containers");
    assert_eq!(
        fs::read_dir(state.path().join("containers"))
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
    let names = fs::read_dir(state.path().join("names"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(names, 0, "--rm releases the names");
}

/// Every container mounts its overlay on the same directory, STATE/mnt, each
/// in its own mount namespace: two at once never meet, and the host sees an
/// empty directory with nothing mounted on it, while they run and after.
#[test]
fn containers_share_one_mount_point_the_host_never_sees() {
    use std::io::BufRead;
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("run/mnt:1");
    let state = StateDir::new("runmnt");
    let before = HostSnapshot::take();
    let script = "touch /first-was-here && echo ready && sleep 2";
    let args = ["--reference", "run", "--rm", "--network", "none", &image];
    let mut first = mini_docker_command(&state, &args)
        .args(["sh", "-c", script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    std::io::BufReader::new(first.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "ready", "the first container started");
    let mnt = state.path().join("mnt");
    let host_mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mnt_text = format!(" {} ", mnt.display());
    assert!(
        !host_mounts.contains(&mnt_text),
        "the host sees a mount on {}:\n{host_mounts}",
        mnt.display()
    );
    assert_eq!(
        fs::read_dir(&mnt).unwrap().count(),
        0,
        "the host's mnt is empty"
    );
    let script = "test ! -e /first-was-here && echo isolated; /bin/busybox grep ' / / ' /proc/self/mountinfo";
    let second = run(&state, &["--rm", &image, "sh", "-c", script]);
    assert!(second.status.success(), "{}", stderr(&second));
    let text = stdout(&second);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("isolated"), "{text}");
    let root = lines.next().unwrap_or_default();
    assert!(
        root.contains(" - overlay "),
        "the second one's root: {root}"
    );
    assert!(first.wait().unwrap().success());
    assert_eq!(fs::read_dir(&mnt).unwrap().count(), 0);
    HostSnapshot::assert_clean_since(&before, "two containers on one mount point");
    assert_state_dir_clean(&state);
}

/// `run -it`: a real terminal — /dev/pts/0 inside, Ctrl-C interrupts the
/// foreground job (not the shell), the exit status comes back.
#[test]
fn run_it_gives_a_terminal_where_ctrl_c_works() {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("run/tty:1");
    let state = StateDir::new("runtty");
    assert!(
        run(&state, &["--rm", &image, "true"]).status.success(),
        "pull first"
    );
    let before = HostSnapshot::take();
    // Our own pty stands in for the user's terminal.
    let pty = nix::pty::openpty(None, None).unwrap();
    let slave = pty.slave.as_raw_fd();
    // SAFETY: pre_exec runs in the forked child before exec; setsid and ioctl
    // are async-signal-safe, and `slave` stays open (the Command holds dups).
    let mut child = unsafe {
        std::process::Command::new(BIN)
            .args(["--reference", "--state-dir"])
            .arg(state.path())
            .args(["run", "-it", "--rm", "--network", "none", &image, "sh"])
            .stdin(std::process::Stdio::from(pty.slave.try_clone().unwrap()))
            .stdout(std::process::Stdio::from(pty.slave.try_clone().unwrap()))
            .stderr(std::process::Stdio::from(pty.slave.try_clone().unwrap()))
            .pre_exec(move || {
                nix::unistd::setsid().map_err(std::io::Error::from)?;
                if libc::ioctl(slave, libc::TIOCSCTTY, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })
            .spawn()
            .unwrap()
    };
    drop(pty.slave);
    let mut master = std::fs::File::from(pty.master);
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let mut reader = master.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = reader.read(&mut buf) {
            let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    });
    let mut seen = String::new();
    let mut expect = |needle: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !seen.contains(needle) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(text) => seen.push_str(&text),
                Err(_) => panic!("never saw {needle:?}; the terminal showed:\n{seen}"),
            }
        }
        seen.clear();
    };
    master.write_all(b"tty\n").unwrap();
    expect("/dev/pts/0");
    master.write_all(b"sleep 100\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    master.write_all(&[0x03]).unwrap(); // Ctrl-C
    master.write_all(b"echo after-$((40+2))\n").unwrap();
    expect("after-42");
    master.write_all(b"exit 3\n").unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3));
    HostSnapshot::assert_clean_since(&before, "run -it");
}

/// `run --userns IMAGE`: layers unpacked with shifted owners (userns-remap),
/// so container root owns the image's files, can write, and is 100000 outside;
/// whiteouts and opaque dirs still work (overlay's userxattr).
#[test]
fn run_with_userns_remaps_the_image() {
    use std::os::unix::fs::MetadataExt;
    require_root();
    let _serial = serial();
    let registry = Registry::start(Auth::Token).unwrap();
    let mut layers = vec![busybox_layer().unwrap()];
    layers.extend(whiteout_layers());
    let layout = build_image(&layers, serde_json::json!({})).unwrap();
    registry
        .push(&layout.dir, "single", "run/userns:1", None)
        .unwrap();
    let state = StateDir::new("runuserns");
    let image = format!("{}/run/userns:1", registry.address());
    let before = HostSnapshot::take();
    let script = "id -u; stat -c %u:%g /bin/busybox; echo hi > /data/new; cat /data/new; ls /data; ls -a /opaque";
    let out = run(
        &state,
        &["--userns", "--name", "remapped", &image, "sh", "-c", script],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "0\n0:0\nhi\nkeep\nnew\n.\n..\nnew\n",
        "stderr: {}",
        stderr(&out)
    );
    let containers: Vec<_> = fs::read_dir(state.path().join("containers"))
        .unwrap()
        .flatten()
        .collect();
    let written = containers[0].path().join("upper/data/new");
    assert_eq!(
        fs::metadata(&written).unwrap().uid(),
        100_000,
        "container root is uid 100000 on the host"
    );
    HostSnapshot::assert_clean_since(&before, "run --userns");
}

/// STATE/containers is made in a block group of its own (ext4 spreads the
/// children of a "top directory"; mini-docker sets that flag on the state dir
/// for one mkdir, under a temporary name it then renames, and puts the flag
/// back): on a filesystem without a journal, an image deleted beside the
/// containers would make every new inode of a start walk past thousands freed
/// a moment ago (core/src/runtime/placement.rs; README, Benchmarks).
#[test]
fn containers_get_a_block_group_apart_and_the_state_dir_keeps_its_flags() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("run/group:1");
    let state = StateDir::new("rungroup");
    let out = run(&state, &["--rm", &image, "true"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let temporaries = |state: &StateDir| {
        fs::read_dir(state.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".new-"))
            .count()
    };
    assert_eq!(
        temporaries(&state),
        0,
        "containers/ was made under a temporary name, then renamed"
    );
    // One a mini-docker killed between its mkdir and rename would leave: cleanup takes it.
    fs::create_dir(state.path().join(".new-1-2")).unwrap();
    let cleanup = mini_docker(&state, &["cleanup"]);
    assert!(cleanup.status.success(), "{}", stderr(&cleanup));
    assert_eq!(
        temporaries(&state),
        0,
        "cleanup removes a leftover .new-* dir"
    );
    let lsattr = command_output("lsattr", &["-d", &state.path().display().to_string()]);
    let flags = lsattr.split_whitespace().next().unwrap_or_default();
    assert!(
        !flags.contains('T'),
        "the state dir keeps its flags: {lsattr}"
    );
    let path = state.path().display().to_string();
    let fs_type = command_output("findmnt", &["-n", "-o", "FSTYPE", "-T", &path]);
    if fs_type.trim() != "ext4" {
        eprintln!("placement is ext4's (the top-directory flag); {path} is on {fs_type}");
        return;
    }
    // Inodes per group: the filesystem's inodes over its groups (dumpe2fs
    // may not open the device here); flex groups of 16, mke2fs's default.
    let device = command_output("findmnt", &["-n", "-o", "SOURCE", "-T", &path]);
    let name = device.trim().rsplit('/').next().unwrap().to_string();
    let groups = fs::read_to_string(format!("/proc/fs/ext4/{name}/mb_groups"))
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("#") && !l.starts_with("#group"))
        .count() as u64;
    let inodes: u64 = command_output("stat", &["-f", "-c", "%c", &path])
        .trim()
        .parse()
        .unwrap();
    let per_flex_group = inodes / groups * 16;
    let flex_group = |p: &std::path::Path| {
        (std::os::unix::fs::MetadataExt::ino(&fs::metadata(p).unwrap()) - 1) / per_flex_group
    };
    assert_ne!(
        flex_group(&state.path().join("containers")),
        flex_group(state.path()),
        "STATE/containers sits in its parent's (flex) block group"
    );
    assert_state_dir_clean(&state);
}

fn command_output(program: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}", stderr(&out));
    stdout(&out)
}

/// `-v HOST:CTR:ro`: the container cannot write to the host directory (a
/// probe that fails if the read-only remount is skipped or misses the new
/// mount), the `run` and the stepwise `chapter 5 run` alike; without `:ro`
/// it can.
#[test]
fn read_only_volumes_are_read_only_and_rw_ones_writable() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("run/volume:1");
    let state = StateDir::new("runvolume");
    let host_dir = state.path().join("shared");
    fs::create_dir(&host_dir).unwrap();
    let ro = format!("{}:/data:ro", host_dir.display());
    let before = HostSnapshot::take();
    let image_run = run(
        &state,
        &["--rm", "-v", &ro, &image, "sh", "-c", "touch /data/x"],
    );
    let chapter_run = mini_docker(
        &state,
        &[
            "--reference",
            "chapter",
            "5",
            "run",
            "-v",
            &ro,
            "--",
            "sh",
            "-c",
            "touch /data/x",
        ],
    );
    for (what, out) in [("run", &image_run), ("chapter 5 run", &chapter_run)] {
        assert_eq!(
            out.status.code(),
            Some(1),
            "{what}: touch fails: {}",
            stderr(out)
        );
        assert!(
            stderr(out).contains("Read-only file system"),
            "{what}: {}",
            stderr(out)
        );
    }
    assert_eq!(
        fs::read_dir(&host_dir).unwrap().count(),
        0,
        "nothing written through :ro"
    );
    let rw = format!("{}:/data", host_dir.display());
    let out = run(
        &state,
        &["--rm", "-v", &rw, &image, "sh", "-c", "echo hi > /data/y"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fs::read_to_string(host_dir.join("y")).unwrap(), "hi\n");
    HostSnapshot::assert_clean_since(&before, "-v :ro");
}

/// A layer the unpacker refuses (a malformed `.wh.` whiteout) is mini-docker's
/// failure, not the command's: exit 125, like docker, in one line.
#[test]
fn a_refused_layer_exits_125() {
    require_root();
    let _serial = serial();
    let registry = Registry::start(Auth::Token).unwrap();
    let layers = [busybox_layer().unwrap(), vec![file(".wh.", "")]];
    let layout = build_image(&layers, serde_json::json!({})).unwrap();
    registry
        .push(&layout.dir, "single", "run/refused:1", None)
        .unwrap();
    let state = StateDir::new("runrefused");
    let image = format!("{}/run/refused:1", registry.address());
    let out = run(&state, &["--rm", &image, "true"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(err.contains("whiteout"), "{err}");
    // One line for the failure, after the pull's progress.
    let failures = err
        .lines()
        .filter(|l| l.starts_with("mini-docker:") && !l.contains("pulling"));
    assert_eq!(failures.count(), 1, "{err}");
    assert_state_dir_clean(&state);
}

/// `--name`: a refused name keeps nothing (even without --rm); the name of a
/// kept container is taken until `cleanup` prunes it, then free again.
#[test]
fn names_are_refused_cleanly_and_freed_by_cleanup() {
    require_root();
    let _serial = serial();
    let (_registry, image) = busybox_in_registry("run/names:1");
    let state = StateDir::new("runnames");
    let containers = |state: &StateDir| {
        fs::read_dir(state.path().join("containers"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let out = run(&state, &["--name", "bad name!", &image, "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert_eq!(
        containers(&state),
        0,
        "a refused name leaves no container dir"
    );
    let out = run(&state, &["--name", "kept", &image, "true"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(containers(&state), 1, "kept without --rm");
    let out = run(&state, &["--name", "kept", &image, "true"]);
    assert!(stderr(&out).contains("already in use"), "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(containers(&state), 1, "a name in use keeps nothing either");
    // The default bridge, as the other cleanup tests: cleanup removes the NAT
    // table whatever --bridge says, so another name would leave mdk0 without it.
    let out = mini_docker(&state, &["cleanup"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(containers(&state), 0, "cleanup prunes the kept container");
    let out = run(&state, &["--rm", "--name", "kept", &image, "true"]);
    assert!(
        out.status.success(),
        "the name is free again: {}",
        stderr(&out)
    );
}

/// A tmpfs mounted here for one test, unmounted (even on panic) when dropped.
struct TmpfsMount(std::path::PathBuf);

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// `-v :ro` in a user namespace, from a nosuid,nodev,noexec mount: those
/// flags are locked there, so the read-only remount must ask for them again
/// (else EPERM).
#[test]
fn read_only_volume_from_a_nosuid_mount_works_in_a_user_namespace() {
    use nix::mount::{mount, MsFlags};
    use std::os::unix::fs::PermissionsExt;
    require_root();
    let _serial = serial();
    let state = StateDir::new("rolocked");
    let source = state.path().join("vol");
    fs::create_dir(&source).unwrap();
    let before = HostSnapshot::take();
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("tmpfs"), &source, Some("tmpfs"), flags, None::<&str>).unwrap();
    let mounted = TmpfsMount(source.clone());
    // The container's root is host uid 100000: let it in.
    fs::set_permissions(&source, fs::Permissions::from_mode(0o777)).unwrap();
    let volume = format!("{}:/data:ro", source.display());
    let args = [
        "--reference",
        "chapter",
        "7",
        "run",
        "--userns",
        "--network",
        "none",
    ];
    let mut all = args.to_vec();
    all.extend(["-v", &volume, "--", "sh", "-c", "touch /data/x"]);
    let out = mini_docker(&state, &all);
    assert_eq!(out.status.code(), Some(1), "touch fails: {}", stderr(&out));
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fs::read_dir(&source).unwrap().count(), 0);
    drop(mounted);
    HostSnapshot::assert_clean_since(&before, "-v :ro from a nosuid mount");
}
