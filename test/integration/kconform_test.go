package integration

import (
	"os"
	"path/filepath"
	"testing"
)

// init adds testdata/kconform.c to the C programs: kernel behaviour checks
// (threads, futexes, SA_RESTART, fault signals on an alternate stack,
// masks and queued signals, stop/continue, shared memory across fork,
// robust mutexes, #! scripts, fd limits) whose output must be the same
// natively and in the sandbox.
func init() {
	src, err := os.ReadFile(filepath.Join("testdata", "kconform.c"))
	if err != nil {
		panic(err)
	}
	cSources["kconform"] = string(src)
}

func TestCKernelConformance(t *testing.T) {
	prog := cProgram(t, "kconform")
	requireSandbox(t, false)
	o := sandboxOpts{rootfs: env.rootfs}
	native := runNativeRootfs(t, env.rootfs, o, prog)
	sandbox := runSandbox(t, o, prog)
	checkNoCrash(t, sandbox)
	compare(t, native, sandbox)
}
