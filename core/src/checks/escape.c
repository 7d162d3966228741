/* The escape room: one static helper, one sub-command per breakout, run
 * inside a container by the chapter 11 checks (core/src/checks/ch11.rs).
 *
 *   exit 0  the escape WORKED (stdout says what it proved)
 *   exit 1  blocked (stdout names the call and its errno)
 *   exit 2  setup error (stderr says what)
 *
 * None of them changes the host: a success is proven by reading a sentinel
 * file the check planted outside the rootfs, or by a permission shown and
 * then not used (an fd opened for writing and closed, a mount undone, an
 * ioctl or syscall refused for a harmless reason *after* its permission
 * check). Never written: release_agent, /proc/sysrq-trigger, /proc/sys, a
 * disk; no module is loaded. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <dirent.h>
#include <limits.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#define WORKED 0
#define BLOCKED 1
#define SETUP 2

static int blocked(const char *call) {
    printf("blocked: %s: %s\n", call, strerror(errno));
    return BLOCKED;
}

static int setup_error(const char *what) {
    fprintf(stderr, "escape: setup: %s: %s\n", what, strerror(errno));
    return SETUP;
}

/* shocker MOUNT_FILE HANDLE_TYPE HANDLE_HEX NAME: open_by_handle_at through
 * MOUNT_FILE (any file on the host filesystem: a bind mount) to a host
 * directory outside the rootfs, then read NAME in it. The real exploit
 * brute-forces the handle; the check hands over the right one to be quick. */
static int shocker(char **argv) {
    int mount_fd = open(argv[0], O_RDONLY);
    if (mount_fd < 0) return setup_error(argv[0]);
    const char *hex = argv[2];
    size_t bytes = strlen(hex) / 2;
    struct file_handle *handle = calloc(1, sizeof *handle + bytes);
    handle->handle_bytes = bytes;
    handle->handle_type = atoi(argv[1]);
    for (size_t i = 0; i < bytes; i++) sscanf(hex + 2 * i, "%2hhx", &handle->f_handle[i]);
    int dir = open_by_handle_at(mount_fd, handle, O_RDONLY | O_DIRECTORY);
    if (dir < 0) return blocked("open_by_handle_at");
    int fd = openat(dir, argv[3], O_RDONLY);
    if (fd < 0) return setup_error("openat the sentinel through the handle");
    char secret[256];
    ssize_t n = read(fd, secret, sizeof secret - 1);
    if (n < 0) return setup_error("read the sentinel");
    fwrite(secret, 1, n, stdout);
    return WORKED;
}

/* cgroup-mount DIR: mount a cgroup hierarchy (v1 memory, else cgroup2) at
 * DIR; success = the mount call succeeded (undone at once). */
static int cgroup_mount(char **argv) {
    if (mount("cgroup", argv[0], "cgroup", 0, "memory") == 0) {
        umount2(argv[0], MNT_DETACH);
        printf("mounted the memory cgroup hierarchy at %s\n", argv[0]);
        return WORKED;
    }
    int v1 = errno;
    if (mount("cgroup2", argv[0], "cgroup2", 0, NULL) == 0) {
        umount2(argv[0], MNT_DETACH);
        printf("mounted cgroup2 at %s\n", argv[0]);
        return WORKED;
    }
    printf("blocked: mount -t cgroup -o memory: %s; mount -t cgroup2: %s\n", strerror(v1), strerror(errno));
    return BLOCKED;
}

/* The host's disk: the device "/" lives on, else the first one in /proc/partitions. */
static dev_t host_disk(void) {
    struct stat root;
    if (stat("/", &root) == 0 && major(root.st_dev) != 0) return root.st_dev;
    FILE *f = fopen("/proc/partitions", "r");
    unsigned maj, min;
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, " %u %u", &maj, &min) == 2) return makedev(maj, min);
    return 0;
}

