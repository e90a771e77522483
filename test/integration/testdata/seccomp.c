// seccomp.c: seccomp filters and strict mode, checked against native
// Linux. Every case runs in a forked child (a filter cannot be removed)
// and prints what it saw, one fact a line; the parent prints how the
// child ended. "seccomp probe" is the program exec'd to check that
// filters survive execve.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

static const char *errname(int e) {
	switch (e) {
	case 0: return "OK";
	case EPERM: return "EPERM";
	case ESRCH: return "ESRCH";
	case EBADF: return "EBADF";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EINVAL: return "EINVAL";
	case ENOSYS: return "ENOSYS";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case 4095: return "4095";
	default: return "OTHER";
	}
}

#define NR_LOAD BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define ARCH_CHECK \
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)), \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0), \
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS)

static long sys_seccomp(unsigned op, unsigned flags, void *args) {
	return syscall(SYS_seccomp, op, flags, args);
}

// install adds "return ret for syscall nr, allow the rest".
static long install(int nr, unsigned ret, unsigned flags) {
	struct sock_filter f[] = {
		ARCH_CHECK,
		NR_LOAD,
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, ret),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog p = {sizeof f / sizeof f[0], f};
	return sys_seccomp(SECCOMP_SET_MODE_FILTER, flags, &p);
}

static void nnp(void) {
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		printf("no_new_privs: %s\n", errname(errno));
		exit(1);
	}
}

static void status_lines(const char *who) {
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	if (!f) {
		printf("%s: cannot open status\n", who);
		return;
	}
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "Seccomp", 7) || !strncmp(line, "NoNewPrivs", 10))
			printf("%s: %s", who, line);
	fclose(f);
}

static void call(const char *what, long nr) {
	errno = 0;
	long r = syscall(nr, 0, 0, 0);
	printf("%s: %s%s\n", what, r == -1 ? "-1 " : "ok ", errname(r == -1 ? errno : 0));
}

static void test_errno(void) {
	nnp();
	install(SYS_getppid, SECCOMP_RET_ERRNO | EPERM, 0);
	call("getppid with ERRNO(EPERM)", SYS_getppid);
	install(SYS_getuid, SECCOMP_RET_ERRNO | 5000, 0);
	call("getuid with ERRNO(5000)", SYS_getuid);
	install(SYS_getgid, SECCOMP_RET_ERRNO | 0, 0);
	errno = 0;
	printf("getgid with ERRNO(0): %ld\n", syscall(SYS_getgid));
	call("getpid untouched", SYS_getpid);
	printf("PR_GET_SECCOMP: %d\n", prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
	status_lines("errno");
}

static volatile int trapped;

static void on_sigsys(int sig, siginfo_t *si, void *uc_) {
	ucontext_t *uc = uc_;
	trapped++;
	printf("SIGSYS: signo %d code %d errno %d syscall %d arch %#x\n", si->si_signo, si->si_code,
	       si->si_errno, si->si_syscall, si->si_arch);
	printf("SIGSYS: call_addr is the frame's rip: %d\n",
	       (unsigned long)si->si_call_addr == (unsigned long)uc->uc_mcontext.gregs[REG_RIP]);
	printf("SIGSYS: rax holds the syscall number: %d\n", uc->uc_mcontext.gregs[REG_RAX] == si->si_syscall);
}

static void test_trap(void) {
	struct sigaction sa = {0};
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSYS, &sa, NULL);
	nnp();
	install(SYS_getppid, SECCOMP_RET_ERRNO | EPERM, 0);
	install(SYS_getppid, SECCOMP_RET_TRAP | 42, 0); // TRAP wins over ERRNO
	long r = syscall(SYS_getppid);
	printf("getppid returned %ld after %d traps\n", r, trapped);
	// Blocked SIGSYS: the trap kills.
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGSYS);
	sigprocmask(SIG_BLOCK, &s, NULL);
	fflush(stdout);
	syscall(SYS_getppid);
	printf("survived a blocked SIGSYS trap\n");
}

static void test_kill_process(void) {
	nnp();
	install(SYS_getppid, SECCOMP_RET_KILL_PROCESS, 0);
	printf("before\n");
	fflush(stdout);
	syscall(SYS_getppid);
	printf("survived KILL_PROCESS\n");
}

