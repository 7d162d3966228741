//! Progressive hints (`mini-docker hint N [CHECK]`): three levels per check,
//! so a learner asks for only as much help as they need.
//!
//! 1. the concept: what must become true, and why the kernel needs it;
//! 2. where to look: the man page (or spec) and the lesson's section;
//! 3. the exact call: the check's own `hint` field (core/src/checks/chNN.rs).
//!
//! Levels 1 and 2 live in this table, beside the checks rather than in them,
//! so a check file stays about what it verifies.

use super::Check;
use crate::workshop;

/// A check's first two levels.
struct Entry {
    id: &'static str,
    /// Level 1: prose only — no call, no flag name (a unit test makes sure).
    concept: &'static str,
    /// Level 2: the man page or spec, and the exercise function to open.
    look: &'static str,
    /// The heading (after "## ") of the lesson section to read, verified against the lesson.
    section: &'static str,
}

/// The three levels of one check, ready to print.
pub struct Levels {
    pub concept: String,
    pub look: String,
    pub call: String,
}

impl Levels {
    /// Level `n` (1 to 3).
    pub fn level(&self, n: u8) -> &str {
        match n {
            1 => &self.concept,
            2 => &self.look,
            _ => &self.call,
        }
    }
}

/// The levels of `check`, a check of `chapter`; None for a check the table
/// does not have yet (a unit test makes sure every check has its entry).
pub fn levels(chapter: u8, check: &Check) -> Option<Levels> {
    let lesson = workshop::chapter(chapter)
        .map(|c| c.lesson_file())
        .unwrap_or_else(|| format!("chapters/{chapter:02}-*.md"));
    let entry = TABLE.iter().find(|e| e.id == check.id)?;
    Some(Levels {
        concept: entry.concept.to_string(),
        look: format!("{} Lesson: {lesson}, \"{}\".", entry.look, entry.section),
        call: check.hint.to_string(),
    })
}

