#!/usr/bin/env bash
# mini-docker workshop setup for Debian 12 / Ubuntu 22.04 / 24.04 (also what the Vagrantfile runs).
#
# Installs what is missing (apt packages; Rust too with --install-rust), builds
# mini-docker, puts it on PATH, makes the starter rootfs and shows it running.
#
#   ./setup.sh                 the workshop machine
#   ./setup.sh --install-rust  also install Rust with rustup if cargo is missing (the VM)
#   ./setup.sh --ci            also the tools the test-suite needs (shellcheck, vagrant, rustfmt, clippy, presenterm)
set -euo pipefail

cd "$(dirname "$0")"
ci=no
install_rust=no
for arg in "$@"; do
    case "$arg" in
        --ci) ci=yes ;;
        --install-rust) install_rust=yes ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "setup.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
    esac
done

say() { printf '\033[1;36m==> %s\033[0m\n' "$*"; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# busybox-static: the starter rootfs. gcc + libc6-dev: the static chroot-breakout
# helper the checks run. iproute2: looking at namespaces by hand. nftables:
# chapter 6's outbound NAT.
# docker-registry + skopeo: chapter 9's checks run a real registry locally (offline).
packages=(busybox-static gcc libc6-dev libseccomp-dev iproute2 nftables docker-registry skopeo ca-certificates curl)
# Chapter 13: podman (with conmon) drives mini-docker-runc. Installed with the
# rest, so a workshop VM provisioned at home has it offline too.
packages+=(podman conmon)
if [ "$ci" = yes ]; then
    # The test-suite also boots Debian's kernel under qemu to run every chapter's checks on
    # cgroup v2 (xz-utils: its modules are .ko.xz).
    packages+=(shellcheck vagrant sudo cpio xz-utils linux-image-amd64 qemu-system-x86)
    # The benchmark compares with these (bench/run.sh); bpftrace: bench/profile.sh.
    packages+=(crun runc umoci hyperfine bpftrace)
fi

# The mirror this system's own apt sources use for SUITE (a local mirror, a
# proxy, a snapshot): an extra suite must come from the same place. Reads the
# one-line format (sources.list, *.list) and deb822 (*.sources); prints the first
# URI whose entry lists SUITE, fails if none does. APT_ETC: another /etc/apt (tests/repo.rs).
debian_mirror() {
    local suite=$1 etc=${APT_ETC:-/etc/apt} file uri
    for file in "$etc/sources.list" "$etc"/sources.list.d/*.list; do
        [ -f "$file" ] || continue
        # deb [options] URI SUITE COMPONENTS...
        uri=$(awk -v suite="$suite" '
            $1 == "deb" {
                sub(/^deb[ \t]+(\[[^]]*\][ \t]+)?/, "")
                if ($2 == suite) { print $1; exit }
            }' "$file")
        if [ -n "$uri" ]; then echo "$uri"; return 0; fi
    done
    for file in "$etc"/sources.list.d/*.sources; do
        [ -f "$file" ] || continue
        # Stanzas separated by blank lines; "Enabled: no" turns one off.
        uri=$(awk -v suite="$suite" '
            BEGIN { RS = ""; FS = "\n" }
            {
                uris = ""; suites = ""; types = ""; enabled = "yes"
                for (i = 1; i <= NF; i++) {
                    if ($i ~ /^URIs:/) { uris = substr($i, 6) }
                    else if ($i ~ /^Suites:/) { suites = substr($i, 8) }
                    else if ($i ~ /^Types:/) { types = substr($i, 7) }
                    else if ($i ~ /^Enabled:[ \t]*no/) { enabled = "no" }
                }
                if (enabled == "no" || (" " types " ") !~ /[ \t]deb[ \t]/) next
                if ((" " suites " ") ~ ("[ \t]" suite "[ \t]")) {
                    split(uris, u, " "); print u[1]; exit
                }
            }' "$file")
        if [ -n "$uri" ]; then echo "$uri"; return 0; fi
    done
    return 1
}

missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    as_root apt-get update -qq
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; then
        # Debian 12 images whose qemu-utils comes from bookworm-backports need
        # qemu-system from there too (the bookworm one conflicts with it).
        if grep -q '^12' /etc/debian_version 2>/dev/null; then
            say "retrying with bookworm-backports"
            mirror=$(debian_mirror bookworm) || {
                echo "setup.sh: no apt source serves bookworm: add bookworm-backports from your mirror yourself" >&2
                exit 1
            }
            printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" |
                as_root tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
            as_root apt-get update -qq
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports "${missing[@]}" >/dev/null
        else
            exit 1
        fi
    fi
else
    say "apt packages already installed"
fi

# Chapter 14's tests drive mini-docker's daemon with Debian's docker client
# (docker.io; docker-compose speaks the same API). That package also ships
# dockerd and containerd: installed here with no service started (policy-rc.d
# refuses every start) and disabled after — only the client is ever used.
# Every mode: chapter 14's try-it commands need the client on the workshop VM.
if ! command -v docker >/dev/null 2>&1; then
    say "installing the docker client (docker.io; its dockerd is never started)"
    own_policy=no
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
        as_root chmod 755 /usr/sbin/policy-rc.d
        own_policy=yes
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io docker-compose >/dev/null
    [ "$own_policy" = yes ] && as_root rm -f /usr/sbin/policy-rc.d
    as_root systemctl disable docker.service docker.socket containerd.service >/dev/null 2>&1 || true
fi

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
    if [ "$install_rust" = yes ]; then
        say "installing Rust (rustup, stable, minimal profile)"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
        PATH="$HOME/.cargo/bin:$PATH"
    else
        echo "setup.sh: cargo not found. Install Rust (https://rustup.rs) or run ./setup.sh --install-rust" >&2
        exit 1
    fi
fi
if [ "$ci" = yes ] && command -v rustup >/dev/null 2>&1; then
    rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi
# .cargo/config.toml builds for "host-tuple" (cargo 1.91+): older distro cargos cannot.
rust_minor=$(rustc --version | sed -n 's/^rustc 1\.\([0-9]*\).*/\1/p')
if [ "${rust_minor:-0}" -lt 91 ]; then
    echo "setup.sh: $(rustc --version) is too old: mini-docker needs Rust 1.91 or later (rustup update, or https://rustup.rs)" >&2
    exit 1
fi

# The decks (slides/) are presenterm presentations: tests/slides.rs renders each
# one with it. From crates.io, built from source (minutes on two cores), pinned to
# the release the decks are checked with; a second run finds it and goes on.
presenterm_version=0.16.1
if [ "$ci" = yes ]; then
    installed=$(cargo install --list)
    if grep -qx "presenterm v$presenterm_version:" <<<"$installed"; then
        say "presenterm $presenterm_version already installed"
    else
        say "installing presenterm $presenterm_version (cargo install from crates.io: takes minutes)"
        cargo install --locked --quiet presenterm --version "$presenterm_version"
    fi
fi

say "building mini-docker"
# The learner's loop is `cargo build` (the dev profile, a second per edit): the
# binary on PATH is that build, so it always runs the latest exercises.
cargo build --quiet
# .cargo/config.toml builds for the host's own target tuple: the binary lands in target/<tuple>/.
bin="$PWD/target/$(rustc -vV | sed -n 's/^host: //p')/debug/mini-docker"

say "putting mini-docker on PATH (/usr/local/bin/mini-docker)"
as_root ln -sf "$bin" /usr/local/bin/mini-docker
# Chapter 13: the same binary, called by this name, speaks runc's command line
# (podman --runtime /usr/local/bin/mini-docker-runc).
as_root ln -sf "$bin" /usr/local/bin/mini-docker-runc

# Ubuntu 23.10+ (the workshop VM is 24.04) lets an unprivileged process make a
# user namespace only if an AppArmor profile grants it `userns`, as Ubuntu's own
# profiles do for browsers: without one, rootless chapter 7 fails. Only where the
# kernel has that restriction. The profile names the real binary, not the symlink:
# AppArmor attaches profiles to the executable's resolved path.
if [ -e /proc/sys/kernel/apparmor_restrict_unprivileged_userns ]; then
    say "granting mini-docker user namespaces under AppArmor (/etc/apparmor.d/mini-docker)"
    as_root tee /etc/apparmor.d/mini-docker >/dev/null <<EOF
abi <abi/4.0>,
include <tunables/global>

profile mini-docker "$bin" flags=(unconfined) {
  userns,

  include if exists <local/mini-docker>
}
EOF
    as_root apparmor_parser -r /etc/apparmor.d/mini-docker
fi

say "making the starter rootfs"
as_root "$bin" rootfs

say "chapter 1, the reference solution: a child process"
as_root "$bin" --reference chapter 1 run -- /bin/echo "hello from chapter 1"
say "chapter 5, the reference solution: a command in the starter rootfs"
# shellcheck disable=SC2016  # expanded inside the container, not here
as_root "$bin" --reference chapter 5 run --hostname box -- \
    /bin/sh -c 'echo "hello from $(hostname), PID $$, in $(head -n 1 /etc/os-release)"'

say "ready. Your turn: mini-docker chapter 1 (lesson: chapters/01-process.md)"
