/*
 * sysfuzz: a random system-call fuzzer meant to run inside the sandbox.
 *
 *   sysfuzz SEED CHILDREN CALLS [JOBS [TIMEOUT_S [IDLE_S]]]
 *
 * The parent forks CHILDREN children, JOBS at a time; child k seeds its PRNG
 * with SEED+k and makes CALLS random system calls with hostile arguments
 * (numbers 0..460 and some out of range; zero, -1, small ints, valid fds,
 * pointers into its own scratch memory aligned and not, a guard page, the
 * kernel half, huge sizes, random flags, paths). A deny list and a few
 * argument fix-ups keep the children from killing or stopping the parent
 * and from hanging for good; a 10 ms interval timer breaks blocking calls.
 * A child that faults just dies; one that runs longer than TIMEOUT_S is
 * SIGKILLed. The parent prints one line per child killed by SIGSYS (what the
 * sentry does to a process whose syscall panicked), per timeout, and a
 * summary; it exits 0 unless a child could not be killed (exit 3). With
 * IDLE_S > 0 it prints "fuzz: idle" and sleeps IDLE_S seconds before the
 * first child and after the last one, so a test can count the sentry's host
 * fds and stub processes at two quiet moments and compare them.
 *
 * Reproduce one child: sysfuzz SEED+k 1 CALLS.  Each child records the call
 * it is in in a shared page, so the parent can name it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* fz_syscall(nr, a1..a6): a raw syscall. When a clone, fork, vfork or clone3
 * returns 0 the new task exits at once with exit(2) without touching the
 * stack (it may have been handed a garbage stack pointer). */
long fz_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6);
__asm__(
	".text\n"
	".globl fz_syscall\n"
	"fz_syscall:\n"
	"	push %rbx\n"
	"	mov %rdi, %rbx\n"
	"	mov %rdi, %rax\n"
	"	mov %rsi, %rdi\n"
	"	mov %rdx, %rsi\n"
	"	mov %rcx, %rdx\n"
	"	mov %r8, %r10\n"
	"	mov %r9, %r8\n"
	"	mov 16(%rsp), %r9\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jne 1f\n"
	"	cmp $56, %rbx\n"
	"	je 2f\n"
	"	cmp $57, %rbx\n"
	"	je 2f\n"
	"	cmp $58, %rbx\n"
	"	je 2f\n"
	"	cmp $435, %rbx\n"
	"	je 2f\n"
	"1:	pop %rbx\n"
	"	ret\n"
	"2:	mov $60, %eax\n"
	"	xor %edi, %edi\n"
	"	syscall\n"
	"	hlt\n");

#define SCRATCH_PAGES 64
#define PAGE 4096UL
#define NFDS 18

/* One slot per job in a page shared with the parent. */
struct slot {
	volatile long pid, seed, call, nr, args[6];
	struct timespec start;
};

static struct slot *slots;
static unsigned char *scratch; /* SCRATCH_PAGES RW pages, then a PROT_NONE guard page */
static uint64_t rng;
static uint64_t heap_end; /* the heap's end when the child started */

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ULL;
}

static uint64_t pick(const uint64_t *v, int n) { return v[rnd() % n]; }

static const char *paths[] = {
	"/", ".", "..", "", "/tmp", "/tmp/fz", "/tmp/fz/a", "/tmp/fz/b/c", "a", "b/c", "fzlink",
	"/proc/self/maps", "/proc/self/mem", "/proc/self/fd/3", "/proc/self/fd", "/proc/self/status",
	"/proc/self/exe", "/proc/self/cwd/x", "/proc/self/task", "/proc/1/status", "/proc",
	"/dev/null", "/dev/full", "/dev/zero", "/dev/urandom", "/dev/tty", "/dev/ptmx", "/dev/pts/0",
	"/sys", "/etc/passwd", "/etc", "/bin/busybox", "/bin/true", "//////tmp//fz/",
	"../../../../../../etc/passwd", "/tmp/fz/\xff\xfe", "/tmp/fz/a/../../fz/a", "fz/a/",
};

