package integration

import (
	"testing"
	"time"
)

// TestCAccessProc: access(2) and faccessat(2) resolve /proc/self like
// open(2) does, for the real-id check and with AT_EACCESS, as root and as
// an unprivileged user (a regression: the real-id check used to lose the
// calling task, so /proc/self did not resolve).
func TestCAccessProc(t *testing.T) {
	prog := cProgram(t, "accessproc")
	requireSandbox(t, false)
	for _, user := range []string{"", "1000:1000"} {
		o := sandboxOpts{rootfs: env.rootfs, user: user, timeout: 60 * time.Second}
		native := runNativeRootfs(t, env.rootfs, o, prog)
		sandbox := runSandbox(t, o, prog)
		compare(t, native, sandbox)
	}
}

func init() {
	cSources["accessproc"] = `
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void check(const char *path) {
	static const int modes[] = {F_OK, R_OK, W_OK, X_OK};
	static const char *names[] = {"F_OK", "R_OK", "W_OK", "X_OK"};
	for (int i = 0; i < 4; i++) {
		int a = access(path, modes[i]);
		int ea = a < 0 ? errno : 0;
		int e = faccessat(AT_FDCWD, path, modes[i], AT_EACCESS);
		int ee = e < 0 ? errno : 0;
		printf("%s %s access=%d(%s) eaccess=%d(%s)\n", path, names[i],
			a, ea ? strerror(ea) : "ok", e, ee ? strerror(ee) : "ok");
	}
}

int main(void) {
	check("/proc/self/status");
	check("/proc/self/fd/1");
	check("/proc/self/exe");
	check("/proc/self/cwd");
	check("/proc/self/nonexistent");
	return 0;
}
`
}
