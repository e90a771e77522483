package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// init adds testdata/seccomp.c: seccomp filters (ERRNO, TRAP with the
// SIGSYS siginfo, KILL_PROCESS and KILL_THREAD, TRACE/USER_NOTIF without
// a tracer or listener, LOG, TSYNC, argument filtering, inheritance
// across fork and execve, EACCES without no_new_privs, invalid programs
// and the total length limit) and strict mode, in forked children whose
// output and end must be the same natively and in the sandbox.
func init() {
	src, err := os.ReadFile(filepath.Join("testdata", "seccomp.c"))
	if err != nil {
		panic(err)
	}
	cSources["seccomp"] = string(src)
}

func TestCSeccomp(t *testing.T) {
	prog := cProgram(t, "seccomp")
	requireSandbox(t, false)
	o := sandboxOpts{rootfs: env.rootfs}
	native := runNativeRootfs(t, env.rootfs, o, prog)
	sandbox := runSandbox(t, o, prog)
	checkNoCrash(t, sandbox)
	compare(t, native, sandbox)
	// The native run proves the expectations hold on this host's Linux;
	// a few facts are also checked outright so that a host quirk shared
	// by both runs cannot hide a regression.
	out := string(sandbox.stdout)
	for _, want := range []string{
		"getppid with ERRNO(EPERM): -1 EPERM\n",
		"SIGSYS: signo 31 code 1 errno 42 syscall 110 arch 0xc000003e\n",
		"-- kill-process: killed by signal 31\n",
		"-- strict: killed by signal 9\n",
		"after exec getppid: -1 EPERM\n",
		"other thread getppid (TSYNC filter): -1 EPERM\n",
		"seccomp as nobody without no_new_privs: -1 EACCES\n",
		"write fd 3: -1 EPERM\n",
		"4096-instruction filters installed: 7 then ENOMEM\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("sandbox output lacks %q", want)
		}
	}
}