/* Signals a child may send itself: ignored or harmless. */
static const uint64_t safe_sigs[] = {0, SIGURG, SIGCHLD, SIGWINCH, SIGCONT, SIGUSR1, SIGPIPE, 65, 1000, -1UL};

static void fill_scratch_page(unsigned pg)
{
	uint64_t *p = (uint64_t *)(scratch + pg * PAGE);
	unsigned kind = rnd() % 4;
	for (unsigned i = 0; i < PAGE / 8; i++) {
		switch (kind) {
		case 0: p[i] = rnd(); break;
		case 1: p[i] = 0; break;
		case 2: p[i] = rnd() % 3 == 0 ? (uint64_t)(scratch + rnd() % (SCRATCH_PAGES * PAGE)) : rnd() % 4096; break;
		default: p[i] = (i & 1) ? rnd() % 65536 : (uint64_t)(scratch + rnd() % (SCRATCH_PAGES * PAGE)); break;
		}
	}
}

/* Page 0 holds a path, page 1 valid iovecs into scratch, page 2 an argv/envp
 * style pointer array; the rest is random. */
static void fill_special(void)
{
	const char *p = paths[rnd() % (sizeof paths / sizeof paths[0])];
	char *dst = (char *)scratch;
	switch (rnd() % 8) {
	case 0: /* an over-long path */
		memset(dst, 'a', PAGE);
		dst[(rnd() % 2) ? PAGE - 1 : 300] = 0;
		break;
	case 1: /* no terminator before the guard page: put it at the end of the scratch */
		dst = (char *)scratch + SCRATCH_PAGES * PAGE - 16;
		memset(dst, 'b', 16);
		dst = (char *)scratch;
		strcpy(dst, p);
		break;
	default:
		strcpy(dst, p);
	}
	struct { uint64_t base, len; } *iov = (void *)(scratch + PAGE);
	for (int i = 0; i < 64; i++) {
		iov[i].base = (uint64_t)(scratch + 3 * PAGE + rnd() % (8 * PAGE));
		iov[i].len = rnd() % 5 == 0 ? rnd() : rnd() % 8192;
	}
	uint64_t *argv = (uint64_t *)(scratch + 2 * PAGE);
	for (int i = 0; i < 16; i++)
		argv[i] = (uint64_t)scratch;
	argv[rnd() % 17] = 0;
}

static uint64_t rand_ptr(void)
{
	uint64_t base = (uint64_t)scratch, size = SCRATCH_PAGES * PAGE;
	switch (rnd() % 12) {
	case 0: case 1: return base + (rnd() % SCRATCH_PAGES) * PAGE;      /* aligned */
	case 2: case 3: return base + rnd() % size;                         /* unaligned */
	case 4: return base + size - 1 - rnd() % 64;                        /* straddles the guard */
	case 5: return base + size + rnd() % PAGE;                          /* guard page */
	case 6: return 0xffff800000000000ULL + (rnd() & 0x7fffffffffffULL); /* kernel half */
	case 7: return 0x0000800000000000ULL - (rnd() % 4) * PAGE - rnd() % 16; /* top of user space */
	case 8: return (uint64_t)&fill_special;                             /* read-only text */
	case 9: return 0x800000000000ULL + rnd() % 0x1000;                  /* non-canonical */
	case 10: return rnd() % 2 ? base : base + PAGE;                     /* path, iovecs */
	default: return rnd() % 0x10000;                                    /* low, unmapped */
	}
}