static void test_kill_thread_single(void) {
	nnp();
	install(SYS_getppid, SECCOMP_RET_KILL_THREAD, 0);
	syscall(SYS_getppid);
	printf("survived KILL_THREAD\n");
}

static void *killed_thread(void *arg) {
	syscall(SYS_getppid);
	printf("thread survived KILL_THREAD\n");
	return NULL;
}

static void test_kill_thread(void) {
	nnp();
	install(SYS_getppid, SECCOMP_RET_KILL_THREAD, 0);
	pthread_t th;
	pthread_create(&th, NULL, killed_thread, NULL);
	pthread_join(th, NULL);
	printf("main thread goes on after its thread was killed\n");
}

static void test_actions(void) {
	nnp();
	install(SYS_getppid, SECCOMP_RET_TRACE | 7, 0);
	call("getppid with TRACE, no tracer", SYS_getppid);
	install(SYS_getuid, SECCOMP_RET_USER_NOTIF, 0);
	call("getuid with USER_NOTIF, no listener", SYS_getuid);
	install(SYS_getgid, SECCOMP_RET_LOG, SECCOMP_FILTER_FLAG_LOG);
	call("getgid with LOG", SYS_getgid);
	unsigned acts[] = {SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_TRAP,
			   SECCOMP_RET_ERRNO, SECCOMP_RET_TRACE, SECCOMP_RET_LOG, SECCOMP_RET_ALLOW, 0x12345678};
	for (unsigned i = 0; i < sizeof acts / sizeof acts[0]; i++) {
		errno = 0;
		long r = sys_seccomp(SECCOMP_GET_ACTION_AVAIL, 0, &acts[i]);
		printf("action %#x available: %ld %s\n", acts[i], r, errname(r ? errno : 0));
	}
	struct seccomp_notif_sizes sz = {0};
	long r = sys_seccomp(SECCOMP_GET_NOTIF_SIZES, 0, &sz);
	printf("notif sizes: %ld %u %u %u\n", r, sz.seccomp_notif, sz.seccomp_notif_resp, sz.seccomp_data);
}

static void test_fork_exec(const char *self) {
	nnp();
	install(SYS_getppid, SECCOMP_RET_ERRNO | EPERM, 0);
	pid_t p = fork();
	if (p == 0) {
		call("forked child getppid", SYS_getppid);
		status_lines("forked child");
		fflush(stdout);
		execl(self, self, "probe", (char *)NULL);
		printf("exec failed\n");
		_exit(1);
	}
	int st;
	waitpid(p, &st, 0);
	printf("forked child exit %d\n", WEXITSTATUS(st));
}

static void probe(void) {
	call("after exec getppid", SYS_getppid);
	status_lines("after exec");
}

static pthread_barrier_t bar;

static void *tsync_thread(void *arg) {
	pthread_barrier_wait(&bar); // filters installed
	call("other thread getppid (TSYNC filter)", SYS_getppid);
	call("other thread getuid (filter without TSYNC)", SYS_getuid);
	status_lines("other thread");
	return NULL;
}

static void test_tsync(void) {
	nnp();
	pthread_barrier_init(&bar, NULL, 2);
	pthread_t th;
	pthread_create(&th, NULL, tsync_thread, NULL);
	long r = install(SYS_getppid, SECCOMP_RET_ERRNO | EPERM, SECCOMP_FILTER_FLAG_TSYNC);
	printf("TSYNC install: %ld\n", r);
	install(SYS_getuid, SECCOMP_RET_ERRNO | EPERM, 0);
	pthread_barrier_wait(&bar);
	pthread_join(th, NULL);
	// Now the threads' filters differ; a TSYNC install from a new thread
	// of this process still works as the old thread is gone.
	call("main getuid", SYS_getuid);
}

static pid_t conflict_tid;

static void *conflict_thread(void *arg) {
	conflict_tid = gettid();
	install(SYS_getuid, SECCOMP_RET_ERRNO | EPERM, 0); // this thread's own filter
	pthread_barrier_wait(&bar);
	pthread_barrier_wait(&bar);
	call("diverged thread getppid", SYS_getppid);
	return NULL;
}

