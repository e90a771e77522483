// Package integration runs real programs in the sandbox with
// `runsc-cri do` and compares what they print and how they exit with the
// same programs run natively.
//
//   - busybox cases run a /bin/sh -c script over a busybox rootfs assembled
//     by TestMain (package test/rootfs). The native run uses the same rootfs
//     through chroot, in fresh mount and PID namespaces with proc mounted and
//     a tmpfs on /tmp and /dev (holding the usual device nodes), so paths,
//     pid 1 and /proc look alike on both sides.
//   - host cases run the host's own dynamic programs (ls, sh, coreutils,
//     python3) over the default rootfs of `do` (a read-only view of the
//     host's /), natively by running them directly.
//   - C cases compile small static programs with gcc into the rootfs
//     (skipped when gcc is missing): unimplemented syscalls, a segfault,
//     the task limit and the memory limit.
//   - escape cases try to read host files from inside the sandbox and check
//     that nothing of the host shows.
//
// The tests need root (chroot, namespaces) and skip without it. TestMain
// builds cmd/runsc-cri into a temp dir, or uses $RUNSC_CRI. Every sandbox
// run has a timeout (RUNSC_CRI_TEST_TIMEOUT scales it, e.g. "2" doubles
// it); after a few timeouts, or when the whole run has used its time budget
// ($RUNSC_CRI_TEST_BUDGET, default 12m), further sandbox runs fail at once
// instead of blocking CI. Before the cases, a smoke run (`/bin/true` in the
// sandbox) decides whether the sandbox works at all; if it does not, every
// case fails at once with the smoke run's output (RUNSC_CRI_TEST_FORCE=1
// runs the cases anyway).
//
// Run one case:
//
//	go test ./test/integration -count=1 -v -run 'TestBusybox/pipes$'
package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runsc-cri/runsc-cri/test/rootfs"
)

// Environment shared by the test binary's setup.
var env struct {
	skip      string // reason to skip everything (not root, ...)
	setupErr  error  // building runsc-cri or the rootfs failed
	runsc     string // path of runsc-cri
	rootfs    string // busybox rootfs (read-only for the cases; C programs go to /cbin)
	tmp       string // scratch dir removed at exit
	smokeBB   error  // /bin/true over the busybox rootfs failed
	smokeHost error  // /bin/true over the host / failed
	force     bool
	scale     float64
	budget    time.Duration
	start     time.Time
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func TestMain(m *testing.M) {
	code := func() int {
		setup()
		if env.setupErr != nil {
			fmt.Fprintf(os.Stderr, "integration: SETUP FAILED, every case will fail:\n%v\n\n", env.setupErr)
		}
		for _, e := range []error{env.smokeBB, env.smokeHost} {
			if e != nil {
				fmt.Fprintf(os.Stderr, "integration: %v\n\n", e)
			}
		}
		defer os.RemoveAll(env.tmp)
		return m.Run()
	}()
	os.Exit(code)
}

// closeInherited marks descriptors this process inherited without
// close-on-exec (from a shell, a CI runner) close-on-exec, so neither the
// native runs nor the sandbox see them.
func closeInherited() {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

func setup() {
	env.start = time.Now()
	closeInherited()
	env.force = os.Getenv("RUNSC_CRI_TEST_FORCE") == "1"
	env.scale = 1
	if s := os.Getenv("RUNSC_CRI_TEST_TIMEOUT"); s != "" {
		if f, err := strconv.ParseFloat(s, 64); err == nil && f > 0 {
			env.scale = f
		}
	}
	env.budget = 12 * time.Minute
	if s := os.Getenv("RUNSC_CRI_TEST_BUDGET"); s != "" {
		if d, err := time.ParseDuration(s); err == nil {
			env.budget = d
		}
	}
	if os.Geteuid() != 0 {
		env.skip = "integration tests need root (chroot, namespaces, ptrace of the sandbox)"
		return
	}
	for _, tool := range []string{"unshare", "chroot", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			env.skip = fmt.Sprintf("%s not found (util-linux/coreutils): %v", tool, err)
			return
		}
	}
	var err error
	env.tmp, err = os.MkdirTemp("", "runsc-cri-integration-")
	if err != nil {
		env.setupErr = err
		return
	}
	// Our own temp dirs hold the rootfs: the escape tests rely on them
	// being under a host path the sandbox must not reveal.
	env.runsc = os.Getenv("RUNSC_CRI")
	if env.runsc == "" {
		env.runsc = filepath.Join(env.tmp, "runsc-cri")
		cmd := exec.Command("go", "build", "-o", env.runsc, "./cmd/runsc-cri")
		cmd.Dir = moduleRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			env.setupErr = fmt.Errorf("building runsc-cri (go build ./cmd/runsc-cri) failed: %v\n%s", err, out)
			return
		}
	} else if env.runsc, err = filepath.Abs(env.runsc); err != nil {
		env.setupErr = err
		return
	}
	env.rootfs = filepath.Join(env.tmp, "rootfs")
	if err := rootfs.Build(env.rootfs, ""); err != nil {
		env.setupErr = fmt.Errorf("assembling the busybox rootfs: %w", err)
		return
	}
	if err := os.MkdirAll(filepath.Join(env.rootfs, "cbin"), 0o755); err != nil {
		env.setupErr = err
		return
	}
	env.smokeBB = smoke(sandboxOpts{rootfs: env.rootfs}, "/bin/true")
	env.smokeHost = smoke(sandboxOpts{}, "/bin/true")
}

// smoke runs argv in the sandbox and reports why it did not exit 0.
func smoke(o sandboxOpts, argv ...string) error {
	o.timeout = 60 * time.Second
	r := runSandboxRaw(context.Background(), o, argv...)
	if r.err == nil && r.code == 0 && !r.timedOut {
		return nil
	}
	return fmt.Errorf("smoke run `%s` failed: %s", strings.Join(r.argv, " "), r.describe())
}

// requireRoot skips without root and fails when setup failed.
func requireSetup(t *testing.T) {
	t.Helper()
	if env.skip != "" {
		t.Skip(env.skip)
	}
	if env.setupErr != nil {
		msg := env.setupErr.Error()
		if i := strings.IndexByte(msg, '\n'); i > 0 {
			msg = msg[:i] + " (details at the top of the output)"
		}
		t.Fatalf("setup failed: %s", msg)
	}
}

// requireSandbox additionally fails at once when the smoke run for the
// given kind of rootfs failed.
func requireSandbox(t *testing.T, host bool) {
	t.Helper()
	requireSetup(t)
	err := env.smokeBB
	if host {
		err = env.smokeHost
	}
	if err != nil && !env.force {
		t.Fatalf("the sandbox smoke run failed (its output is at the top), not running this case (RUNSC_CRI_TEST_FORCE=1 runs it anyway)")
	}
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + fmt.Sprintf("\n... (%d more bytes)", len(b)-n)
}

func firstLines(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) <= n {
		return s
	}
	return strings.Join(lines[:n], "") + fmt.Sprintf("... (%d more lines)\n", len(lines)-n)
}