static uint64_t rand_arg(void)
{
	static const uint64_t sizes[] = {
		1, 2, 4, 8, 16, 64, 128, 4095, 4096, 4097, 65536, 1 << 20, 0x7fffffff, 0x80000000,
		0xffffffff, 0x100000000ULL, 0x7fffffffffffffffULL, 0x8000000000000000ULL, -4096UL,
		-2UL, 1ULL << 62, 0x1000000000ULL};
	switch (rnd() % 10) {
	case 0: return 0;
	case 1: return -1UL;
	case 2: return rnd() % 32;
	case 3: return rnd() % NFDS;
	case 4: case 5: return rand_ptr();
	case 6: return pick(sizes, sizeof sizes / sizeof sizes[0]);
	case 7: return rnd() % 2 ? (uint32_t)rnd() : 1UL << (rnd() % 64);
	case 8: return rnd() % 2 ? rnd() : (uint64_t)-(int64_t)(rnd() % 4096);
	default: return rnd() % 2 ? rnd() % NFDS : rnd() % 4096;
	}
}

static void on_alarm(int sig) { (void)sig; }
static void on_sigsys(int sig) { (void)sig; _exit(92); } /* seccomp SIGSYS, not a sentry panic */

static void rearm(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm; /* no SA_RESTART: blocking calls end with EINTR */
	sigaction(SIGALRM, &sa, NULL);
	sa.sa_handler = on_sigsys;
	sigaction(SIGSYS, &sa, NULL);
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGALRM);
	sigprocmask(SIG_UNBLOCK, &s, NULL);
	struct itimerval it = {{0, 10000}, {0, 10000}};
	setitimer(ITIMER_REAL, &it, NULL);
}

static void setup_fds(void)
{
	char name[64];
	int fd = open("/dev/null", O_RDWR);
	dup2(fd, 1);
	dup2(fd, 2);
	close(fd);
	/* fd 0 stays: the host's stdin of the sandbox (a host fd). */
	snprintf(name, sizeof name, "/tmp/fz/f%d", getpid());
	int want = 3;
#define PUT(expr) do { int _f = (expr); if (_f >= 0 && _f != want) { dup2(_f, want); close(_f); } want++; } while (0)
	PUT(open(name, O_RDWR | O_CREAT | O_TRUNC, 0644)); /* 3 */
	int p[2] = {-1, -1};
	if (pipe2(p, O_NONBLOCK) == 0) { dup2(p[0], 30); dup2(p[1], 31); close(p[0]); close(p[1]); }
	PUT(dup(30)); PUT(dup(31)); /* 4, 5 */
	close(30); close(31);
	int sp[2] = {-1, -1};
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0) { dup2(sp[0], 30); dup2(sp[1], 31); close(sp[0]); close(sp[1]); }
	PUT(dup(30)); PUT(dup(31)); /* 6, 7 */
	close(30); close(31);
	PUT((int)syscall(SYS_eventfd2, 1, 0));                   /* 8 */
	PUT(open("/", O_RDONLY | O_DIRECTORY));                   /* 9 */
	PUT((int)syscall(SYS_epoll_create1, 0));                  /* 10 */
	PUT((int)syscall(SYS_memfd_create, "fz", 0));             /* 11 */
	PUT(socket(AF_INET, SOCK_DGRAM, 0));                      /* 12 */
	PUT(open("/proc/self/status", O_RDONLY));                 /* 13 */
	PUT((int)syscall(SYS_timerfd_create, CLOCK_MONOTONIC, 0)); /* 14 */
	PUT(open("/tmp/fz", O_RDONLY | O_DIRECTORY));             /* 15 */
	PUT(socket(AF_UNIX, SOCK_DGRAM, 0));                      /* 16 */
	PUT(open("/dev/zero", O_RDONLY));                         /* 17 */
	if (write(5, "hello pipe", 10) < 0 || write(7, "hello socket", 12) < 0 || write(3, "file data", 9) < 0)
		;
	if (chdir("/tmp/fz") < 0)
		;
}

extern char __executable_start[], end[];

/* protect keeps most memory calls away from the fuzzer's own program and
 * stack (unmapping them only ends the child early): seven times in eight,
 * a range that touches them is moved into the scratch area. */
