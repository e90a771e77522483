// bench.c: the in-sandbox loops of `make bench`. Built with gcc -static by
// test/bench and run as `bench MODE N [FILE]`, natively (chroot) and in the
// sandbox. Each mode runs N iterations and times the loop itself, so the
// start-up of the sandbox does not pollute the per-operation figure. It
// prints one line: "ns/op <float>".
//
// The sysemu modes run natively only: they are the floor of the ptrace
// design, a tracer that forks a child calling getpid in a loop and resumes
// it with PTRACE_SYSEMU after every stop (sysemu: nothing else; sysemu-regs:
// also PTRACE_GETREGS and PTRACE_SETREGS per stop, the least an emulator
// must do to read the call and write its result). Tracer and child run on
// one CPU (the tracer's), as the sentry keeps a stub thread on its tracer's
// CPU.
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void die(const char *what) {
	perror(what);
	exit(1);
}

// sysemu_loop traces a child that calls getpid forever and returns the time
// n PTRACE_SYSEMU stop/resume cycles take.
static double sysemu_loop(long n, int regs) {
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(sched_getcpu(), &set);
	if (sched_setaffinity(0, sizeof set, &set)) die("sched_setaffinity");
	pid_t c = fork();
	if (c < 0) die("fork");
	if (c == 0) {
		if (ptrace(PTRACE_TRACEME, 0, 0, 0)) _exit(1);
		raise(SIGSTOP);
		for (;;) syscall(SYS_getpid);
	}
	int status;
	if (waitpid(c, &status, 0) != c || !WIFSTOPPED(status)) die("waitpid stop");
	if (ptrace(PTRACE_SETOPTIONS, c, 0, PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD)) die("PTRACE_SETOPTIONS");
	struct user_regs_struct r;
	double start = now_ns();
	for (long i = 0; i < n; i++) {
		if (ptrace(PTRACE_SYSEMU, c, 0, 0)) die("PTRACE_SYSEMU");
		if (waitpid(c, &status, __WALL) != c || !WIFSTOPPED(status) || WSTOPSIG(status) != (SIGTRAP | 0x80))
			die("waitpid syscall stop");
		if (regs) {
			if (ptrace(PTRACE_GETREGS, c, 0, &r)) die("PTRACE_GETREGS");
			if (r.orig_rax != SYS_getpid) die("not getpid");
			r.rax = c;
			r.orig_rax = -1;
			if (ptrace(PTRACE_SETREGS, c, 0, &r)) die("PTRACE_SETREGS");
		}
	}
	double end = now_ns();
	kill(c, SIGKILL);
	waitpid(c, &status, 0);
	return end - start;
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: bench getpid|clock|read1|forkexec|mmap|readfile|sysemu|sysemu-regs N [FILE]\n");
		return 2;
	}
	const char *mode = argv[1];
	long n = atol(argv[2]);
	double start, end;

	if (!strcmp(mode, "getpid")) {
		start = now_ns();
		for (long i = 0; i < n; i++) syscall(SYS_getpid);
		end = now_ns();
	} else if (!strcmp(mode, "clock")) {
		/* Through the vDSO when the sandbox provides one. */
		struct timespec ts;
		start = now_ns();
		for (long i = 0; i < n; i++) clock_gettime(CLOCK_MONOTONIC, &ts);
		end = now_ns();
	} else if (!strcmp(mode, "read1")) {
		int fd = open("/dev/zero", O_RDONLY);
		if (fd < 0) die("open /dev/zero");
		char c;
		start = now_ns();
		for (long i = 0; i < n; i++)
			if (read(fd, &c, 1) != 1) die("read");
		end = now_ns();
	} else if (!strcmp(mode, "forkexec")) {
		start = now_ns();
		for (long i = 0; i < n; i++) {
			pid_t p = fork();
			if (p < 0) die("fork");
			if (p == 0) {
				execl("/bin/true", "true", (char *)NULL);
				_exit(127);
			}
			int status;
			if (waitpid(p, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) die("child");
		}
		end = now_ns();
	} else if (!strcmp(mode, "mmap")) {
		size_t size = 64UL << 20;
		start = now_ns();
		for (long i = 0; i < n; i++) {
			char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p == MAP_FAILED) die("mmap");
			for (size_t off = 0; off < size; off += 4096) p[off] = 1;
			if (munmap(p, size)) die("munmap");
		}
		end = now_ns();
	} else if (!strcmp(mode, "readfile")) {
		if (argc < 4) die("readfile needs FILE");
		static char buf[1 << 20];
		long long total = 0;
		start = now_ns();
		for (long i = 0; i < n; i++) {
			int fd = open(argv[3], O_RDONLY);
			if (fd < 0) die("open");
			ssize_t r;
			while ((r = read(fd, buf, sizeof buf)) > 0) total += r;
			if (r < 0) die("read");
			close(fd);
		}
		end = now_ns();
		if (total == 0) die("empty file");
	} else if (!strcmp(mode, "sysemu") || !strcmp(mode, "sysemu-regs")) {
		start = 0;
		end = sysemu_loop(n, !strcmp(mode, "sysemu-regs"));
	} else {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 2;
	}
	printf("ns/op %.1f\n", (end - start) / (double)n);
	return 0;
}
