// kconform: kernel behaviour checks whose output must be identical natively
// and in the sandbox. Each check prints one or more deterministic lines.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHECK(name) printf("== %s\n", name)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long counter;
static int turn;

static void *incr(void *arg) {
	for (int i = 0; i < 20000; i++) {
		pthread_mutex_lock(&mu);
		counter++;
		pthread_mutex_unlock(&mu);
	}
	return arg;
}

static void *pong(void *arg) {
	for (int i = 0; i < 200; i++) {
		pthread_mutex_lock(&mu);
		while (turn != 1)
			pthread_cond_wait(&cv, &mu);
		turn = 0;
		pthread_cond_signal(&cv);
		pthread_mutex_unlock(&mu);
	}
	return NULL;
}

static void threads(void) {
	CHECK("threads");
	pthread_t t[8];
	for (long i = 0; i < 8; i++)
		pthread_create(&t[i], NULL, incr, (void *)i);
	long sum = 0;
	for (int i = 0; i < 8; i++) {
		void *r;
		pthread_join(t[i], &r);
		sum += (long)r;
	}
	printf("counter %ld joined-sum %ld\n", counter, sum);
	pthread_t p;
	pthread_create(&p, NULL, pong, NULL);
	for (int i = 0; i < 200; i++) {
		pthread_mutex_lock(&mu);
		turn = 1;
		pthread_cond_signal(&cv);
		while (turn != 0)
			pthread_cond_wait(&cv, &mu);
		pthread_mutex_unlock(&mu);
	}
	pthread_join(p, NULL);
	printf("ping-pong done\n");
}

static volatile sig_atomic_t alarms;
static void on_alarm(int sig) { alarms++; }

static void restart(void) {
	CHECK("sa_restart");
	int p[2];
	pipe(p);
	pid_t w = fork();
	if (w == 0) {
		usleep(150000);
		write(p[1], "x", 1);
		_exit(0);
	}
	struct sigaction sa = {0};
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {{0, 0}, {0, 30000}};
	setitimer(ITIMER_REAL, &it, NULL);
	char c;
	ssize_t n = read(p[0], &c, 1);
	printf("restarted read: n=%zd c=%c alarms=%d\n", n, c, (int)alarms);
	waitpid(w, NULL, 0);
	sa.sa_flags = 0;
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	n = read(p[0], &c, 1);
	printf("interrupted read: n=%zd errno=%s\n", n, strerror(errno));
	close(p[0]);
	close(p[1]);
}

static char altstack[1 << 16];
static sigjmp_buf jb;
static volatile uintptr_t handler_sp;
static volatile uintptr_t fault_addr;

static void on_segv(int sig, siginfo_t *si, void *uc) {
	int local;
	handler_sp = (uintptr_t)&local;
	fault_addr = (uintptr_t)si->si_addr;
	siglongjmp(jb, si->si_code);
}

static void faults(void) {
	CHECK("faults");
	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
	sigaltstack(&ss, NULL);
	struct sigaction sa = {0};
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigaction(SIGSEGV, &sa, NULL);
	char *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int code = sigsetjmp(jb, 1);
	if (code == 0) {
		p[10] = 1;
		printf("write to read-only page did not fault\n");
	} else {
		int on_alt = handler_sp >= (uintptr_t)altstack && handler_sp < (uintptr_t)altstack + sizeof altstack;
		printf("SIGSEGV code=%s addr-offset=%ld on-altstack=%d\n",
		       code == SEGV_ACCERR ? "ACCERR" : code == SEGV_MAPERR ? "MAPERR" : "other",
		       (long)(fault_addr - (uintptr_t)p), on_alt);
	}
	munmap(p, 4096);
	code = sigsetjmp(jb, 1);
	if (code == 0) {
		*(volatile int *)p = 1;
	} else {
		printf("unmapped: code=%s\n", code == SEGV_MAPERR ? "MAPERR" : "other");
	}
	mprotect(NULL, 0, 0);
	signal(SIGSEGV, SIG_DFL);
}

static void masks(void) {
	CHECK("masks");
	sigset_t set, old, pend;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &set, &old);
	kill(getpid(), SIGUSR1);
	kill(getpid(), SIGUSR1);
	union sigval v = {.sival_int = 5};
	sigqueue(getpid(), SIGRTMIN, v);
	v.sival_int = 6;
	sigqueue(getpid(), SIGRTMIN, v);
	sigpending(&pend);
	printf("pending usr1=%d rtmin=%d\n", sigismember(&pend, SIGUSR1), sigismember(&pend, SIGRTMIN));
	siginfo_t si;
	struct timespec zero = {0, 0};
	int n = 0;
	while (sigtimedwait(&set, &si, &zero) > 0) {
		printf("  got %s value=%d\n", si.si_signo == SIGUSR1 ? "USR1" : "RTMIN",
		       si.si_signo == SIGUSR1 ? 0 : si.si_value.sival_int);
		n++;
	}
	printf("dequeued %d, then errno=%s\n", n, strerror(errno));
	sigprocmask(SIG_SETMASK, &old, NULL);
}

