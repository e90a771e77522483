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
// kconform2.c adds threads and signals, exec from a thread, leader exit,
// reparenting, sessions, close-on-exec, poll/select/epoll and sleeps.
func init() {
	for _, name := range []string{"kconform", "kconform2"} {
		src, err := os.ReadFile(filepath.Join("testdata", name+".c"))
		if err != nil {
			panic(err)
		}
		cSources[name] = string(src)
	}
}

func TestCKernelConformance(t *testing.T) {
	for _, name := range []string{"kconform", "kconform2"} {
		t.Run(name, func(t *testing.T) {
			prog := cProgram(t, name)
			requireSandbox(t, false)
			o := sandboxOpts{rootfs: env.rootfs}
			native := runNativeRootfs(t, env.rootfs, o, prog)
			sandbox := runSandbox(t, o, prog)
			checkNoCrash(t, sandbox)
			compare(t, native, sandbox)
		})
	}
}
