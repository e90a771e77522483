package integration

// C sources of the static test programs, compiled by cProgram into the
// rootfs's /cbin. Each prints what it saw, one fact a line, with errno
// names rather than messages so the output does not depend on a libc's
// wording.

const cErrnoName = `
#include <errno.h>
static const char *errname(int e) {
	switch (e) {
	case 0: return "OK";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ESRCH: return "ESRCH";
	case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EINVAL: return "EINVAL";
	case ENOSYS: return "ENOSYS";
	case ENODEV: return "ENODEV";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	default: return "OTHER";
	}
}
`

var cSources = map[string]string{
	// enosys: unimplemented system calls return ENOSYS and the program
	// goes on.
	"enosys": cErrnoName + `
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(void) {
	long nums[] = {400, 423, 1000, 180 /* nfsservctl, removed from Linux */, 99999};
	for (unsigned i = 0; i < sizeof nums / sizeof nums[0]; i++) {
		errno = 0;
		long r = syscall(nums[i], 1, 2, 3, 4, 5, 6);
		printf("syscall %ld: %ld %s\n", nums[i], r, errname(errno));
	}
	printf("still running: getpid>0 %d\n", getpid() > 0);
	return 0;
}
`,
	// segv dies of SIGSEGV.
	"segv": `
#include <stdio.h>
int main(void) {
	printf("about to fault\n");
	fflush(stdout);
	*(volatile int *)16 = 1;
	printf("survived the fault\n");
	return 0;
}
`,
	// forkbomb forks children that wait until it hits the task limit (or
	// gives up after 1000), then kills and reaps them.
	"forkbomb": cErrnoName + `
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/wait.h>
int main(void) {
	static pid_t kids[1000];
	int n = 0, err = 0;
	for (; n < 1000; n++) {
		pid_t p = fork();
		if (p == 0) {
			for (;;) pause();
		}
		if (p < 0) {
			err = errno;
			break;
		}
		kids[n] = p;
	}
	if (err) printf("fork failed with %s after %d children\n", errname(err), n);
	else printf("no limit hit after %d children\n", n);
	for (int i = 0; i < n; i++) kill(kids[i], SIGKILL);
	int reaped = 0;
	while (wait(NULL) > 0) reaped++;
	printf("reaped %d\n", reaped);
	fflush(stdout);
	return err ? 0 : 1;
}
`,
	// bigalloc maps 1 GiB and touches every page.
	"bigalloc": cErrnoName + `
#include <stdio.h>
#include <sys/mman.h>
int main(void) {
	size_t size = 1UL << 30;
	char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		printf("mmap failed: %s\n", errname(errno));
		return 3;
	}
	printf("mapped\n");
	fflush(stdout);
	for (size_t i = 0; i < size; i += 4096) p[i] = 1;
	printf("touched %zu MiB\n", size >> 20);
	return 0;
}
`,
	// ptrace_attach tries to attach to the pid in argv[1].
	"ptrace_attach": cErrnoName + `
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
int main(int argc, char **argv) {
	long pid = argc > 1 ? atol(argv[1]) : 1;
	errno = 0;
	long r = ptrace(PTRACE_ATTACH, pid, 0, 0);
	printf("ptrace attach %ld: %ld %s\n", pid, r, errname(errno));
	if (r == 0) ptrace(PTRACE_DETACH, pid, 0, 0);
	errno = 0;
	r = ptrace(PTRACE_SEIZE, pid, 0, 0);
	printf("ptrace seize %ld: %ld %s\n", pid, r, errname(errno));
	if (r == 0) ptrace(PTRACE_DETACH, pid, 0, 0);
	return 0;
}
`,
	// privileged tries operations a sandbox must refuse. None of them harms
	// the host if it wrongly succeeds: the mount is on a path only the
	// rootfs has, kexec_load is given invalid flags, and reboot is asked to
	// turn Ctrl-Alt-Del off.
	"privileged": cErrnoName + `
#include <stdio.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <linux/reboot.h>
int main(void) {
	errno = 0;
	long r = mount("none", "/cbin", "tmpfs", 0, NULL);
	printf("mount: %ld %s\n", r, errname(errno));
	errno = 0;
	r = syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0xdead0000UL);
	printf("kexec_load: %ld %s\n", r, errname(errno));
	errno = 0;
	r = syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_CAD_OFF, NULL);
	printf("reboot: %ld %s\n", r, errname(errno));
	errno = 0;
	r = syscall(SYS_init_module, NULL, 0UL, "");
	printf("init_module: %ld %s\n", r, errname(errno));
	return 0;
}
`,
	// rawfds probes descriptor numbers beyond stdio: every one must be
	// EBADF (the sentry's own host descriptors must not show through).
	"rawfds": cErrnoName + `
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/stat.h>
int main(void) {
	int open_fds = 0;
	for (int fd = 3; fd < 4096; fd++) {
		errno = 0;
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF) {
			printf("fd %d: fcntl %s\n", fd, errname(errno));
			open_fds++;
		}
	}
	int fds[] = {3, 4, 5, 10, 63, 64, 100, 255, 256, 1000, 1023, 1024, 65535, 1 << 20, -1};
	for (unsigned i = 0; i < sizeof fds / sizeof fds[0]; i++) {
		struct stat st;
		char c = 'x';
		errno = 0;
		long w = write(fds[i], &c, 1);
		int we = errno;
		errno = 0;
		long s = fstat(fds[i], &st);
		int se = errno;
		errno = 0;
		long rd = read(fds[i], &c, 1);
		if (w >= 0 || s >= 0 || rd >= 0 || we != EBADF || se != EBADF || errno != EBADF)
			printf("fd %d: write %s fstat %s read %s\n", fds[i], errname(we), errname(se), errname(errno));
		else
			open_fds += 0;
	}
	printf("open descriptors beyond stdio: %d\n", open_fds);
	return 0;
}
`,
}
