/* No process may choose the signal another process receives (found by the
 * fuzzer, which kept killing its own parent, pid 1):
 *  - clone(CLONE_PARENT | SIGFPE): the new sibling's exit signal is the
 *    caller's (SIGCHLD), not SIGFPE;
 *  - an orphan made with exit signal SIGFPE, reparented to a subreaper,
 *    sends SIGCHLD when it dies;
 *  - tgkill and rt_tgsigqueueinfo check kill(2)'s permission (EPERM for
 *    another user's process).
 * Needs root (setuid). Run natively to get the .want file. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char stack[65536];

static int quick(void *arg) { (void)arg; return 0; }
static int slow(void *arg) { (void)arg; usleep(200000); return 0; }

int main(void)
{
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	setvbuf(stdout, NULL, _IONBF, 0);
	/* 1: a sibling via CLONE_PARENT with exit signal SIGFPE. */
	pid_t c = fork();
	if (c == 0) {
		if (clone(quick, stack + sizeof stack, CLONE_PARENT | SIGFPE, NULL) < 0)
			perror("clone");
		_exit(0);
	}
	usleep(300000);
	while (waitpid(-1, NULL, __WALL | WNOHANG) > 0)
		;
	printf("after CLONE_PARENT sibling: alive\n");
	/* 2: an orphan with exit signal SIGFPE dies after its parent. */
	c = fork();
	if (c == 0) {
		if (clone(slow, stack + sizeof stack, SIGFPE, NULL) < 0)
			perror("clone");
		_exit(0);
	}
	waitpid(c, NULL, 0);
	usleep(400000);
	while (waitpid(-1, NULL, __WALL | WNOHANG) > 0)
		;
	printf("after orphan: alive\n");
	/* 3: tgkill and rt_tgsigqueueinfo from another user. */
	pid_t me = getpid();
	c = fork();
	if (c == 0) {
		if (setuid(65534) < 0)
			perror("setuid");
		long r = syscall(SYS_tgkill, me, me, SIGTERM);
		printf("tgkill: %ld %s\n", r, r < 0 ? strerror(errno) : "");
		r = syscall(SYS_tgkill, me, me, 0);
		printf("tgkill 0: %ld %s\n", r, r < 0 ? strerror(errno) : "");
		siginfo_t si;
		memset(&si, 0, sizeof si);
		si.si_code = SI_QUEUE;
		r = syscall(SYS_rt_tgsigqueueinfo, me, me, SIGTERM, &si);
		printf("rt_tgsigqueueinfo: %ld %s\n", r, r < 0 ? strerror(errno) : "");
		_exit(0);
	}
	waitpid(c, NULL, 0);
	printf("after tgkill: alive\n");
	return 0;
}
