/* Tries to type a command into the terminal the container was started from:
 * ioctl(TIOCSTI) on its stdin, stdout, stderr and /dev/tty (the pattern of
 * CVE-2016-7545 and friends). Prints one line per fd: "fd N: injected" or
 * "fd N: <errno>". The injected text is built here so that printing these
 * lines never shows it: a test reads the caller's terminal for it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int inject(int fd) {
    char text[16];
    /* "touch /tmp/" would be the attack; a marker the test looks for will do. */
    snprintf(text, sizeof text, "%s%s\n", "INJ", "ECTED-42");
    for (size_t i = 0; i < strlen(text); i++) {
        if (ioctl(fd, TIOCSTI, &text[i]) != 0) return errno;
    }
    return 0;
}

int main(void) {
    int fds[4] = {0, 1, 2, open("/dev/tty", O_RDWR | O_NOCTTY)};
    int open_errno = errno;
    for (int i = 0; i < 4; i++) {
        const char *name = i == 3 ? "/dev/tty" : (i == 0 ? "0" : i == 1 ? "1" : "2");
        if (fds[i] < 0) {
            printf("fd %s: open: %s\n", name, strerror(open_errno));
            continue;
        }
        int err = inject(fds[i]);
        printf("fd %s: %s\n", name, err ? strerror(err) : "injected");
    }
    return 0;
}