static void test_tsync_conflict(void) {
	nnp();
	pthread_barrier_init(&bar, NULL, 2);
	pthread_t th;
	pthread_create(&th, NULL, conflict_thread, NULL);
	pthread_barrier_wait(&bar);
	long r = install(SYS_getppid, SECCOMP_RET_ERRNO | EPERM, SECCOMP_FILTER_FLAG_TSYNC);
	printf("TSYNC with a diverged thread returns its tid: %d\n", r == conflict_tid);
	errno = 0;
	r = install(SYS_getppid, SECCOMP_RET_ERRNO | EPERM, SECCOMP_FILTER_FLAG_TSYNC | (1 << 4) /* TSYNC_ESRCH */);
	printf("TSYNC_ESRCH: %ld %s\n", r, errname(r ? errno : 0));
	call("main getppid (nothing installed)", SYS_getppid);
	pthread_barrier_wait(&bar);
	pthread_join(th, NULL);
	// x32 numbers reach the filter as they are.
	install(0x40000000 | SYS_getpid, SECCOMP_RET_ERRNO | EPERM, 0);
	call("x32 getpid filtered", 0x40000000 | SYS_getpid);
}

static void test_eacces(void) {
	if (setresuid(65534, 65534, 65534)) {
		printf("setresuid: %s\n", errname(errno));
		return;
	}
	printf("no_new_privs: %d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	errno = 0;
	long r = install(SYS_getppid, SECCOMP_RET_ERRNO | EPERM, 0);
	printf("seccomp as nobody without no_new_privs: %ld %s\n", r, errname(r ? errno : 0));
	struct sock_filter f[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
	struct sock_fprog p = {1, f};
	errno = 0;
	r = prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &p, 0, 0);
	printf("prctl as nobody without no_new_privs: %ld %s\n", r, errname(r ? errno : 0));
	nnp();
	r = install(SYS_getppid, SECCOMP_RET_ERRNO | EPERM, 0);
	printf("seccomp as nobody with no_new_privs: %ld\n", r);
	call("getppid", SYS_getppid);
}

static void test_strict(void) {
	fflush(stdout);
	errno = 0;
	long r = prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0);
	if (r) {
		printf("strict: %s\n", errname(errno));
		return;
	}
	const char m[] = "write works in strict mode\n";
	write(1, m, sizeof m - 1);
	syscall(SYS_getpid);
	write(1, "survived getpid in strict mode\n", 31);
	syscall(SYS_exit, 0);
}

static void test_args(void) {
	nnp();
	// Deny write(3, ...) only, both halves of the 64-bit fd compared.
	struct sock_filter f[] = {
		ARCH_CHECK,
		NR_LOAD,
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_write, 0, 5),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 3, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]) + 4),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog p = {sizeof f / sizeof f[0], f};
	printf("install: %ld\n", sys_seccomp(SECCOMP_SET_MODE_FILTER, 0, &p));
	int fds[2];
	pipe(fds);
	int rd = fcntl(fds[0], F_DUPFD, 10), wr = fcntl(fds[1], F_DUPFD, 10);
	close(fds[0]);
	close(fds[1]);
	dup2(wr, 3);
	dup2(wr, 4);
	errno = 0;
	long r = write(3, "x", 1);
	printf("write fd 3: %ld %s\n", r, errname(r < 0 ? errno : 0));
	errno = 0;
	r = write(4, "y", 1);
	printf("write fd 4: %ld %s\n", r, errname(r < 0 ? errno : 0));
	errno = 0;
	r = syscall(SYS_write, 0x100000003L, "z", 1);
	printf("write fd 1<<32|3: %ld %s\n", r, errname(r < 0 ? errno : 0));
	char buf[4] = {0};
	r = read(rd, buf, sizeof buf);
	printf("pipe holds %ld bytes: %s\n", r, buf);
}

