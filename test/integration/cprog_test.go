package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var cBuilds struct {
	sync.Mutex
	done map[string]error
}

// cProgram compiles cSources[name] with gcc -static into the rootfs's
// /cbin (once per test binary) and returns its path inside the rootfs.
// It skips t when gcc is missing.
func cProgram(t *testing.T, name string) string {
	t.Helper()
	requireSetup(t)
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found (install gcc and libc6-dev, or run make test-deps)")
	}
	cBuilds.Lock()
	defer cBuilds.Unlock()
	if cBuilds.done == nil {
		cBuilds.done = map[string]error{}
	}
	err, ok := cBuilds.done[name]
	if !ok {
		err = compileC(gcc, name)
		cBuilds.done[name] = err
	}
	if err != nil {
		t.Fatalf("compiling %s.c: %v", name, err)
	}
	return "/cbin/" + name
}

func compileC(gcc, name string) error {
	src, ok := cSources[name]
	if !ok {
		return fmt.Errorf("no C source named %q", name)
	}
	dir, err := os.MkdirTemp(env.tmp, "csrc-")
	if err != nil {
		return err
	}
	c := filepath.Join(dir, name+".c")
	if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
		return err
	}
	out, err := exec.Command(gcc, "-static", "-O1", "-Wall", "-o", filepath.Join(env.rootfs, "cbin", name), c).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v\n%s", err, out)
	}
	return nil
}

// TestCUnimplementedSyscalls: syscall numbers Linux does not have (or has
// removed) return ENOSYS in the sandbox as natively, and the program keeps
// running.
func TestCUnimplementedSyscalls(t *testing.T) {
	prog := cProgram(t, "enosys")
	requireSandbox(t, false)
	o := sandboxOpts{rootfs: env.rootfs}
	native := runNativeRootfs(t, env.rootfs, o, prog)
	sandbox := runSandbox(t, o, prog)
	checkNoCrash(t, sandbox)
	compare(t, native, sandbox)
}

// TestCSegfault: a program that faults dies of SIGSEGV; `do` exits 139.
func TestCSegfault(t *testing.T) {
	prog := cProgram(t, "segv")
	requireSandbox(t, false)
	o := sandboxOpts{rootfs: env.rootfs}
	native := runNativeRootfs(t, env.rootfs, o, prog)
	sandbox := runSandbox(t, o, prog)
	checkNoCrash(t, sandbox)
	if sandbox.code != 139 {
		t.Errorf("want exit status 139 (128+SIGSEGV) from do, got: %s", sandbox.describe())
	}
	if !strings.Contains(string(sandbox.stdout), "about to fault") || strings.Contains(string(sandbox.stdout), "survived") {
		t.Errorf("unexpected output: %s", sandbox.describe())
	}
	// Only stdout and the status are compared: a native shell or unshare
	// does not print anything for the signal either.
	native.stderr, sandbox.stderr = nil, nil
	compare(t, native, sandbox)
}

// taskLimit is what TestCTaskLimit passes with flagMaxTasks.
const taskLimit = 64

// TestCTaskLimit: a fork bomb stops at the sandbox's task limit with
// EAGAIN, and the sandbox stays up to reap everything.
func TestCTaskLimit(t *testing.T) {
	prog := cProgram(t, "forkbomb")
	requireSandbox(t, false)
	r := runSandbox(t, sandboxOpts{
		rootfs:  env.rootfs,
		extra:   []string{flagMaxTasks, strconv.Itoa(taskLimit)},
		timeout: 120 * time.Second,
	}, prog)
	checkNoCrash(t, r)
	m := regexp.MustCompile(`fork failed with (\w+) after (\d+) children\nreaped (\d+)\n`).FindStringSubmatch(string(r.stdout))
	if r.code != 0 || m == nil {
		t.Fatalf("want the fork bomb stopped by the task limit (%s %d) and exit 0, got: %s", flagMaxTasks, taskLimit, r.describe())
	}
	n, _ := strconv.Atoi(m[2])
	if m[1] != "EAGAIN" || n >= taskLimit || m[3] != m[2] {
		t.Errorf("want EAGAIN after fewer than %d children and all reaped, got %q", taskLimit, m[0])
	}
}

// TestCMemoryLimit: touching 1 GiB under a 256 MiB memory limit fails (the
// mapping is refused with ENOMEM or the program is killed with SIGKILL),
// and the sandbox reports it instead of crashing.
func TestCMemoryLimit(t *testing.T) {
	prog := cProgram(t, "bigalloc")
	requireSandbox(t, false)
	r := runSandbox(t, sandboxOpts{
		rootfs:  env.rootfs,
		extra:   []string{flagMemoryLimit, strconv.Itoa(256 << 20)},
		timeout: 120 * time.Second,
	}, prog)
	checkNoCrash(t, r)
	out := string(r.stdout)
	switch {
	case r.timedOut || r.err != nil:
		t.Fatalf("sandbox run failed: %s", r.describe())
	case strings.Contains(out, "touched"):
		t.Errorf("1 GiB was touched under a 256 MiB limit: %s", r.describe())
	case r.code == 137:
		// Killed when the limit was reached.
	case r.code == 3 && strings.Contains(out, "mmap failed: ENOMEM"):
		// Refused up front.
	default:
		t.Errorf("want exit 137 (SIGKILL) or the program's ENOMEM exit 3, got: %s", r.describe())
	}
}