static void protect(uint64_t *addr, uint64_t len)
{
	uint64_t lo = (uint64_t)__executable_start, hi = (uint64_t)end + (1 << 20);
	uint64_t sp = (uint64_t)&lo, slo = sp - (1 << 20), shi = sp + (1 << 20);
	uint64_t a = *addr, e = a + len;
	int hits = e < a || (a < hi && e > lo) || (a < shi && e > slo);
	if (hits && rnd() % 8)
		*addr = (uint64_t)scratch + (rnd() % SCRATCH_PAGES) * PAGE;
}

/* fixup rewrites the arguments of calls that could harm the parent, stop the
 * child for good, or fill the host disk; it returns 0 to skip the call. */
static int fixup(long nr, uint64_t *a)
{
	long self = getpid();
	switch (nr) {
	case SYS_exit: case SYS_exit_group: case SYS_pause: case SYS_rt_sigsuspend:
	case SYS_vhangup: case SYS_reboot:
		return 0;
	case SYS_rt_sigreturn:
		return rnd() % 8 == 0; /* a garbage frame: the child usually dies */
	case SYS_kill:
		a[0] = rnd() % 2 ? self : 0x3fff0000 + rnd() % 100;
		a[1] = pick(safe_sigs, sizeof safe_sigs / 8);
		break;
	case SYS_tkill:
		a[0] = rnd() % 2 ? syscall(SYS_gettid) : 0x3fff0000;
		a[1] = pick(safe_sigs, sizeof safe_sigs / 8);
		break;
	case SYS_tgkill:
		a[0] = self;
		a[2] = pick(safe_sigs, sizeof safe_sigs / 8);
		break;
	case SYS_rt_sigqueueinfo:
		a[0] = self;
		a[1] = pick(safe_sigs, sizeof safe_sigs / 8);
		break;
	case SYS_rt_tgsigqueueinfo:
		a[0] = self;
		a[2] = pick(safe_sigs, sizeof safe_sigs / 8);
		break;
	case SYS_pidfd_send_signal:
		a[1] = 0;
		break;
	case SYS_wait4:
		a[2] |= WNOHANG;
		break;
	case SYS_waitid:
		a[3] |= WNOHANG;
		break;
	case SYS_setpgid: case SYS_prlimit64: case SYS_ptrace: case SYS_process_vm_readv:
	case SYS_process_vm_writev: case SYS_sched_setscheduler: case SYS_sched_setparam:
		a[0] = nr == SYS_ptrace ? a[0] : 0;
		if (nr == SYS_ptrace)
			a[1] = self;
		break;
	case SYS_fcntl:
		if (a[1] == F_SETOWN)
			a[2] = self;
		if (a[1] == F_SETOWN_EX || a[1] == F_SETSIG)
			a[1] = F_GETOWN_EX;
		break;
	case SYS_ioctl:
		if (a[1] == 0x8901 || a[1] == 0x8902 || a[1] == 0x5410 || a[1] == 0x540e) /* FIOSETOWN SIOCSPGRP TIOCSPGRP TIOCSCTTY */
			a[1] = 0;
		break;
	case SYS_fallocate:
		a[2] &= 0xfffffff;
		a[3] &= 0xffffff;
		break;
	case SYS_sendfile:
		a[3] &= 0xffffff;
		break;
	case SYS_splice: case SYS_copy_file_range:
		a[4] &= 0xffffff;
		break;
	case SYS_tee:
		a[2] &= 0xffffff;
		break;
	case SYS_munmap: case SYS_mprotect: case SYS_madvise: case SYS_mremap: case SYS_mmap:
	case SYS_pkey_mprotect: case SYS_remap_file_pages: case SYS_mlock: case SYS_munlock:
		if (nr != SYS_mmap || (a[3] & MAP_FIXED))
			protect(&a[0], a[1]);
		break;
	case SYS_brk:
		/* Static glibc keeps its TLS on the heap: shrinking the heap
		 * below where it started ends the child, as on Linux. */
		if (a[0] < heap_end && rnd() % 8)
			a[0] = 0;
		break;
	case SYS_clone:
		/* A child whose exit signal is SIGSTOP stops its parent when
		 * it dies, as on Linux: legitimate, but a wasted child. */
		if ((a[0] & 0xff) == SIGSTOP)
			a[0] &= ~0xffUL;
		break;
	case SYS_ppoll: case SYS_pselect6: case SYS_epoll_pwait: case SYS_epoll_pwait2:
		/* A mask that blocks SIGALRM would make them wait for good. */
		if (rnd() % 2)
			a[nr == SYS_pselect6 ? 5 : nr == SYS_ppoll ? 3 : 4] = 0;
		break;
	case SYS_rt_sigaction:
		if (a[0] == SIGALRM && rnd() % 8)
			a[0] = SIGUSR2;
		break;
	}
	return 1;
}

