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
    fn new() -> Outside {
        // Never shadow a network the host really uses (here eth0 sits on TEST-NET-1).
        let used = String::from_utf8(sh("ip -o addr; ip route").stdout).unwrap();
        assert!(
            !used.contains("198.51.100."),
            "198.51.100.0/24 is in use on this host; this test needs it free:\n{used}"
        );
        let name = format!("mdtest{}", std::process::id() % 100000);
        let _ = sh(&format!("ip link del {name}h"));
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
            "ip link add {name}h type veth peer name {name}o && \
             ip link set {name}o netns {pid} && ip addr add 198.51.100.1/24 dev {name}h && ip link set {name}h up && \
             {inside} addr add 198.51.100.2/24 dev {name}o && {inside} link set {name}o up && {inside} link set lo up"
        ));
        outside
    }

    fn pid(&self) -> u32 {
        self.holder.id()
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        // The netns dies with its last process, and the veth pair with it.
        let _ = self.holder.kill();
        let _ = self.holder.wait();
        let _ = sh(&format!("ip link del {}h", self.name));
    }
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

    let rules = sh("nft list table ip mini_docker");
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
        !sh("nft list table ip mini_docker").status.success(),
        "cleanup removes the NAT table"
    );
    let forward_after = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    assert_eq!(
        forward_after, forward_before,
        "cleanup restores net.ipv4.ip_forward"
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("removed nftables table ip mini_docker")
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
