//! Chapters 6 and 7 beyond the checks: outbound NAT with real traffic (to a
//! namespace this test makes), `cleanup`, and rootless as a user this test creates.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::Command;

use common::*;

fn sh(script: &str) -> std::process::Output {
    Command::new("sh").arg("-c").arg(script).output().unwrap()
}

fn ok(script: &str) {
    let out = sh(script);
    assert!(
        out.status.success(),
        "`{script}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace standing in for "the outside", joined to the host by a
/// veth on 198.51.100.0/24 (TEST-NET-2, documentation-only): traffic stays on this machine.
/// The namespace is held by a sleeping process, not named with `ip netns add`: that
/// would mount /run/netns on the host, and the mount would outlive the test.
struct Outside {
    name: String,
    holder: std::process::Child,
}

impl Outside {
    /// Joined to the real host.
    fn new() -> Outside {
        Outside::joined_to("")
    }

    /// Joined to a private host (see `PrivateHost`).
    fn beside(host: &PrivateHost) -> Outside {
        Outside::joined_to(&host.enter())
    }

    /// `host` is the command prefix that runs `ip` in the host's namespace.
    fn joined_to(host: &str) -> Outside {
        // Never shadow a network the host really uses (here eth0 sits on TEST-NET-1).
        let used = String::from_utf8(sh("ip -o addr; ip route").stdout).unwrap();
        assert!(
            !used.contains("198.51.100."),
            "198.51.100.0/24 is in use on this host; this test needs it free:\n{used}"
        );
        let name = format!("mdtest{}", std::process::id() % 100000);
        let _ = sh(&format!("{host} ip link del {name}h"));
        let holder = std::process::Command::new("unshare")
            .args(["--net", "sleep", "infinity"])
            .spawn()
            .expect("unshare --net sleep infinity");
        let outside = Outside { name, holder };
        let (name, pid) = (&outside.name, outside.pid());
        // The holder's netns exists once unshare has exec'd sleep.
        while std::fs::read_link(format!("/proc/{pid}/exe"))
            .map(|exe| !exe.ends_with("sleep"))
            .unwrap_or(true)
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let inside = format!("nsenter -t {pid} -n ip");
        ok(&format!(
            "{host} ip link add {name}h type veth peer name {name}o netns {pid} && \
             {host} ip addr add 198.51.100.1/24 dev {name}h && {host} ip link set {name}h up && \
             {inside} addr add 198.51.100.2/24 dev {name}o && {inside} link set {name}o up && {inside} link set lo up"
        ));
        outside
    }

    fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// Accept `count` TCP connections on 198.51.100.2:`port`: who connected
    /// and what they sent. Gives up after 20 s, with what it has.
    fn listen(&self, port: u16, count: usize) -> std::thread::JoinHandle<Vec<(String, String)>> {
        let ns = std::fs::File::open(format!("/proc/{}/ns/net", self.pid())).unwrap();
        let listener = std::thread::spawn(move || {
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let listener = TcpListener::bind(("198.51.100.2", port)).unwrap();
            listener.set_nonblocking(true).unwrap();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            let mut heard = Vec::new();
            while heard.len() < count && std::time::Instant::now() < deadline {
                match listener.accept() {
                    Ok((mut conn, peer)) => {
                        conn.set_nonblocking(false).unwrap();
                        let mut text = String::new();
                        let _ = conn.read_to_string(&mut text);
                        heard.push((peer.ip().to_string(), text.trim().to_string()));
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
                }
            }
            heard
        });
        std::thread::sleep(std::time::Duration::from_millis(200));
        listener
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        // The netns dies with its last process, and the veth pair with it.
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// A network namespace standing in for the host: its own interfaces,
/// nftables tables and net.ipv4.ip_forward. mini-docker runs in it (its
/// containers' namespaces hang off it), so a test can own every bridge and
/// the ip_forward value, whatever other mini-dockers do on the real host.
/// When its holder dies, its bridges and tables go with it.
struct PrivateHost {
    holder: std::process::Child,
}

impl PrivateHost {
    fn new(ip_forward: &str) -> PrivateHost {
        let holder = Command::new("unshare")
            .args(["--net", "sleep", "infinity"])
            .spawn()
            .expect("unshare --net sleep infinity");
        let pid = holder.id();
        while std::fs::read_link(format!("/proc/{pid}/exe"))
            .map(|exe| !exe.ends_with("sleep"))
            .unwrap_or(true)
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let host = PrivateHost { holder };
        ok(&format!("{} ip link set lo up", host.enter()));
        host.write_ip_forward(ip_forward);
        host
    }

    /// The prefix that runs a command in this namespace.
    fn enter(&self) -> String {
        format!("nsenter -t {} -n", self.holder.id())
    }

    fn sh(&self, script: &str) -> std::process::Output {
        sh(&format!("{} sh -c '{script}'", self.enter()))
    }

    /// /proc/sys/net shows the namespace of the process that reads it.
    fn ip_forward(&self) -> String {
        let out = self.sh("cat /proc/sys/net/ipv4/ip_forward");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn write_ip_forward(&self, value: &str) {
        ok(&format!(
            "{} sh -c 'echo {value} > /proc/sys/net/ipv4/ip_forward'",
            self.enter()
        ));
    }

    fn has_table(&self, table: &str) -> bool {
        self.sh(&format!("nft list table ip {table}"))
            .status
            .success()
    }

    fn has_link(&self, name: &str) -> bool {
        self.sh(&format!("ip link show {name}")).status.success()
    }

    /// `mini-docker --state-dir STATE ARGS...` in this namespace.
    fn mini_docker(&self, state: &StateDir, args: &[&str]) -> Command {
        let mut command = Command::new("nsenter");
        command
            .args(["-t", &self.holder.id().to_string(), "-n", "--", BIN])
            .env_remove("MINI_DOCKER_REFERENCE")
            .env_remove("MINI_DOCKER_STATE_DIR")
            .arg("--state-dir")
            .arg(state.path())
            .args(args);
        command
    }

    /// A chapter-6 container on `bridge`: `sh -c SCRIPT`.
    fn run(
        &self,
        state: &StateDir,
        bridge: &str,
        subnet: &str,
        script: &str,
    ) -> std::process::Output {
        let args = [
            "--reference",
            "chapter",
            "6",
            "run",
            "--bridge",
            bridge,
            "--subnet",
            subnet,
        ];
        self.mini_docker(state, &args)
            .args(["--", "sh", "-c", script])
            .output()
            .unwrap()
    }

    fn cleanup(&self, state: &StateDir, bridge: &str) -> std::process::Output {
        self.mini_docker(state, &["cleanup", "--bridge", bridge])
            .output()
            .unwrap()
    }
}

impl Drop for PrivateHost {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

fn said(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn two_bridges_each_masquerade_and_cleanup_of_one_leaves_the_other() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("nat-two");
    let before = HostSnapshot::take();
    let host = PrivateHost::new("0");
    let outside = Outside::beside(&host);
    let (a, b) = (("mdt-a", "10.91.0.0/24"), ("mdt-b", "10.92.0.0/24"));
    // Both bridges exist before any traffic: a second bridge must not replace the first's rules.
    for (bridge, subnet) in [a, b] {
        let out = host.run(&state, bridge, subnet, "true");
        assert!(out.status.success(), "{bridge}: {}", said(&out));
    }
    assert!(host.has_table("mini_docker_mdt-a") && host.has_table("mini_docker_mdt-b"));
    assert_eq!(host.ip_forward(), "1", "a bridge turns forwarding on");
    let heard = outside.listen(18082, 2);
    for (bridge, subnet) in [a, b] {
        let script = format!("echo from-{bridge} | nc -w 5 198.51.100.2 18082");
        let out = host.run(&state, bridge, subnet, &script);
        assert!(
            out.status.success(),
            "{bridge} cannot reach the outside: {}",
            said(&out)
        );
    }
    let mut heard = heard.join().unwrap();
    heard.sort();
    let masqueraded = |bridge: &str| ("198.51.100.1".to_string(), format!("from-{bridge}"));
    assert_eq!(
        heard,
        vec![masqueraded("mdt-a"), masqueraded("mdt-b")],
        "each bridge's traffic leaves with the host's address (masquerade)"
    );

    let out = host.cleanup(&state, "mdt-a");
    assert!(out.status.success(), "cleanup of mdt-a: {}", said(&out));
    let text = said(&out);
    assert!(
        text.contains("removed nftables table ip mini_docker_mdt-a")
            && text.contains("removed bridge mdt-a")
            && !text.contains("restored"),
        "{text}"
    );
    assert!(!host.has_link("mdt-a") && !host.has_table("mini_docker_mdt-a"));
    assert!(
        host.has_link("mdt-b") && host.has_table("mini_docker_mdt-b"),
        "cleanup of mdt-a leaves mdt-b and its table"
    );
    assert_eq!(
        host.ip_forward(),
        "1",
        "mdt-b still routes: forwarding stays on"
    );
    let heard = outside.listen(18083, 1);
    let script = "echo from-mdt-b | nc -w 5 198.51.100.2 18083";
    let out = host.run(&state, b.0, b.1, script);
    assert!(
        out.status.success(),
        "mdt-b after mdt-a's cleanup: {}",
        said(&out)
    );
    assert_eq!(heard.join().unwrap(), vec![masqueraded("mdt-b")]);

    let out = host.cleanup(&state, "mdt-b");
    assert!(out.status.success(), "cleanup of mdt-b: {}", said(&out));
    assert!(
        said(&out).contains("restored net.ipv4.ip_forward to 0"),
        "{}",
        said(&out)
    );
    assert_eq!(
        host.ip_forward(),
        "0",
        "the last bridge gone, ip_forward is the host's again"
    );
    assert!(!host.has_link("mdt-b") && !host.has_table("mini_docker_mdt-b"));
    drop(outside);
    drop(host);
    HostSnapshot::assert_clean_since(&before, "two bridges");
    assert_state_dir_clean(&state);
}

#[test]
fn cleanup_refuses_while_a_container_of_another_state_dir_is_on_the_bridge() {
    require_root();
    let _serial = serial();
    let (mine, theirs) = (StateDir::new("nat-mine"), StateDir::new("nat-theirs"));
    let before = HostSnapshot::take();
    let host = PrivateHost::new("0");
    let (bridge, subnet) = ("mdt-c", "10.93.0.0/24");
    let out = host.run(&mine, bridge, subnet, "true");
    assert!(out.status.success(), "{}", said(&out));
    let plugged_in = || {
        !host
            .sh(&format!("ip -o link show master {bridge}"))
            .stdout
            .is_empty()
    };
    // The first container's veth outlives its run by a moment (the kernel
    // deletes it with the namespace): wait until the bridge is empty, so
    // the port seen below is the second container's.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while plugged_in() {
        assert!(
            std::time::Instant::now() < deadline,
            "the first container's veth stayed on {bridge}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut container = host
        .mini_docker(
            &theirs,
            &[
                "--reference",
                "chapter",
                "6",
                "run",
                "--bridge",
                bridge,
                "--subnet",
                subnet,
                "--",
                "sleep",
                "600",
            ],
        )
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !plugged_in() {
        assert!(
            std::time::Instant::now() < deadline,
            "the container's veth never joined {bridge}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // This state dir holds no lease on the bridge: only its ports tell.
    let out = host.cleanup(&mine, bridge);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "cleanup must refuse: {}", said(&out));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains(bridge) && err.contains("another state dir"),
        "{err}"
    );
    assert!(
        host.has_link(bridge) && host.has_table("mini_docker_mdt-c"),
        "a refused cleanup removes nothing"
    );
    assert_eq!(host.ip_forward(), "1");

    container.kill().unwrap();
    container.wait().unwrap();
    // The kernel deletes the dead container's veth in a moment; cleanup waits for it.
    let out = host.cleanup(&mine, bridge);
    assert!(
        out.status.success(),
        "cleanup once the container is gone: {}",
        said(&out)
    );
    assert!(!host.has_link(bridge) && !host.has_table("mini_docker_mdt-c"));
    assert_eq!(host.ip_forward(), "0");
    let out = host.cleanup(&theirs, bridge); // reclaims the killed container's lease
    assert!(out.status.success(), "{}", said(&out));
    drop(host);
    HostSnapshot::assert_clean_since(&before, "refused cleanup");
    assert_state_dir_clean(&mine);
    assert_state_dir_clean(&theirs);
}

#[test]
fn bridge_traffic_leaves_masqueraded_and_cleanup_removes_the_bridge() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("nat");
    let before = HostSnapshot::take();
    let _ = mini_docker(&state, &["cleanup"]); // start with no bridge, so ip_forward is the host's own
    let forward_before = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let outside = Outside::new();
    // A listener in the outside namespace records who connects.
    let ns = std::fs::File::open(format!("/proc/{}/ns/net", outside.pid())).unwrap();
    let listener = std::thread::spawn(move || {
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let listener = TcpListener::bind("198.51.100.2:18081").unwrap();
        let (mut conn, peer) = listener.accept().unwrap();
        let mut text = String::new();
        conn.read_to_string(&mut text).unwrap();
        (peer.ip().to_string(), text)
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    let out = mini_docker(
        &state,
        &[
            "--reference",
            "chapter",
            "6",
            "run",
            "--",
            "sh",
            "-c",
            "echo hello-from-container | nc 198.51.100.2 18081",
        ],
    );
    assert!(
        out.status.success(),
        "container could not reach the outside: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (peer, text) = listener.join().unwrap();
    assert_eq!(text.trim(), "hello-from-container");
    assert_eq!(
        peer, "198.51.100.1",
        "the outside must see the host's address (masquerade), not the container's"
    );
    drop(outside);

    let rules = sh("nft list table ip mini_docker_mdk0");
    assert!(String::from_utf8_lossy(&rules.stdout).contains("masquerade"));
    let out = mini_docker(&state, &["cleanup"]);
    assert!(
        out.status.success(),
        "cleanup: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !std::path::Path::new("/sys/class/net/mdk0").exists(),
        "cleanup removes the bridge"
    );
    assert!(
        !sh("nft list table ip mini_docker_mdk0").status.success(),
        "cleanup removes the NAT table"
    );
    let forward_after = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    assert_eq!(
        forward_after, forward_before,
        "cleanup restores net.ipv4.ip_forward"
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("removed nftables table ip mini_docker_mdk0")
            && said.contains("removed bridge mdk0"),
        "cleanup says what it removed: {said}"
    );
    let again = mini_docker(&state, &["cleanup"]);
    let said = String::from_utf8_lossy(&again.stdout);
    assert!(
        again.status.success() && !said.contains("nftables") && !said.contains("bridge"),
        "a second cleanup has nothing of the network to remove, and says so by saying nothing: {said}"
    );
    HostSnapshot::assert_clean_since(&before, "NAT test");
    assert_state_dir_clean(&state);
}

#[test]
fn port_in_use_is_one_clear_line_and_leaves_nothing() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("portbusy");
    let before = HostSnapshot::take();
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let out = mini_docker(
        &state,
        &[
            "--reference",
            "chapter",
            "6",
            "run",
            "-p",
            &format!("127.0.0.1:{port}:80"),
            "--",
            "true",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(125),
        "mini-docker's own failure: {err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(&port.to_string()));
    HostSnapshot::assert_clean_since(&before, "busy port");
    assert_state_dir_clean(&state);
}

/// A real unprivileged user, made for this test and removed after it.
struct TestUser {
    name: String,
    uid: u32,
    gid: u32,
}

impl TestUser {
    fn create() -> TestUser {
        let name = format!("mdk{}", std::process::id() % 100000);
        let _ = sh(&format!("userdel {name} 2>/dev/null"));
        ok(&format!(
            "useradd --system --no-create-home --shell /usr/sbin/nologin {name}"
        ));
        let id = |flag: &str| {
            String::from_utf8(sh(&format!("id {flag} {name}")).stdout)
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        };
        TestUser {
            uid: id("-u"),
            gid: id("-g"),
            name,
        }
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = sh(&format!("userdel {}", self.name));
    }
}

#[test]
fn rootless_as_a_real_user() {
    require_root();
    let _serial = serial();
    let user = TestUser::create();
    let state = StateDir::new("rootless");
    std::os::unix::fs::chown(state.path(), Some(user.uid), Some(user.gid)).unwrap();
    let before = HostSnapshot::take();
    let run = |args: &[&str]| {
        Command::new(BIN)
            .arg("--reference")
            .arg("--state-dir")
            .arg(state.path().join("state"))
            .args(args)
            .env_remove("MINI_DOCKER_REFERENCE")
            .env("HOME", state.path())
            .current_dir("/")
            .uid(user.uid)
            .gid(user.gid)
            .output()
            .unwrap()
    };
    let script = "id -u; echo $$; cat /proc/self/uid_map; set -- /proc/[0-9]*; echo $#; ip -o link | grep -c ': '";
    let out = run(&["chapter", "7", "run", "--", "sh", "-c", script]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "rootless run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<String> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(lines[0], "0", "root inside");
    assert_eq!(lines[1], "1", "PID namespace works rootless");
    assert_eq!(
        lines[2],
        format!("0 {} 1", user.uid),
        "only the user's own uid is mapped"
    );
    assert_eq!(lines[3], "1", "/proc shows only the container's own shell");
    assert_eq!(lines[4], "1", "loopback only");
    // What cannot work rootless says so in one line.
    let out = run(&["chapter", "7", "run", "--network", "bridge", "--", "true"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.trim().lines().count() == 1 && err.contains("need root"),
        "{err}"
    );
    // Chapters that need root say so too.
    let out = run(&["chapter", "5", "run", "--", "true"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs root"));
    HostSnapshot::assert_clean_since(&before, "rootless run");
}

#[test]
fn sigkill_of_a_bridge_container_leaves_no_veth_and_cleanup_reclaims_the_rest() {
    require_root();
    let _serial = serial();
    let state = StateDir::new("sigkill-net");
    let before = HostSnapshot::take();
    let mut child = Command::new(BIN)
        .args(["--reference", "--state-dir"])
        .arg(state.path())
        .args(["chapter", "6", "run", "--", "sleep", "600"])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    child.kill().unwrap();
    child.wait().unwrap();
    // The container died with its supervisor, and the kernel took the veth with its netns.
    HostSnapshot::assert_clean_since(&before, "SIGKILL of a bridge container");
    // What only mini-docker could have removed (lease, container dir) is stale, and cleanup takes it.
    let out = mini_docker(&state, &["cleanup"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_state_dir_clean(&state);
}
