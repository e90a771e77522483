/* A blocking write to an eventfd of a value that would overflow its counter
 * waits (Linux: until a read makes room). The sentry once spun forever here,
 * deaf even to SIGKILL, because the eventfd reports writable while the
 * write cannot proceed. Expect: the write ends with EINTR when the alarm
 * fires, and SIGKILL ends a child stuck in the same write. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_alarm(int sig) { (void)sig; }

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	int fd = eventfd(0xffffffff, 0);
	uint64_t v = 0xfffffffffffffff0ULL;
	alarm(1);
	long n = write(fd, &v, 8);
	printf("write: %ld %s\n", n, n < 0 ? strerror(errno) : "");
	pid_t pid = fork();
	if (pid == 0) {
		write(fd, &v, 8);
		_exit(0);
	}
	usleep(200000);
	kill(pid, SIGKILL);
	int st;
	waitpid(pid, &st, 0);
	printf("child: %s\n", WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL ? "killed" : "not killed");
	uint64_t r;
	read(fd, &r, 8);
	printf("read: %#llx\n", (unsigned long long)r);
	return 0;
}