static void test_invalid(void) {
	nnp();
	struct sock_filter ok[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
	struct sock_filter badjump[] = {BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 9, 9), BPF_STMT(BPF_RET | BPF_K, 0)};
	struct sock_filter unaligned[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 1), BPF_STMT(BPF_RET | BPF_K, 0)};
	struct sock_filter outside[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 64), BPF_STMT(BPF_RET | BPF_K, 0)};
	struct sock_filter byteload[] = {BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0), BPF_STMT(BPF_RET | BPF_K, 0)};
	struct sock_filter noret[] = {NR_LOAD};
	struct sock_filter divzero[] = {BPF_STMT(BPF_ALU | BPF_DIV | BPF_K, 0), BPF_STMT(BPF_RET | BPF_K, 0)};
	struct {
		const char *name;
		struct sock_fprog p;
	} cases[] = {
		{"empty", {0, ok}},
		{"4097 instructions", {4097, ok}},
		{"jump out of range", {2, badjump}},
		{"unaligned load", {2, unaligned}},
		{"load past seccomp_data", {2, outside}},
		{"byte load", {2, byteload}},
		{"no return", {1, noret}},
		{"division by zero", {2, divzero}},
		{"bad filter pointer", {1, (struct sock_filter *)8}},
	};
	for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		errno = 0;
		long r = sys_seccomp(SECCOMP_SET_MODE_FILTER, 0, &cases[i].p);
		printf("%s: %ld %s\n", cases[i].name, r, errname(r ? errno : 0));
	}
	struct sock_fprog p = {1, ok};
	errno = 0;
	long r = sys_seccomp(SECCOMP_SET_MODE_FILTER, 0x80, &p);
	printf("unknown flag: %ld %s\n", r, errname(r ? errno : 0));
	errno = 0;
	r = sys_seccomp(99, 0, &p);
	printf("unknown op: %ld %s\n", r, errname(r ? errno : 0));
	errno = 0;
	r = sys_seccomp(SECCOMP_SET_MODE_FILTER, 0, (void *)8);
	printf("bad fprog pointer: %ld %s\n", r, errname(r ? errno : 0));
	errno = 0;
	r = sys_seccomp(SECCOMP_SET_MODE_STRICT, 1, NULL);
	printf("strict with flags: %ld %s\n", r, errname(r ? errno : 0));
	// Total length: 4096-instruction filters until ENOMEM.
	static struct sock_filter big[4096];
	big[4095] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog bp = {4096, big};
	int n = 0;
	for (; n < 20; n++) {
		errno = 0;
		if (sys_seccomp(SECCOMP_SET_MODE_FILTER, 0, &bp))
			break;
	}
	printf("4096-instruction filters installed: %d then %s\n", n, errname(errno));
	errno = 0;
	r = prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0);
	printf("strict after filters: %ld %s\n", r, errname(r ? errno : 0));
	status_lines("invalid");
}

static struct {
	const char *name;
	void (*fn)(void);
} tests[] = {
	{"errno", test_errno},
	{"trap", test_trap},
	{"kill-process", test_kill_process},
	{"kill-thread-single", test_kill_thread_single},
	{"kill-thread", test_kill_thread},
	{"actions", test_actions},
	{"tsync", test_tsync},
	{"tsync-conflict", test_tsync_conflict},
	{"eacces", test_eacces},
	{"strict", test_strict},
	{"args", test_args},
	{"invalid", test_invalid},
};

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && !strcmp(argv[1], "probe")) {
		probe();
		return 0;
	}
	status_lines("start");
	for (unsigned i = 0; i < sizeof tests / sizeof tests[0] + 1; i++) {
		const char *name = i < sizeof tests / sizeof tests[0] ? tests[i].name : "fork-exec";
		printf("== %s\n", name);
		fflush(stdout);
		pid_t p = fork();
		if (p == 0) {
			if (i < sizeof tests / sizeof tests[0])
				tests[i].fn();
			else
				test_fork_exec(argv[0]);
			fflush(stdout);
			_exit(0);
		}
		int st;
		waitpid(p, &st, 0);
		if (WIFSIGNALED(st))
			printf("-- %s: killed by signal %d\n", name, WTERMSIG(st));
		else
			printf("-- %s: exit %d\n", name, WEXITSTATUS(st));
	}
	status_lines("end");
	return 0;
}