/* Open the device `dev` through a node made at `node`; -1 and errno if refused. */
static int open_node(const char *node, mode_t kind, dev_t dev, int flags, const char *what) {
    unlink(node);
    if (mknod(node, kind | 0600, dev) != 0) {
        int mknod_errno = errno;
        printf("blocked: mknod %s: %s\n", what, strerror(mknod_errno));
        errno = mknod_errno;
        return -1;
    }
    int fd = open(node, flags);
    int open_errno = errno;
    unlink(node);
    if (fd < 0) printf("blocked: open %s: %s\n", what, strerror(open_errno));
    errno = open_errno;
    return fd;
}

/* disk NODE: mknod the host's root block device at NODE and read its
 * superblock (never write): success = bytes read (the ext4 magic). Where
 * there is no disk to find, or the host itself may not read it (some VMs),
 * character devices docker does not allow show the same layer: /dev/fuse
 * (10:229) and /dev/kmsg (1:11), opened and closed. A device this kernel
 * lacks (ENXIO, ENODEV) proves nothing either way: the next one is tried. */
static int disk(char **argv) {
    struct { mode_t kind; dev_t dev; const char *what; int flags; } tries[3];
    int n = 0, refused = 0;
    dev_t root = host_disk();
    if (root != 0) tries[n++] = (typeof(tries[0])){S_IFBLK, root, "the host's disk", O_RDONLY};
    tries[n++] = (typeof(tries[0])){S_IFCHR, makedev(10, 229), "/dev/fuse (c 10 229)", O_RDWR};
    tries[n++] = (typeof(tries[0])){S_IFCHR, makedev(1, 11), "/dev/kmsg (c 1 11)", O_RDONLY | O_NONBLOCK};
    for (int i = 0; i < n; i++) {
        int fd = open_node(argv[0], tries[i].kind, tries[i].dev, tries[i].flags, tries[i].what);
        if (fd < 0) {
            refused |= errno == EPERM || errno == EACCES;
            continue;
        }
        unsigned char magic[2] = {0, 0};
        if (tries[i].kind == S_IFBLK && pread(fd, magic, 2, 1024 + 56) != 2) {
            close(fd);
            continue;
        }
        close(fd);
        printf("opened %s %u:%u, a device docker does not allow%s\n", tries[i].what, major(tries[i].dev),
               minor(tries[i].dev), magic[0] == 0x53 && magic[1] == 0xef ? " (read its ext4 superblock)" : "");
        return WORKED;
    }
    if (!refused) return setup_error("none of the devices tried exists on this kernel");
    return BLOCKED;
}

/* proc-write: open the host kernel's settings for writing, then close unwritten. */
static int proc_write(void) {
    const char *paths[] = {"/proc/sys/kernel/core_pattern", "/proc/sysrq-trigger"};
    int worked = 0;
    for (int i = 0; i < 2; i++) {
        int fd = open(paths[i], O_WRONLY);
        if (fd >= 0) {
            close(fd); /* the permission is the proof: nothing is written */
            printf("opened %s for writing\n", paths[i]);
            worked = 1;
        } else {
            printf("blocked: open %s O_WRONLY: %s\n", paths[i], strerror(errno));
        }
    }
    return worked ? WORKED : BLOCKED;
}

/* A kernel without modules (ENOSYS) cannot tell: CapEff says whether
 * CAP_SYS_MODULE (bit 16) would have passed the check. */
static int sys_module_held(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long eff = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "CapEff: %llx", &eff) == 1) break;
    if (eff & (1ULL << 16)) {
        printf("finit_module: ENOSYS (a kernel without modules), but CapEff holds CAP_SYS_MODULE\n");
        return WORKED;
    }
    printf("blocked: finit_module: ENOSYS, and CapEff %llx lacks CAP_SYS_MODULE\n", eff);
    return BLOCKED;
}

/* finit-module: the kernel checks CAP_SYS_MODULE before the fd: EBADF says
 * the capability is there (and loads nothing), EPERM that it is not. */