const TABLE: &[Entry] = &[
    // Chapter 1 — process
    Entry {
        id: "1.1",
        concept: "The command must write straight to the terminal, pipe or file mini-docker was given. \
                  The process that becomes the command keeps its open file descriptors, so nothing needs \
                  copying — and whatever reads and re-writes the output changes it or mixes the two streams.",
        look: "execve(2) and execvp(3): what an exec keeps (the PID, the open file descriptors). \
               exec_command in exercises/ch01_process.rs.",
        section: "The syscalls",
    },
    Entry {
        id: "1.2",
        concept: "The command must read the very input mini-docker got. Standard input is inherited like \
                  the output: the process that becomes the command already holds descriptor 0, as long \
                  as nothing closes or replaces it on the way.",
        look: "execve(2): file descriptors stay open across an exec. exec_command.",
        section: "The syscalls",
    },
    Entry {
        id: "1.3",
        concept: "mini-docker must end with the command's own exit status. Only the parent can learn how \
                  a child ended, by waiting for it: the kernel keeps the dead child's status, as a zombie, \
                  until someone asks.",
        look: "waitpid(2) and wait(2), the WIFEXITED and WEXITSTATUS part; nix turns them into a \
               WaitStatus variant. wait_for and exit_code.",
        section: "The syscalls",
    },
    Entry {
        id: "1.4",
        concept: "A command killed by a signal has no exit code, and an exit status is a single byte. \
                  Shells and docker report such a death as 128 plus the signal's number: 143 for \
                  SIGTERM, 137 for SIGKILL.",
        look: "wait(2), the WIFSIGNALED and WTERMSIG part; bash(1), EXIT STATUS; signal(7) for the \
               numbers. exit_code.",
        section: "The syscalls",
    },
    Entry {
        id: "1.5",
        concept: "When the program does not exist the exec fails, and the process is still mini-docker's \
                  copy. The error must travel back to the scaffold, which reports 127 like a shell — not \
                  a crash, not an exit of your own.",
        look: "execvp(3), RETURN VALUE and ERRORS (ENOENT); what exec_command returns, and what its \
               caller does with an error.",
        section: "The syscalls",
    },
    Entry {
        id: "1.6",
        concept: "The command must get exactly the words it was given, its own name first: programs read \
                  their name from there, and the kernel passes the list on untouched. A bare name such as \
                  cat must also be found the way a shell finds it, in the directories PATH lists.",
        look: "execvp(3), the p variants (the PATH search), and execve(2) on argv, whose first element is \
               the program's name. exec_command.",
        section: "The pitfall: argv[0] is part of argv",
    },
    Entry {
        id: "1.7",
        concept: "A stopped command has not ended: a debugger or job control may continue it, and it exits \
                  later. mini-docker must keep waiting until the command really ends, and report that end.",
        look: "waitpid(2): which statuses it reports unless asked (WUNTRACED, WCONTINUED), WIFSTOPPED \
               against WIFEXITED and WIFSIGNALED. wait_for.",
        section: "The syscalls",
    },
    // Chapter 2 — chroot
    Entry {
        id: "2.1",
        concept: "Every absolute path the container opens must resolve inside the rootfs. The kernel \
                  keeps a root directory per process, inherited across exec: the child must change it \
                  before the command starts.",
        look: "chroot(2). enter_rootfs in exercises/ch02_chroot.rs.",
        section: "Another root directory",
    },
    Entry {
        id: "2.2",
        concept: "Moving the root does not move the current directory: the process still stands in the \
                  host's tree, where relative paths lead. Its current directory must be inside the new \
                  root too.",
        look: "chroot(2), NOTES (the current directory is not changed), and chdir(2). enter_rootfs.",
        section: "The pitfall: chroot without chdir",
    },
    Entry {
        id: "2.3",
        concept: "A file the host makes outside the rootfs must have no path at all from inside: the \
                  command has to start with the rootfs as its root directory.",
        look: "chroot(2); proc(5) on /proc/PID/root, which is how the check sees your root. enter_rootfs.",
        section: "Another root directory",
    },
    Entry {
        id: "2.4",
        concept: "This check expects the escape to succeed: root in a plain chroot can always climb out. \
                  The breakout needs a working chroot first, with the current directory inside it, to \
                  escape from.",
        look: "chroot(2), where it says the superuser can escape; core/src/checks/breakout.c. enter_rootfs.",
        section: "chroot is not a security boundary",
    },
    // Chapter 3 — UTS and IPC namespaces
    Entry {
        id: "3.1",
        concept: "The hostname is one value for the whole machine unless the container has its own copy: \
                  a new UTS namespace, which the child must be born into so nothing it renames reaches \
                  the host.",
        look: "namespaces(7), uts_namespaces(7), and the flag list of clone(2). namespaces in \
               exercises/ch03_uts.rs.",
        section: "Global names, made per-container",
    },
    Entry {
        id: "3.2",
        concept: "System V message queues, semaphores and shared memory live in one machine-wide table, \
                  found by integer keys. The container needs a table of its own: it must be born into a \
                  new IPC namespace.",
        look: "ipc_namespaces(7) and the flag list of clone(2). namespaces.",
        section: "Global names, made per-container",
    },
    Entry {
        id: "3.3",
        concept: "A new UTS namespace starts as a copy of its parent's, name included. The container's \
                  process must give its own namespace the requested name, after it is born and before \
                  the command runs.",
        look: "sethostname(2), and uname(2) to read it back. set_hostname in exercises/ch03_uts.rs.",
        section: "Global names, made per-container",
    },
    Entry {
        id: "3.4",
        concept: "Renaming must happen only in the container's namespace. If the child is not in a new UTS \
                  namespace, or the parent does the renaming, the machine itself gets the container's name.",
        look: "uts_namespaces(7) and sethostname(2). namespaces and set_hostname.",
        section: "The pitfall: renaming the host",
    },
    Entry {
        id: "3.5",
        concept: "An IPC object made on the host must not be found inside. Only an IPC namespace of the \
                  container's own gives it an empty table.",
        look: "ipc_namespaces(7), svipc(7), and the flag list of clone(2). namespaces.",
        section: "Global names, made per-container",
    },
    // Chapter 4 — PID namespace
    Entry {
        id: "4.1",
        concept: "The command must be the first process of a PID namespace of its own: it then sees itself \
                  as PID 1 and cannot name the host's processes. The child is born into it, so it belongs \
                  with the other namespaces the child is cloned with.",
        look: "pid_namespaces(7) and the flag list of clone(2). namespaces in exercises/ch04_pid.rs.",
        section: "One process, two PIDs",
    },
    Entry {
        id: "4.2",
        concept: "ps reads /proc, and a proc filesystem shows the PID namespace of whoever mounted it. \
                  The container needs a proc of its own, mounted from inside its PID namespace — one that \
                  allows no setuid programs, no devices and no executables.",
        look: "proc(5), mount(2) and its flags, pid_namespaces(7) on /proc. mount_proc.",
        section: "A fresh /proc",
    },
    Entry {
        id: "4.3",
        concept: "As PID 1 the init inherits every orphan and must collect each child that ends, or it \
                  stays a zombie. Ordinary signals do not queue: one notice can stand for many children \
                  that ended at once.",
        look: "waitpid(2) and its non-blocking option, sigwait(3), signal(7) on standard signals not \
               being queued. init_loop.",
        section: "The pitfall: one SIGCHLD, many children",
    },
    Entry {
        id: "4.4",
        concept: "The init is not the program the user cares about: a stop request sent to the container \
                  must reach the command, which then ends — and so ends the container.",
        look: "kill(2), sigwait(3), pid_namespaces(7) on the namespace init. init_loop.",
        section: "PID 1 is special",
    },
    Entry {
        id: "4.5",
        concept: "The kernel shields a namespace's first process from signals it has no handler for, yet \
                  stopping must still work. When PID 1 dies the kernel kills everything else in its \
                  namespace — which helps only if the container has a PID namespace of its own.",
        look: "pid_namespaces(7), \"The namespace init process\". namespaces.",
        section: "PID 1 is special",
    },
    // Chapter 5 — mount namespace and pivot_root
    Entry {
        id: "5.1",
        concept: "The container's mounts must go into a mount table of its own — a copy of the host's made \
                  when the child is born — so nothing it mounts or unmounts touches the host.",
        look: "mount_namespaces(7) and the flag list of clone(2). namespaces in exercises/ch05_mount.rs.",
        section: "Why chroot was not enough",
    },
    Entry {
        id: "5.2",
        concept: "The rootfs must become the root mount of the container's table, and the host's tree must \
                  be removed from it, not just hidden. The kernel only swaps roots at a mount point, and a \
                  busy tree can only be detached lazily.",
        look: "pivot_root(2), NOTES on passing the same directory twice; umount2(2) and its lazy flag; \
               mount(2) on bind mounts. pivot_into.",
        section: "Step by step, and why the kernel needs each step",
    },
    Entry {
        id: "5.3",
        concept: "The copied table still shares mount events with the host. They must flow one way only: \
                  the host's later mounts reach the container, the container's never reach the host. And \
                  the kernel refuses to swap roots on a shared mount.",
        look: "mount_namespaces(7), \"Shared subtrees\" and the propagation types; mount(2), \"Changing the \
               propagation type of an existing mount\". make_mounts_private.",
        section: "Step by step, and why the kernel needs each step",
    },
    Entry {
        id: "5.4",
        concept: "Programs expect /proc, /sys and /dev, but a write to sysfs changes the whole machine: the \
                  container gets its own proc, a sysfs it can only read, and a minimal /dev — each mounted \
                  into the rootfs while the host's tree is still there.",
        look: "sysfs(5), proc(5), mount(2) and its read-only flag. mount_sys, and mount_proc from chapter 4.",
        section: "Step by step, and why the kernel needs each step",
    },
    Entry {
        id: "5.5",
        concept: "The chapter 2 escape walks up to the host's root. Once the host's tree is detached from the \
                  container's mount table there is nothing above the root to climb to.",
        look: "pivot_root(2) and umount2(2); chapters/02-chroot.md for how the breakout works. pivot_into.",
        section: "Why chroot was not enough",
    },
    Entry {
        id: "5.6",
        concept: "After the roots are swapped the process still stands where it stood, in the old tree: it \
                  must step into the new root, or relative paths reach what was detached.",
        look: "pivot_root(2), NOTES, and chdir(2). The last step of pivot_into.",
        section: "Step by step, and why the kernel needs each step",
    },
    // Chapter 6 — network namespace
    Entry {
        id: "6.1",
        concept: "The container needs a network stack of its own — interfaces, addresses, routes, ports — \
                  so it can neither take the host's ports nor reconfigure its interfaces. It is born into \
                  a new network namespace.",
        look: "network_namespaces(7) and the flag list of clone(2). namespaces in exercises/ch06_net.rs.",
        section: "A network stack of its own",
    },
    Entry {
        id: "6.2",
        concept: "A new network namespace has a single interface, the loopback, and it starts down: until \
                  it is up even 127.0.0.1 is unreachable. The container's side must bring it up in every \
                  mode that has its own namespace — with no bridge too.",
        look: "netdevice(7) on an interface's up flag, rtnetlink(7); the Netlink facade, \
               core/src/net/netlink.rs. configure_inside.",
        section: "Step by step, and why the kernel needs each step",
    },
    Entry {
        id: "6.3",
        concept: "A virtual cable must join the container to the host's bridge. Both ends are born on the \
                  host, where names are global; one stays there, up and a port of the bridge; the other must \
                  leave for the container's namespace. There it takes the name eth0 while still down, the \
                  leased address with the subnet's prefix, comes up — and only then a default route to the \
                  bridge: the kernel accepts a gateway only on the subnet of an interface that is up.",
        look: "veth(4), rtnetlink(7); ip-link(8) (\"netns\", \"name\", \"master\"), ip-address(8) and \
               ip-route(8) for the same steps by hand; core/src/net/netlink.rs has one call per step. \
               connect_to_bridge and configure_inside.",
        section: "Step by step, and why the kernel needs each step",
    },
    Entry {
        id: "6.4",
        concept: "Packets only cross a cable whose two ends are up, and reach the bridge only if the host's \
                  end is one of its ports.",
        look: "veth(4) on the carrier; ip-link(8) on a bridge's ports. connect_to_bridge.",
        section: "Step by step, and why the kernel needs each step",
    },
    Entry {
        id: "6.5",
        concept: "The scaffold writes /etc/hosts and /etc/resolv.conf from the container's address: they come \
                  out right once the container really has the address it was leased.",
        look: "hosts(5), resolv.conf(5). configure_inside.",
        section: "Around the cable",
    },
    Entry {
        id: "6.6",
        concept: "Two containers on one bridge must never share an address: each uses the one its lease \
                  reserved, never one written into the code.",
        look: "ip-address(8); the Attachment handed to configure_inside.",
        section: "Around the cable",
    },
    Entry {
        id: "6.7",
        concept: "The host-side proxy forwards each connection to the container's eth0 address: the container \
                  must really have that address, and eth0 must be up.",
        look: "veth(4), rtnetlink(7). configure_inside.",
        section: "Around the cable",
    },
    Entry {
        id: "6.8",
        concept: "Nothing may outlive the container. Once the container's end of the cable lives in its \
                  namespace, the kernel deletes the pair as the namespace dies; an end left on the host \
                  would stay there for ever.",
        look: "veth(4), network_namespaces(7) on what happens to devices when a namespace is freed. \
               connect_to_bridge.",
        section: "Step by step, and why the kernel needs each step",
    },
    // Chapter 7 — user namespace
    Entry {
        id: "7.1",
        concept: "Container root must be an unprivileged uid on the host: the container needs a user \
                  namespace of its own, and its ids must be mapped onto the unprivileged host range — by \
                  the parent, which holds the privilege to map ids other than its own.",
        look: "user_namespaces(7), \"User and group ID mappings: uid_map and gid_map\"; the flag list of \
               clone(2). namespaces and write_id_maps in exercises/ch07_userns.rs.",
        section: "The handshake, and why the kernel needs each step",
    },
    Entry {
        id: "7.2",
        concept: "Inside, the command must be uid 0, while on the host the kernel always checks the mapped \
                  uid: container uid 0 has to map to the first uid of the range the scaffold chose.",
        look: "user_namespaces(7) on the three fields of a map line; IdMap in core/src/userns.rs. \
               write_id_maps.",
        section: "Root, but only here",
    },
    Entry {
        id: "7.3",
        concept: "A file container root writes into a host directory belongs on the host to whatever host \
                  uid container 0 is mapped to: the unprivileged one, never host root.",
        look: "user_namespaces(7) on uid_map. write_id_maps.",
        section: "Root, but only here",
    },
    Entry {
        id: "7.4",
        concept: "Capabilities in a user namespace count only over what that namespace owns. Device nodes \
                  and kernel modules need the host's privileges, which container root must not have: the \
                  container's other namespaces must be owned by a user namespace of its own.",
        look: "capabilities(7), user_namespaces(7) on capabilities; mknod(2), init_module(2). namespaces.",
        section: "Root, but only here",
    },
    Entry {
        id: "7.5",
        concept: "Without privilege only your own uid and gid can be mapped, and first the kernel wants the \
                  container barred from dropping supplementary groups — or a file whose group is denied \
                  access would open up.",
        look: "user_namespaces(7), \"Interaction with system calls that change process UIDs or GIDs\" and \
               /proc/PID/setgroups. write_id_maps.",
        section: "The pitfall: gid_map says EPERM",
    },
    Entry {
        id: "7.6",
        concept: "This follows from rootless containers working at all: once one starts, refusing host \
                  networking in one line is the scaffold's part. Make check 7.5 pass first.",
        look: "user_namespaces(7); the hints of check 7.5.",
        section: "Without root: what still works, what cannot",
    },
    // Chapter 8 — cgroups
    Entry {
        id: "8.1",
        concept: "Limits live in the kernel as files of the container's cgroup: each requested limit must \
                  be written to its interface file, in the layout this host has, and nothing for a limit \
                  that was not asked for — in a cgroup that exists, has the controllers, and holds the \
                  container.",
        look: "cgroups(7); the kernel's cgroup-v2 documentation on memory.max, pids.max and cpu.max, and \
               v1's memory, pids and CFS bandwidth files. write_limits_v2 and write_limits_v1 in \
               exercises/ch08_cgroups.rs.",
        section: "Two layouts of the same idea",
    },
    Entry {
        id: "8.2",
        concept: "Above its memory limit the kernel kills a process of that cgroup only. The limit must be \
                  in the memory controller's file, in bytes — or the hog eats the host's memory.",
        look: "cgroups(7), the memory controller; the cgroup-v2 documentation on memory.max, v1's \
               memory.limit_in_bytes. write_limits_v2 and write_limits_v1.",
        section: "Namespaces hide, cgroups limit",
    },
    Entry {
        id: "8.3",
        concept: "The pids controller caps how many processes and threads a cgroup holds at once; at the \
                  cap, forking fails inside while the host goes on.",
        look: "cgroups(7), the pids controller; fork(2) and its EAGAIN. write_limits_v2 and write_limits_v1.",
        section: "Namespaces hide, cgroups limit",
    },
    Entry {
        id: "8.4",
        concept: "CPU time is limited as a quota of microseconds per period: half a CPU is half of every \
                  period. The quota and the period both come from the requested number of CPUs.",
        look: "cgroups(7), the cpu controller; the kernel's CFS bandwidth control documentation on cpu.max, \
               cpu.cfs_quota_us and cpu.cfs_period_us. cpu_quota.",
        section: "Namespaces hide, cgroups limit",
    },
    Entry {
        id: "8.5",
        concept: "The container's cgroup must be gone on every way out: a normal exit, an OOM kill, a \
                  stop signal. Your removal runs on each of them, after the last process is dead — make \
                  checks 8.1 and 8.10 pass first.",
        look: "cgroups(7) on removing a cgroup; remove_v2 and remove_v1; the hints of checks 8.1 and 8.10.",
        section: "When, and until when",
    },
    Entry {
        id: "8.6",
        concept: "The kernel checks each write against what is there at that moment: a quota is judged by \
                  the period already in place, so the period must be written, and written first. The \
                  quota is rounded to the nearest microsecond, not cut short.",
        look: "the kernel's CFS bandwidth control documentation on cpu.cfs_period_us and cpu.cfs_quota_us; \
               f64::round. cpu_quota, write_limits_v1 and write_limits_v2.",
        section: "The pitfall: the kernel checks each write, in order",
    },
    Entry {
        id: "8.7",
        concept: "A controller reaches a cgroup only through every ancestor: each parent must hand it down \
                  before its child can use it, so the parents are told from the root downwards. The parent \
                  of all containers never holds a process itself. On v1 there is one tree per controller, \
                  and the container needs its own directory in each of them.",
        look: "the kernel's cgroup-v2 documentation, \"Enabling and Disabling\" and \"No Internal Process \
               Constraint\"; cgroups(7), \"Cgroups version 1\". create_v2 and create_v1.",
        section: "Creating it: top-down",
    },
    Entry {
        id: "8.8",
        concept: "A child is born in its parent's cgroup, and moving a process later leaves behind what it \
                  already forked. The container's first process must be inside — in every hierarchy on v1 — \
                  before it is allowed to run its command.",
        look: "cgroups(7), \"Creating cgroups and moving processes\". join_v2 and join_v1.",
        section: "Joining it: before exec",
    },
    Entry {
        id: "8.9",
        concept: "The memory controller keeps several counters: times the limit was hit, times memory could \
                  not be reclaimed, processes actually killed — and on v1 a flag that only says whether the \
                  cgroup is stuck right now. Only one of them means the OOM killer killed something.",
        look: "the kernel's cgroup-v2 documentation on memory.events; cgroup-v1/memory.rst, \"OOM Control\". \
               oom_kills_v2 and oom_kills_v1.",
        section: "Reading the OOM kill",
    },
    Entry {
        id: "8.10",
        concept: "A cgroup's files belong to the kernel: a cgroup is removed as a directory, never file by \
                  file. While the last processes are still dying the kernel answers busy for a moment, so \
                  the removal tries again for a short while before it gives up — in every hierarchy on v1.",
        look: "cgroups(7), \"Removing cgroups\"; rmdir(2) and its EBUSY. remove_v2 and remove_v1.",
        section: "Removing it",
    },
    // Chapter 9 — pulling images
    Entry {
        id: "9.1",
        concept: "An image name leaves out what docker fills in: the registry, the library/ prefix on Docker \
                  Hub, the tag. A colon can start a tag or a port, and a digest has a colon of its own: read \
                  the name in the order that tells them apart.",
        look: "the OCI distribution spec and docker's reference grammar (distribution/reference). \
               parse_image_ref in exercises/ch09_pull.rs.",
        section: "What a name means",
    },
    Entry {
        id: "9.2",
        concept: "A registry answers 401 with a challenge that says where to get a token and for what. The \
                  client must read it exactly — a quoted value may hold a comma — and ask the token service \
                  for this repository's pull scope.",
        look: "RFC 7235 on WWW-Authenticate challenges; Docker's token authentication spec on realm, service \
               and scope; RFC 6750 on Bearer tokens (token or access_token). parse_challenge, token_url and \
               authorize.",
        section: "The conversation",
    },
    Entry {
        id: "9.3",
        concept: "An index lists one manifest per platform. The pull must take the entry whose operating \
                  system and architecture match, and the variant when one is asked for.",
        look: "the OCI image index spec on platform: os, architecture, variant. select_manifest.",
        section: "Manifests, platforms, digests",
    },
    Entry {
        id: "9.4",
        concept: "Not every registry uses tokens: a Basic challenge means sending the credentials themselves, \
                  so the parsed challenge must report its scheme as the registry sent it, and the answer \
                  to it is the credentials, not a token.",
        look: "RFC 7617 on the Basic scheme and RFC 7235 on the challenge grammar. parse_challenge and \
               authorize.",
        section: "The conversation",
    },
    Entry {
        id: "9.5",
        concept: "Every blob must hash to its name, and one that does not must leave nothing behind. The \
                  scaffold verifies that — once the pull gets as far as the layers.",
        look: "the OCI image spec on descriptors and digests; the hints of checks 9.1 to 9.3.",
        section: "Into the store",
    },
    Entry {
        id: "9.6",
        concept: "The names of a challenge's parameters are case-insensitive: a registry may write Realm or \
                  SERVICE. The parser must find them whatever their case, or the pull never learns where \
                  to ask for a token.",
        look: "RFC 7235, section 2.1 (auth-param names match case-insensitively). parse_challenge in \
               exercises/ch09_pull.rs.",
        section: "The conversation",
    },
    // Chapter 10 — layers and overlay
    Entry {
        id: "10.1",
        concept: "The container's root must be one merged view of the image's read-only layers under a \
                  writable directory of its own. A container that is thrown away need not have its writes \
                  synced to disk at exit.",
        look: "mount(2); the kernel's overlayfs documentation on lowerdir, upperdir, workdir and volatile. \
               mount_overlay in exercises/ch10_layers.rs.",
        section: "The stack",
    },
    Entry {
        id: "10.2",
        concept: "A tar cannot say deleted: the image marks deleted files and opaque directories with special \
                  names, which must be recognised so the unpacker turns them into overlayfs's own form. And \
                  overlayfs reads the layers highest first.",
        look: "the OCI image layer spec, \"Whiteouts\"; the overlayfs documentation on whiteouts, opaque \
               directories and multiple lower layers. whiteout, apply_whiteout and mount_overlay.",
        section: "Whiteouts, translated",
    },
    Entry {
        id: "10.3",
        concept: "Writes must land in the container's own upper directory. The layers underneath are shared \
                  by every container of the image and must stay untouched.",
        look: "the overlayfs documentation on upper and lower and on copy up. mount_overlay.",
        section: "The stack",
    },
    Entry {
        id: "10.4",
        concept: "A whiteout marker that names nothing, or names the directory itself or its parent, deletes \
                  nothing sensible. A layer is untrusted input: such an image is refused, not half-unpacked.",
        look: "the OCI image layer spec, \"Whiteouts\". whiteout.",
        section: "Whiteouts, translated",
    },
    Entry {
        id: "10.5",
        concept: "A layer is untrusted input: its symlinks may point anywhere on the host. The unpacker hands \
                  apply_whiteout the parent directory already resolved inside the layer; a whiteout written \
                  by a path instead is looked up somewhere else — the working directory, or the host's /.",
        look: "mknodat(2) and mknod(2), \"If the pathname given in pathname is relative\"; the lesson's \
               \"Unpacking: once, verified, safely\". apply_whiteout.",
        section: "Whiteouts, translated",
    },
    // Chapter 11 — hardening
    Entry {
        id: "11.1",
        concept: "Root in the container must hold only docker's fourteen capabilities. Dropping them from \
                  what is checked now is not enough: at the next exec the kernel gives root everything in \
                  the bounding set again, so the ceiling must shrink too — and shrinking it needs a \
                  capability the other sets may be about to lose.",
        look: "capabilities(7), \"Thread capability sets\", \"Capability bounding set\" and \"Transformation \
               of capabilities during execve()\"; prctl(2) on PR_CAPBSET_DROP. limit_capabilities in \
               exercises/ch11_hardening.rs.",
        section: "Capabilities",
    },
    Entry {
        id: "11.2",
        concept: "The container must run under a syscall filter built from docker's profile. Building it is \
                  slow and happens once, on the host; loading it is one call made by the container's first \
                  process, while it still has the privilege the kernel asks of a process that has not \
                  given up new privileges.",
        look: "seccomp(2), SECCOMP_SET_MODE_FILTER and EACCES; seccomp_rule_add(3) for the rules. \
               seccomp_filter and load_seccomp.",
        section: "seccomp",
    },
    Entry {
        id: "11.3",
        concept: "The container must see its own cgroup as the root of the cgroup tree, and be unable to \
                  write what it sees there. A new cgroup namespace is rooted wherever the process is when \
                  it enters it — by then, the container's own cgroup.",
        look: "cgroup_namespaces(7) and unshare(2); mount(2) and its read-only flag; cgroups(7) for the v1 \
               hierarchies. isolate_cgroupfs.",
        section: "A cgroup namespace",
    },
    Entry {
        id: "11.4",
        concept: "The files that show the host's kernel must show nothing, and the kernel's settings must be \
                  readable but not writable. Both are done by mounting something over the path, inside the \
                  container's own mount table.",
        look: "mount(2), bind mounts and \"Creating a bind mount\" with a remount to change its flags; \
               proc(5) on /proc/keys, /proc/kcore and /proc/sys. mask_paths and make_read_only.",
        section: "Masked and read-only paths",
    },
    Entry {
        id: "11.5",
        concept: "Opening a file by its kernel handle skips every directory check, so a handle guessed through \
                  any host file the container can see reaches any directory of that filesystem. It needs a \
                  capability docker does not give, and docker's filter refuses the call without it.",
        look: "open_by_handle_at(2), the CAP_DAC_READ_SEARCH requirement; capabilities(7). \
               limit_capabilities, seccomp_filter.",
        section: "Capabilities",
    },
    Entry {
        id: "11.6",
        concept: "Mounting a cgroup hierarchy from inside shows the host's whole tree, other containers' \
                  limits included. Mounting needs the broadest capability of all, which the container must \
                  not keep — and the filter refuses mounting anyway.",
        look: "mount(2), EPERM; capabilities(7) on CAP_SYS_ADMIN. limit_capabilities, seccomp_filter.",
        section: "Capabilities",
    },
    Entry {
        id: "11.7",
        concept: "The container may make a device node, but opening it must be refused unless the device is \
                  on docker's short list. The kernel asks the container's cgroup on every open, and the \
                  list must be in place before the container runs anything.",
        look: "mknod(2); the kernel's cgroup-v1 devices documentation on devices.allow and devices.deny, \
               and for v2 bpf(2) with a cgroup device program. restrict_devices.",
        section: "Devices",
    },
    Entry {
        id: "11.8",
        concept: "The kernel's settings under /proc/sys must not be writable from the container: one of them \
                  names a program the host runs as root. Root in the container passes every permission \
                  check on the files, so only a read-only mount says no.",
        look: "mount(2) on remounting a bind mount read-only; proc(5) on /proc/sys and \
               /proc/sysrq-trigger; core(5) on core_pattern. make_read_only.",
        section: "Masked and read-only paths",
    },
    Entry {
        id: "11.9",
        concept: "Loading a kernel module is running code in the host's kernel. The kernel checks the \
                  capability before it even looks at the file, so the error it returns tells whether the \
                  container still holds it.",
        look: "init_module(2), finit_module and its errors; capabilities(7) on CAP_SYS_MODULE. \
               limit_capabilities, seccomp_filter.",
        section: "Capabilities",
    },
    Entry {
        id: "11.10",
        concept: "The host kernel's keyring, memory and timers must look empty from inside: something empty \
                  is put over each file and each directory, for the paths this kernel has.",
        look: "mount(2) on bind mounts; tmpfs(5) for an empty directory; proc(5) on /proc/keys, \
               /proc/kcore and /proc/timer_list. mask_paths.",
        section: "Masked and read-only paths",
    },
    Entry {
        id: "11.11",
        concept: "A new user namespace gives its creator every capability inside it, so dropping \
                  capabilities cannot stop this one. Only the syscall filter can refuse to create \
                  namespaces, and with that, the kernel code an unprivileged user could otherwise reach.",
        look: "user_namespaces(7) on capabilities in a new namespace; unshare(2); seccomp(2). \
               seccomp_filter and load_seccomp.",
        section: "seccomp",
    },
    Entry {
        id: "11.12",
        concept: "Attaching to a process of another user, and reading its memory, needs a capability docker \
                  does not give. Docker's filter allows the call itself: the capability is what stops it.",
        look: "ptrace(2), \"Ptrace access mode checking\"; process_vm_readv(2); capabilities(7) on \
               CAP_SYS_PTRACE. limit_capabilities.",
        section: "Capabilities",
    },
    Entry {
        id: "11.13",
        concept: "A setuid program must elevate as it does under docker, unless the user asked for no new \
                  privileges — then it must not. The flag is set only on request, and never as a way to \
                  make the filter load without privilege.",
        look: "prctl(2) on PR_SET_NO_NEW_PRIVS; seccomp(2), EACCES, on the two ways a filter may be loaded. \
               set_no_new_privs and load_seccomp.",
        section: "The pitfall: no_new_privs to make the load work",
    },
    Entry {
        id: "11.14",
        concept: "Pushing characters into a terminal's input types commands into whoever reads it, the host's \
                  shell included. A terminal that is not one's own needs a capability the container must \
                  not keep; the scaffold already gives it pipes, not the caller's terminal.",
        look: "ioctl_tty(2) (or tty_ioctl(4)) on TIOCSTI; capabilities(7) on CAP_SYS_ADMIN. \
               limit_capabilities.",
        section: "Capabilities",
    },
    Entry {
        id: "11.15",
        concept: "/sys is mounted read-only, but a read-only mount holds only if root cannot remount it. \
                  Remounting needs the capability to mount, and the filter refuses mounting anyway.",
        look: "mount(2) on remounting; capabilities(7) on CAP_SYS_ADMIN. limit_capabilities, seccomp_filter.",
        section: "Capabilities",
    },
    Entry {
        id: "11.16",
        concept: "A container must not be able to raise its own limits. Through its cgroup namespace it sees \
                  only its own cgroup, on a filesystem that cannot be written — and it cannot mount \
                  another one.",
        look: "cgroup_namespaces(7); cgroups(7) on the memory controller; mount(2) and its read-only flag. \
               isolate_cgroupfs.",
        section: "A cgroup namespace",
    },
    // Chapter 12 — lifecycle
    Entry {
        id: "12.1",
        concept: "A process that enters a running container must see what the container sees: its first \
                  process as number one, its hostname. A new PID namespace only ever holds the children of \
                  the process that joins it, which is why the scaffold forks once you are done.",
        look: "setns(2), pid_namespaces(7) on setns and children, namespaces(7) on /proc/PID/ns. \
               join_namespaces in exercises/ch12_lifecycle.rs.",
        section: "Entering a running container",
    },
    Entry {
        id: "12.2",
        concept: "Every namespace of the container must be joined, in an order the kernel accepts: the user \
                  namespace first, because it owns the others, and the mount namespace last, because after \
                  it the paths that name the container's namespaces mean something else.",
        look: "setns(2), namespaces(7), user_namespaces(7) on joining. join_namespaces.",
        section: "Entering a running container",
    },
    Entry {
        id: "12.3",
        concept: "The new process must count against the container's limits, so it moves into the \
                  container's cgroup before anything else; its cgroup namespace then makes that cgroup \
                  look like the root, as it does for the container.",
        look: "cgroups(7) on cgroup.procs, cgroup_namespaces(7), setns(2). join_namespaces.",
        section: "Entering a running container",
    },
    Entry {
        id: "12.4",
        concept: "A process entered into a container is as contained as the container: the same \
                  capabilities, the same system call filter. That only means something once it really is in \
                  the container's namespaces, its user namespace above all.",
        look: "setns(2), capabilities(7), seccomp(2); chapter 11's steps are reused. join_namespaces.",
        section: "exec is a second container process",
    },
    Entry {
        id: "12.5",
        concept: "Nothing of the caller may follow it in: open files would be reachable from inside through \
                  the process's own fd directory, and the caller's environment may hold secrets. What \
                  join_namespaces opens must not survive the exec.",
        look: "open(2) on O_CLOEXEC, close_range(2), environ(7). join_namespaces.",
        section: "exec is a second container process",
    },
    Entry {
        id: "12.6",
        concept: "The keeper of a container outlives the client that started it; when the container's first \
                  process ends, the keeper writes down how it ended, and when, for whoever asks later.",
        look: "wait(2) on exit statuses, rename(2) on atomic replacement. record_exit in \
               exercises/ch12_lifecycle.rs.",
        section: "The shim",
    },
    // Chapter 13 — speak OCI
    Entry {
        id: "13.1",
        concept: "An engine creates a container and starts it in two steps. Between them everything is \
                  built and the first process exists, but it waits: it has not run one instruction of the \
                  user's program. The engine's shim adopts it when the runtime's own process exits.",
        look: "the OCI runtime spec, runtime.md (lifecycle); fifo(7) on opening blocks until both ends \
               are open. namespace_plan, mount_plan and capability_sets in exercises/ch13_oci.rs.",
        section: "The lifecycle: create, start, state, kill, delete",
    },
    Entry {
        id: "13.2",
        concept: "config.json lists the namespaces as data: a type alone asks for a new one, a type with a \
                  path names one to join. Each new one is the same flag chapters 3 to 7 passed to clone.",
        look: "the OCI runtime spec, config-linux.md (namespaces); clone(2), namespaces(7). namespace_plan.",
        section: "From config.json to clone flags",
    },
    Entry {
        id: "13.3",
        concept: "A mount's options are the words of the mount command. Some are flags the kernel applies to \
                  the mount: read-only, no setuid, no devices; some decide how mount events propagate, and \
                  the rest belong to the filesystem itself.",
        look: "mount(8) FILESYSTEM-INDEPENDENT MOUNT OPTIONS, mount(2) on mountflags and data; the OCI \
               runtime spec, config.md (mounts). mount_plan.",
        section: "Mounts: option words to flags",
    },
    Entry {
        id: "13.4",
        concept: "A process has five capability sets, and the spec names each of them. Chapter 11 kept one \
                  list for all; here each set is exactly what the engine asked for, and a set it does not \
                  name is empty.",
        look: "capabilities(7) on the five sets; the OCI runtime spec, config.md (process.capabilities). \
               capability_sets.",
        section: "Capabilities: five sets",
    },
    Entry {
        id: "13.5",
        concept: "The engine decides where the container's cgroup lives and what limits it has; the runtime \
                  makes it there and puts the first process in before it runs anything.",
        look: "cgroups(7); the OCI runtime spec, config-linux.md (cgroupsPath, resources).",
        section: "The lifecycle: create, start, state, kill, delete",
    },
    Entry {
        id: "13.6",
        concept: "A second process enters the running container the way chapter 12 taught: every namespace \
                  of its first process, its cgroup, then the same process setup as the first.",
        look: "setns(2); the OCI runtime spec has no exec, runc's command line does (runc-exec(8)).",
        section: "exec: podman exec",
    },
    Entry {
        id: "14.1",
        concept: "The daemon is a translation: every create becomes the arguments of a detached run, and part of \
                  that translation is yours. Until it answers, the daemon can only refuse, and says so the way \
                  dockerd does, with a status and a JSON message the client prints.",
        look: "The Docker Engine API documentation, ContainerCreate and its HostConfig. publish_flags in \
               exercises/ch14_daemon.rs.",
        section: "From JSON to run flags",
    },
    Entry {
        id: "14.2",
        concept: "A port binding names two ends: the key is the container's port with its protocol, the value \
                  the host's address and port. The run flag wants the host's side first, no protocol, and the \
                  address only when one was asked for.",
        look: "The Docker Engine API documentation on HostConfig.PortBindings; docker run --publish. \
               publish_flags.",
        section: "From JSON to run flags",
    },
    Entry {
        id: "14.3",
        concept: "Two outputs share one body, so each chunk is announced by a fixed header: which stream, then \
                  how many bytes follow, in network byte order. A reader trusts that length completely.",
        look: "The Docker Engine API documentation, ContainerAttach, \"Stream format\"; byteorder(3) on \
               network byte order. frame_header in exercises/ch14_daemon.rs.",
        section: "The multiplexed stream",
    },
    Entry {
        id: "14.4",
        concept: "Attach leaves HTTP behind: after the upgrade the connection is a byte pipe both ways, the \
                  client's keystrokes in, the container's output out, framed the same way as the logs.",
        look: "RFC 9110 on Upgrade and 101 Switching Protocols; the Engine API documentation, \
               ContainerAttach. frame_header.",
        section: "Hijacking the connection",
    },
    Entry {
        id: "14.5",
        concept: "The daemon keeps no container of its own: the one it creates is recorded where every other \
                  front-end looks, and started by the same keeper, in namespaces of its own.",
        look: "namespaces(7), the Engine API documentation on ContainerInspect. The create needs \
               publish_flags first.",
        section: "The API is the seam",
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::for_chapter;

    fn lesson(chapter: u8) -> String {
        let file = workshop::chapter(chapter).unwrap().lesson_file();
        let path = format!("{}/../{file}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
    }

    #[test]
    fn every_check_has_three_levels() {
        for chapter in workshop::CHAPTERS {
            for check in for_chapter(chapter.number) {
                let levels = levels(chapter.number, &check)
                    .unwrap_or_else(|| panic!("check {} has no hint levels 1 and 2", check.id));
                for n in 1..=3 {
                    assert!(
                        !levels.level(n).trim().is_empty(),
                        "check {} level {n}",
                        check.id
                    );
                }
                assert_eq!(levels.level(3), check.hint, "level 3 is the check's hint");
            }
        }
    }

    #[test]
    fn every_entry_is_a_check_of_its_chapter() {
        for entry in TABLE {
            let chapter: u8 = entry.id.split('.').next().unwrap().parse().unwrap();
            assert!(
                for_chapter(chapter).iter().any(|c| c.id == entry.id),
                "hint entry {} names no check",
                entry.id
            );
            assert_eq!(
                TABLE.iter().filter(|e| e.id == entry.id).count(),
                1,
                "{}",
                entry.id
            );
        }
    }

    #[test]
    fn level_one_is_the_concept_not_the_code() {
        for entry in TABLE {
            for code in ["(", "::", "CLONE_", "MS_", "MNT_"] {
                assert!(
                    !entry.concept.contains(code),
                    "level 1 of {} shows code ({code:?}): {}",
                    entry.id,
                    entry.concept
                );
            }
        }
    }

    #[test]
    fn level_two_names_a_man_page_or_spec_and_a_real_lesson_section() {
        let man_page = |text: &str| {
            text.match_indices('(').any(|(at, _)| {
                let rest = &text.as_bytes()[at + 1..];
                rest.len() >= 2 && rest[0].is_ascii_digit() && rest[1] == b')'
            })
        };
        for entry in TABLE {
            assert!(
                man_page(entry.look)
                    || entry.look.contains("spec")
                    || entry.look.contains("RFC")
                    || entry.look.contains("documentation"),
                "level 2 of {} names no man page or spec: {}",
                entry.id,
                entry.look
            );
            let chapter: u8 = entry.id.split('.').next().unwrap().parse().unwrap();
            let heading = format!("\n## {}\n", entry.section);
            assert!(
                lesson(chapter).contains(&heading),
                "level 2 of {} names section {:?}, which {} does not have",
                entry.id,
                entry.section,
                workshop::chapter(chapter).unwrap().lesson_file()
            );
        }
    }
}
