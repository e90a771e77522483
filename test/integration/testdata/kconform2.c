// kconform2: more kernel behaviour checks (threads and signals, exec from
// a thread, leader exit, reparenting, sessions, close-on-exec, polling),
// with output that must be identical natively and in the sandbox.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHECK(name) printf("== %s\n", name)

static volatile pid_t handled_tid;
static void on_usr1(int sig) { handled_tid = syscall(SYS_gettid); }

static pid_t worker_tid;
static void *waiter(void *arg) {
	worker_tid = syscall(SYS_gettid);
	sigset_t all;
	sigemptyset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	while (!handled_tid)
		usleep(1000);
	return NULL;
}

static void thread_signals(void) {
	CHECK("thread-directed signal");
	signal(SIGUSR1, on_usr1);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL); // main blocks it, the worker does not
	pthread_t t;
	pthread_create(&t, NULL, waiter, NULL);
	while (!worker_tid)
		usleep(1000);
	kill(getpid(), SIGUSR1); // process-directed: only the worker can take it
	pthread_join(t, NULL);
	printf("handled by the worker: %d\n", handled_tid == worker_tid);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

static void *exec_from_thread(void *arg) {
	execl("/bin/sh", "sh", "-c", "echo exec from a thread: pid unchanged=$(( $$ == $1 ))", "sh", (char *)arg, (char *)NULL);
	return NULL;
}

static void thread_exec(void) {
	CHECK("exec from a non-leader thread");
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		static char pidbuf[16];
		snprintf(pidbuf, sizeof pidbuf, "%d", getpid());
		pthread_t t;
		pthread_create(&t, NULL, exec_from_thread, pidbuf);
		for (;;)
			pause();
	}
	int st;
	waitpid(c, &st, 0);
	printf("exit %d\n", WEXITSTATUS(st));
}

static void *late_exit(void *arg) {
	usleep(50000);
	exit(9);
}

static void leader_exit(void) {
	CHECK("leader exits first");
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		pthread_t t;
		pthread_create(&t, NULL, late_exit, NULL);
		pthread_exit(NULL);
	}
	int st;
	waitpid(c, &st, 0);
	printf("process status %d\n", WEXITSTATUS(st));
}

static void reparent(void) {
	CHECK("orphans");
	int p[2];
	pipe(p);
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		if (fork() == 0) {
			close(p[0]);
			usleep(100000);
			char buf[32];
			int n = snprintf(buf, sizeof buf, "%d\n", getppid() == 1);
			write(p[1], buf, n);
			_exit(0);
		}
		_exit(0);
	}
	close(p[1]);
	waitpid(c, NULL, 0);
	char buf[32] = {0};
	read(p[0], buf, sizeof buf - 1);
	printf("grandchild reparented to init: %s", buf);
	close(p[0]);
}

static void sessions(void) {
	CHECK("sessions");
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		pid_t s = setsid();
		printf("setsid: new session=%d pgrp=%d\n", s == getpid(), getpgrp() == getpid());
		int again = setsid();
		printf("setsid again: %d %s\n", again, strerror(errno));
		fflush(stdout);
		_exit(0);
	}
	waitpid(c, NULL, 0);
	c = fork();
	if (c == 0) {
		pause();
		_exit(0);
	}
	printf("setpgid child: %d\n", setpgid(c, c));
	printf("child pgid is its pid: %d\n", getpgid(c) == c);
	kill(-c, SIGKILL);
	int st;
	waitpid(c, &st, 0);
	printf("group kill: %d\n", WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

static void cloexec(void) {
	CHECK("close-on-exec");
	int keep = open("/", O_RDONLY);
	int drop = open("/", O_RDONLY | O_CLOEXEC);
	dup2(keep, 10);
	fcntl(drop, F_DUPFD_CLOEXEC, 20);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "for f in %d %d 10 20; do if [ -e /proc/self/fd/$f ]; then echo $f open; else echo $f closed; fi; done", keep, drop);
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	waitpid(c, NULL, 0);
	close(keep);
	close(drop);
	close(10);
	close(20);
}

static void polling(void) {
	CHECK("poll, select, epoll");
	int p[2];
	pipe(p);
	struct pollfd pf = {.fd = p[0], .events = POLLIN};
	printf("poll empty: %d\n", poll(&pf, 1, 10));
	write(p[1], "ab", 2);
	int r = poll(&pf, 1, 10);
	printf("poll ready: %d revents=%s\n", r, pf.revents & POLLIN ? "IN" : "-");
	fd_set rs;
	FD_ZERO(&rs);
	FD_SET(p[0], &rs);
	struct timeval tv = {0, 10000};
	printf("select: %d isset=%d\n", select(p[0] + 1, &rs, NULL, NULL, &tv), FD_ISSET(p[0], &rs));
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u32 = 7};
	epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
	struct epoll_event out[4];
	int n = epoll_wait(ep, out, 4, 10);
	printf("epoll: %d data=%u\n", n, n > 0 ? out[0].data.u32 : 0);
	printf("epoll edge, nothing new: %d\n", epoll_wait(ep, out, 4, 10));
	close(p[1]);
	char buf[4];
	read(p[0], buf, sizeof buf);
	pf.events = POLLIN;
	poll(&pf, 1, 10);
	printf("after writer closed: %s\n", pf.revents & POLLHUP ? "HUP" : "-");
	close(p[0]);
	close(ep);
}

static void sleeps(void) {
	CHECK("sleeps");
	struct timespec a, b, req = {0, 30000000}, rem;
	clock_gettime(CLOCK_MONOTONIC, &a);
	nanosleep(&req, &rem);
	clock_gettime(CLOCK_MONOTONIC, &b);
	long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	printf("slept at least 30ms: %d\n", ms >= 30);
	struct timespec abs;
	clock_gettime(CLOCK_MONOTONIC, &abs);
	abs.tv_nsec += 20000000;
	if (abs.tv_nsec >= 1000000000) {
		abs.tv_sec++;
		abs.tv_nsec -= 1000000000;
	}
	printf("clock_nanosleep abs: %d\n", clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs, NULL));
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("reached the deadline: %d\n", b.tv_sec > abs.tv_sec || (b.tv_sec == abs.tv_sec && b.tv_nsec >= abs.tv_nsec));
	req.tv_nsec = -1;
	int bad = nanosleep(&req, NULL);
	printf("bad timespec: %d %s\n", bad, strerror(errno));
}

int main(void) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	thread_signals();
	thread_exec();
	leader_exit();
	reparent();
	sessions();
	cloexec();
	polling();
	sleeps();
	printf("== end\n");
	return 0;
}