static int finit_module(void) {
    if (syscall(SYS_finit_module, -1, "", 0) == 0) return setup_error("finit_module(-1) succeeded?");
    if (errno == EBADF) {
        printf("finit_module(-1): EBADF: past the CAP_SYS_MODULE check, a real module fd would load\n");
        return WORKED;
    }
    if (errno == ENOSYS) return sys_module_held();
    return blocked("finit_module(-1)");
}

/* proc-read: what describes the host's kernel: content = escape. */
static int proc_read(void) {
    const char *paths[] = {"/proc/kcore", "/proc/keys", "/proc/timer_list"};
    int worked = 0;
    for (int i = 0; i < 3; i++) {
        char buf[64];
        int fd = open(paths[i], O_RDONLY);
        ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf);
        if (n > 0) {
            printf("read %zd bytes of %s\n", n, paths[i]);
            worked = 1;
        } else if (n == 0) {
            printf("blocked: %s is empty\n", paths[i]);
        } else {
            printf("blocked: %s: %s\n", paths[i], strerror(errno));
        }
        if (fd >= 0) close(fd);
    }
    return worked ? WORKED : BLOCKED;
}

/* unshare-mount DIR: a user namespace of one's own gives CAP_SYS_ADMIN over
 * a new mount namespace: mount a tmpfs there. */
static int unshare_mount(char **argv) {
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) return blocked("unshare(CLONE_NEWUSER|CLONE_NEWNS)");
    if (mount("none", argv[0], "tmpfs", 0, "size=4k") != 0) return blocked("mount tmpfs in the new namespaces");
    umount2(argv[0], MNT_DETACH);
    printf("unshared a user and a mount namespace and mounted a tmpfs at %s\n", argv[0]);
    return WORKED;
}

/* ptrace: attach to a process of another user (a child that became nobody):
 * needs CAP_SYS_PTRACE. Then process_vm_readv its memory. */
static int ptrace_other(void) {
    static volatile char secret[] = "nobody's secret";
    int ready[2];
    if (pipe(ready) != 0) return setup_error("pipe");
    pid_t child = fork();
    if (child < 0) return setup_error("fork");
    if (child == 0) {
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(SETUP);
        close(ready[0]);
        write(ready[1], "x", 1);
        for (;;) pause();
    }
    close(ready[1]);
    char x;
    if (read(ready[0], &x, 1) != 1) {
        waitpid(child, NULL, 0);
        return setup_error("the child could not become uid 65534");
    }
    int outcome;
    if (ptrace(PTRACE_ATTACH, child, NULL, NULL) != 0) {
        outcome = blocked("ptrace(PTRACE_ATTACH) a process of uid 65534");
    } else {
        waitpid(child, NULL, __WALL);
        char seen[sizeof secret] = {0};
        struct iovec local = {seen, sizeof seen}, remote = {(void *)secret, sizeof secret};
        ssize_t n = process_vm_readv(child, &local, 1, &remote, 1, 0);
        printf("attached to uid 65534's process %d; process_vm_readv: %s\n", child, n > 0 ? seen : strerror(errno));
        ptrace(PTRACE_DETACH, child, NULL, NULL);
        outcome = WORKED;
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    return outcome;
}

/* nnp SETUID_COPY: become nobody (every capability gone), then exec a
 * setuid-root copy of this helper, which reports the euid it got. */
static int nnp(char **argv) {
    if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) return setup_error("become uid 65534");
    char *args[] = {argv[0], "euid", NULL};
    execv(argv[0], args);
    return setup_error(argv[0]);
}

static int euid(void) {
    int no_new_privs = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
    if (geteuid() == 0) {
        printf("uid %d ran a setuid-root program: euid 0 (NoNewPrivs %d)\n", getuid(), no_new_privs);
        return WORKED;
    }
    printf("blocked: the setuid-root program runs with euid %d (NoNewPrivs %d)\n", geteuid(), no_new_privs);
    return BLOCKED;
}