static int needs_rearm(long nr)
{
	return nr == SYS_rt_sigprocmask || nr == SYS_rt_sigaction || nr == SYS_setitimer ||
	       nr == SYS_alarm || nr == SYS_sigaltstack || nr == SYS_timer_settime;
}

static void child(long seed, long calls, struct slot *s)
{
	setpgid(0, 0);
	rng = (uint64_t)seed * 0x9E3779B97F4A7C15ULL + 1;
	if (rng == 0)
		rng = 1;
	scratch = mmap(NULL, (SCRATCH_PAGES + 1) * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (scratch == MAP_FAILED)
		_exit(90);
	mprotect(scratch + SCRATCH_PAGES * PAGE, PAGE, PROT_NONE);
	for (unsigned i = 0; i < SCRATCH_PAGES; i++)
		fill_scratch_page(i);
	static const int ign[] = {SIGPIPE, SIGXFSZ, SIGTTIN, SIGTTOU, SIGTSTP, SIGHUP, SIGINT, SIGQUIT,
				  SIGUSR1, SIGUSR2, SIGIO, SIGURG, SIGWINCH, SIGPROF, SIGVTALRM, SIGXCPU, SIGPWR};
	for (unsigned i = 0; i < sizeof ign / sizeof ign[0]; i++)
		signal(ign[i], SIG_IGN);
	setup_fds();
	heap_end = (uint64_t)syscall(SYS_brk, 0);
	rearm();
	for (long i = 0; i < calls; i++) {
		if (i % 16 == 0)
			rearm();
		fill_special();
		fill_scratch_page(3 + rnd() % (SCRATCH_PAGES - 3));
		long nr;
		uint64_t r = rnd() % 100;
		if (r < 96)
			nr = rnd() % 461;
		else if (r < 98)
			nr = 461 + rnd() % 600;
		else
			nr = rnd() % 2 ? (long)(0x40000000 | (rnd() % 461)) : (long)rnd();
		uint64_t a[6];
		for (int j = 0; j < 6; j++)
			a[j] = rand_arg();
		if (!fixup(nr, a))
			continue;
		s->call = i;
		s->nr = nr;
		for (int j = 0; j < 6; j++)
			s->args[j] = a[j];
		fz_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
		if (needs_rearm(nr))
			rearm();
	}
	_exit(0);
}

static double since(struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) + (now.tv_nsec - t->tv_nsec) / 1e9;
}