static void jobcontrol(void) {
	CHECK("stop/continue");
	pid_t c = fork();
	if (c == 0) {
		for (;;)
			pause();
	}
	int st;
	kill(c, SIGSTOP);
	waitpid(c, &st, WUNTRACED);
	printf("stopped=%d sig=%s\n", WIFSTOPPED(st), WSTOPSIG(st) == SIGSTOP ? "STOP" : "?");
	kill(c, SIGCONT);
	waitpid(c, &st, WCONTINUED);
	printf("continued=%d\n", WIFCONTINUED(st));
	printf("nohang=%d\n", waitpid(c, &st, WNOHANG));
	kill(c, SIGTERM);
	waitpid(c, &st, 0);
	printf("signaled=%d sig=%s\n", WIFSIGNALED(st), WTERMSIG(st) == SIGTERM ? "TERM" : "?");
	int r = waitpid(-1, &st, 0);
	printf("no children: %d %s\n", r, strerror(errno));
}

static void sharedmem(void) {
	CHECK("shared memory");
	int *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int *priv = malloc(sizeof(int));
	*shared = 1;
	*priv = 1;
	pid_t c = vfork();
	if (c == 0) {
		_exit(0);
	}
	waitpid(c, NULL, 0);
	c = fork();
	if (c == 0) {
		*shared = 2;
		*priv = 2;
		_exit(0);
	}
	waitpid(c, NULL, 0);
	printf("shared=%d private=%d\n", *shared, *priv);
	char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	strcpy(m, "kept");
	m = mremap(m, 4096, 1 << 20, MREMAP_MAYMOVE);
	m[(1 << 20) - 1] = 'z';
	printf("mremap kept=%s tail=%c\n", m, m[(1 << 20) - 1]);
}

static void *robust_owner(void *arg) {
	pthread_mutex_lock(arg);
	return NULL;
}

static void robust(void) {
	CHECK("robust mutex");
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_t m;
	pthread_mutex_init(&m, &a);
	pthread_t t;
	pthread_create(&t, NULL, robust_owner, &m);
	pthread_join(t, NULL);
	int r = pthread_mutex_lock(&m);
	printf("lock after owner died: %s\n", r == EOWNERDEAD ? "EOWNERDEAD" : strerror(r));
	pthread_mutex_consistent(&m);
	pthread_mutex_unlock(&m);
}

static void limits(void) {
	CHECK("limits");
	for (int i = 3; i < 1024; i++)
		close(i);
	struct rlimit rl = {16, 16};
	setrlimit(RLIMIT_NOFILE, &rl);
	int n = 0, fd;
	while ((fd = open("/", O_RDONLY)) >= 0)
		n++;
	printf("opened %d more, then %s\n", n, strerror(errno));
	for (int i = 3; i < 16; i++)
		close(i);
	getrlimit(RLIMIT_NOFILE, &rl);
	printf("nofile %lu/%lu\n", (unsigned long)rl.rlim_cur, (unsigned long)rl.rlim_max);
}

static void script(void) {
	CHECK("script exec");
	FILE *f = fopen("/tmp/kconform-script", "w");
	fprintf(f, "#!/bin/sh -e\necho \"script argv: $0 $*\"\nexit 4\n");
	fclose(f);
	chmod("/tmp/kconform-script", 0755);
	pid_t c = fork();
	if (c == 0) {
		execl("/tmp/kconform-script", "/tmp/kconform-script", "a", "b", (char *)NULL);
		_exit(127);
	}
	int st;
	fflush(stdout);
	waitpid(c, &st, 0);
	printf("script exit %d\n", WEXITSTATUS(st));
	unlink("/tmp/kconform-script");
	c = fork();
	if (c == 0) {
		execl("/nonexistent", "x", (char *)NULL);
		printf("exec failed: %s\n", strerror(errno));
		fflush(stdout);
		_exit(0);
	}
	waitpid(c, &st, 0);
}

int main(void) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	threads();
	restart();
	faults();
	masks();
	jobcontrol();
	sharedmem();
	robust();
	script();
	limits();
	printf("== end\n");
	return 0;
}