/* tiocsti NODE: could this container type into a terminal? fds 0-2, /dev/tty
 * and the host's console (mknod c 5 1 at NODE). TIOCSTI with a NULL pointer:
 * the kernel checks the permission (CAP_SYS_ADMIN for a terminal that is not
 * one's own) before it reads the byte: EFAULT = it would have typed, nothing is. */
static int tiocsti(char **argv) {
    int worked = 0;
    unlink(argv[0]);
    if (mknod(argv[0], S_IFCHR | 0600, makedev(5, 1)) != 0) printf("mknod c 5 1: %s\n", strerror(errno));
    const char *names[] = {"stdin", "stdout", "stderr", "/dev/tty", "the host console (c 5 1)"};
    int fds[5] = {0, 1, 2, open("/dev/tty", O_RDWR | O_NOCTTY | O_NONBLOCK),
                  open(argv[0], O_RDWR | O_NOCTTY | O_NONBLOCK)};
    unlink(argv[0]);
    for (int i = 0; i < 5; i++) {
        if (fds[i] < 0) continue;
        if (ioctl(fds[i], TIOCSTI, NULL) == 0 || errno == EFAULT) {
            printf("TIOCSTI allowed on %s\n", names[i]);
            worked = 1;
        } else if (errno != ENOTTY) {
            printf("blocked: TIOCSTI on %s: %s\n", names[i], strerror(errno));
        }
    }
    if (!worked) printf("blocked: no terminal to type into\n");
    return worked ? WORKED : BLOCKED;
}