static void describe(const char *what, struct slot *s)
{
	printf("fuzz: seed %ld: %s in call %ld: syscall %ld(%#lx, %#lx, %#lx, %#lx, %#lx, %#lx)\n", s->seed, what,
	       s->call, s->nr, s->args[0], s->args[1], s->args[2], s->args[3], s->args[4], s->args[5]);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s SEED CHILDREN CALLS [JOBS [TIMEOUT_S [IDLE_S]]]\n", argv[0]);
		return 2;
	}
	long seed = strtol(argv[1], NULL, 0), children = atol(argv[2]), calls = atol(argv[3]);
	int jobs = argc > 4 ? atoi(argv[4]) : 1;
	double timeout = argc > 5 ? atof(argv[5]) : 5;
	int idle = argc > 6 ? atoi(argv[6]) : 0;
	if (jobs < 1 || jobs > 64)
		jobs = 1;
	/* The parent ignores every signal a child could aim at it by accident. */
	for (int sig = 1; sig < 32; sig++)
		if (sig != SIGKILL && sig != SIGSTOP && sig != SIGCHLD && sig != SIGALRM &&
		    sig != SIGSEGV && sig != SIGBUS && sig != SIGILL && sig != SIGFPE && sig != SIGTRAP)
			signal(sig, SIG_IGN);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	mkdir("/tmp", 01777);
	mkdir("/tmp/fz", 0777);
	slots = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (slots == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	memset(slots, 0, PAGE);
	if (idle > 0) {
		printf("fuzz: idle\n");
		fflush(stdout);
		sleep(idle);
	}
	long started = 0, done = 0, sigsys = 0, timeouts = 0, faults = 0, running = 0;
	int status = 0;
	while (done < children) {
		while (running < jobs && started < children) {
			int j = 0;
			while (slots[j].pid)
				j++;
			struct slot *s = &slots[j];
			s->seed = seed + started;
			s->call = -1;
			s->nr = -1;
			clock_gettime(CLOCK_MONOTONIC, &s->start);
			fflush(stdout);
			pid_t pid = fork();
			if (pid == 0)
				child(s->seed, calls, s);
			if (pid < 0) {
				perror("fork");
				sleep(1);
				break;
			}
			s->pid = pid;
			started++;
			running++;
		}
		alarm(1);
		int st;
		pid_t pid = waitpid(-1, &st, 0);
		alarm(0);
		if (pid < 0 && errno == ECHILD && running == 0)
			continue;
		for (int j = 0; j < jobs; j++) {
			struct slot *s = &slots[j];
			if (!s->pid)
				continue;
			if (s->pid == pid) {
				if (WIFSIGNALED(st)) {
					faults++;
					if (getenv("SYSFUZZ_VERBOSE"))
						fprintf(stderr, "death sig %d call %ld nr %ld\n", WTERMSIG(st), s->call, s->nr);
					if (WTERMSIG(st) == SIGSYS) {
						sigsys++;
						describe("killed by SIGSYS (a sentry panic?)", s);
					}
				}
				char name[64];
				snprintf(name, sizeof name, "/tmp/fz/f%ld", s->pid);
				unlink(name);
				kill(-s->pid, SIGKILL); /* whatever it left in its group */
				s->pid = 0;
				running--;
				done++;
				continue;
			}
			double el = since(&s->start);
			if (el > timeout && s->call != -2) {
				/* A child can block for good legitimately (SIGSTOP as a
				 * clone exit signal, a wait with SIGALRM blocked): the
				 * test counts these but fails only on a child that
				 * SIGKILL cannot end. */
				char path[64], st[256] = "?", what[300];
				snprintf(path, sizeof path, "/proc/%ld/stat", s->pid);
				FILE *f = fopen(path, "r");
				if (f) {
					if (!fgets(st, sizeof st, f))
						strcpy(st, "?");
					fclose(f);
				}
				char *rp = strrchr(st, ')');
				snprintf(what, sizeof what, "timed out (state %c)", rp && rp[1] ? rp[2] : '?');
				timeouts++;
				describe(what, s);
				kill(s->pid, SIGKILL);
				kill(-s->pid, SIGKILL);
				s->call = -2; /* killed */
			} else if (el > timeout + 20) {
				describe("could not be killed", s);
				status = 3;
				goto out;
			}
		}
	}
out:
	/* Reap anything reparented to us. */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	if (idle > 0 && status == 0) {
		printf("fuzz: idle\n");
		fflush(stdout);
		sleep(idle);
	}
	printf("fuzz: seeds %ld..%ld children=%ld calls/child=%ld signal-deaths=%ld sigsys=%ld timeouts=%ld status=%d\n",
	       seed, seed + children - 1, children, calls, faults, sigsys, timeouts, status);
	return status;
}
