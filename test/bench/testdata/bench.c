// bench.c: the in-sandbox loops of `make bench`. Built with gcc -static by
// test/bench and run as `bench MODE N [FILE]`, natively (chroot) and in the
// sandbox. Each mode runs N iterations and times the loop itself, so the
// start-up of the sandbox does not pollute the per-operation figure. It
// prints one line: "ns/op <float>".
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
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

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: bench getpid|read1|forkexec|mmap|readfile N [FILE]\n");
		return 2;
	}
	const char *mode = argv[1];
	long n = atol(argv[2]);
	double start, end;

	if (!strcmp(mode, "getpid")) {
		start = now_ns();
		for (long i = 0; i < n; i++) syscall(SYS_getpid);
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
	} else {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 2;
	}
	printf("ns/op %.1f\n", (end - start) / (double)n);
	return 0;
}