/* sys-remount: make the read-only /sys writable again (restored at once). */
static int sys_remount(void) {
    if (mount(NULL, "/sys", NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        return blocked("mount(/sys, MS_REMOUNT|MS_BIND) without MS_RDONLY");
    mount(NULL, "/sys", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    printf("remounted /sys read-write\n");
    return WORKED;
}

/* The container's own memory cgroup directory, relative to its hierarchy,
 * from /proc/self/cgroup ("N:memory:/path" on v1, "0::/path" on v2). */
static int own_cgroup(const char *controller, char *path, size_t size) {
    FILE *f = fopen("/proc/self/cgroup", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *names = strchr(line, ':'), *rest = names ? strchr(names + 1, ':') : NULL;
        if (!rest) continue;
        *rest = 0;
        if (strcmp(names + 1, controller) == 0) {
            snprintf(path, size, "%s", rest + 1);
            fclose(f);
            return 1;
        }
    }
    if (f) fclose(f);
    return 0;
}

static int open_limit(const char *file) {
    int fd = open(file, O_WRONLY);
    if (fd < 0) {
        printf("blocked: open %s O_WRONLY: %s\n", file, strerror(errno));
        return 0;
    }
    close(fd); /* opened for writing is the proof: the limit is left as it is */
    printf("opened %s for writing\n", file);
    return 1;
}

/* memory-limit DIR: find the container's memory limit file, through the
 * cgroupfs the container has or one it mounts at DIR, and open it for writing. */
static int memory_limit(char **argv) {
    char own[400], file[1024];
    int worked = 0;
    if (own_cgroup("memory", own, sizeof own)) {
        snprintf(file, sizeof file, "/sys/fs/cgroup/memory%s/memory.limit_in_bytes", own);
        if (access(file, F_OK) == 0) worked |= open_limit(file);
    }
    if (own_cgroup("", own, sizeof own)) {
        snprintf(file, sizeof file, "/sys/fs/cgroup%s/memory.max", own);
        if (access(file, F_OK) == 0) worked |= open_limit(file);
    }
    const char *mounted = NULL;
    if (mount("cgroup", argv[0], "cgroup", 0, "memory") == 0) mounted = "memory";
    else if (mount("cgroup2", argv[0], "cgroup2", 0, NULL) == 0) mounted = "";
    else printf("blocked: mount a memory cgroup hierarchy: %s\n", strerror(errno));
    if (mounted && own_cgroup(mounted, own, sizeof own)) {
        snprintf(file, sizeof file, "%s%s/%s", argv[0], own, *mounted ? "memory.limit_in_bytes" : "memory.max");
        worked |= open_limit(file);
    }
    if (mounted) umount2(argv[0], MNT_DETACH);
    return worked ? WORKED : BLOCKED;
}

/* Does the directory open at `fd` lie under our "/"? Walk ".." up: a host
 * directory (a leaked fd) reaches the real root without passing ours. */
static int under_our_root(int fd) {
    struct stat root, at, up;
    if (stat("/", &root) != 0 || fstat(fd, &at) != 0) return 1;
    int dir = dup(fd);
    for (int depth = 0; depth < 256; depth++) {
        if (at.st_dev == root.st_dev && at.st_ino == root.st_ino) break;
        int parent = openat(dir, "..", O_RDONLY | O_DIRECTORY);
        close(dir);
        if (parent < 0 || fstat(parent, &up) != 0) return 1;
        if (up.st_dev == at.st_dev && up.st_ino == at.st_ino) {
            close(parent);
            return 0; /* the top of a tree that is not ours */
        }
        dir = parent;
        at = up;
    }
    close(dir);
    return 1;
}

/* fd-walk: every fd of PID 1 and of this process beyond stdio: a directory
 * outside the rootfs or a socket is a way out (CVE-2024-21626's pattern). */
static int fd_walk(void) {
    const char *procs[] = {"/proc/1/fd", "/proc/self/fd"};
    int worked = 0;
    for (int p = 0; p < 2; p++) {
        DIR *d = opendir(procs[p]);
        if (!d) return setup_error(procs[p]);
        struct dirent *e;
        while ((e = readdir(d))) {
            int n = atoi(e->d_name);
            if (e->d_name[0] == '.' || n <= 2 || (p == 1 && n == dirfd(d))) continue;
            char link[PATH_MAX], target[PATH_MAX] = "";
            snprintf(link, sizeof link, "%s/%s", procs[p], e->d_name);
            if (readlink(link, target, sizeof target - 1) < 0) continue;
            int dir = open(link, O_RDONLY | O_DIRECTORY);
            if (dir >= 0 && !under_our_root(dir)) {
                printf("%s -> %s: a directory outside the rootfs\n", link, target);
                worked = 1;
            } else if (!strncmp(target, "socket:", 7)) {
                printf("%s -> %s: a socket from outside\n", link, target);
                worked = 1;
            }
            if (dir >= 0) close(dir);
        }
        closedir(d);
    }
    if (!worked) printf("blocked: no fd beyond stdio leads out\n");
    return worked ? WORKED : BLOCKED;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: escape SUB-COMMAND [ARGS]\n");
        return SETUP;
    }
    const char *sub = argv[1];
    char **args = argv + 2;
    int n = argc - 2;
    if (!strcmp(sub, "shocker") && n == 4) return shocker(args);
    if (!strcmp(sub, "cgroup-mount") && n == 1) return cgroup_mount(args);
    if (!strcmp(sub, "disk") && n == 1) return disk(args);
    if (!strcmp(sub, "proc-write")) return proc_write();
    if (!strcmp(sub, "finit-module")) return finit_module();
    if (!strcmp(sub, "proc-read")) return proc_read();
    if (!strcmp(sub, "unshare-mount") && n == 1) return unshare_mount(args);
    if (!strcmp(sub, "ptrace")) return ptrace_other();
    if (!strcmp(sub, "nnp") && n == 1) return nnp(args);
    if (!strcmp(sub, "euid")) return euid();
    if (!strcmp(sub, "tiocsti") && n == 1) return tiocsti(args);
    if (!strcmp(sub, "sys-remount")) return sys_remount();
    if (!strcmp(sub, "fd-walk")) return fd_walk();
    if (!strcmp(sub, "memory-limit") && n == 1) return memory_limit(args);
    fprintf(stderr, "escape: unknown sub-command or wrong arguments: %s\n", sub);
    return SETUP;
}
