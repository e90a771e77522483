package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Flags of `runsc-cri do`. The task limit's name is not settled yet: change
// flagMaxTasks when cmd/runsc-cri lands it.
const (
	flagRootfs      = "--rootfs"
	flagUser        = "--user"
	flagCwd         = "--cwd"
	flagEnv         = "--env"
	flagMemoryLimit = "--memory-limit"
	flagMaxTasks    = "--max-tasks"
)

// baseEnv is the environment of every run, native and sandboxed.
var baseEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
	"RUNSC_TEST=1",
}

// sandboxOpts are the `do` options of one run.
type sandboxOpts struct {
	rootfs  string // "" for the default (read-only host /)
	user    string // UID[:GID]
	cwd     string
	env     []string // added to baseEnv
	extra   []string // more flags
	stdin   string
	timeout time.Duration // scaled by RUNSC_CRI_TEST_TIMEOUT
}

// result is what one run did.
type result struct {
	argv           []string
	stdout, stderr []byte
	code           int // exit status, 128+signal for a signal death
	timedOut       bool
	err            error // could not start, or other failure of the harness
	took           time.Duration
}

func (r result) describe() string {
	var b strings.Builder
	switch {
	case r.err != nil && !r.timedOut:
		fmt.Fprintf(&b, "error: %v", r.err)
	case r.timedOut:
		fmt.Fprintf(&b, "TIMED OUT after %v (process group killed)", r.took.Round(time.Millisecond))
	default:
		fmt.Fprintf(&b, "exit status %d after %v", r.code, r.took.Round(time.Millisecond))
	}
	fmt.Fprintf(&b, "\n--- stdout:\n%s\n--- stderr:\n%s", truncate(r.stdout, 3000), truncate(r.stderr, 3000))
	return b.String()
}

const defaultTimeout = 60 * time.Second

// run starts argv in its own process group with a timeout; on timeout the
// whole group is killed, so a hung sandbox (sentry, gofer, stubs) goes away.
func run(ctx context.Context, timeout time.Duration, stdin string, cmdEnv []string, argv ...string) result {
	if timeout == 0 {
		timeout = defaultTimeout
	}
	timeout = time.Duration(float64(timeout) * env.scale)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = cmdEnv
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	r := result{argv: argv, took: time.Since(start), stdout: stdout.Bytes(), stderr: stderr.Bytes()}
	if ctx.Err() == context.DeadlineExceeded {
		r.timedOut = true
		r.err = fmt.Errorf("timed out after %v", timeout)
		if cmd.Process != nil {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		return r
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.code = 128 + int(ws.Signal())
		} else {
			r.code = ee.ExitCode()
		}
	default:
		r.err = err
	}
	// Leftovers of the group (a daemonised child) must not outlive the run.
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	return r
}

// sandboxArgv is the command line of `do`.
func sandboxArgv(o sandboxOpts, argv ...string) []string {
	a := []string{env.runsc, "do"}
	if o.rootfs != "" {
		a = append(a, flagRootfs, o.rootfs)
	}
	if o.user != "" {
		a = append(a, flagUser, o.user)
	}
	if o.cwd != "" {
		a = append(a, flagCwd, o.cwd)
	}
	for _, e := range append(append([]string(nil), baseEnv...), o.env...) {
		a = append(a, flagEnv, e)
	}
	a = append(a, o.extra...)
	a = append(a, "--")
	return append(a, argv...)
}

// runSandboxRaw runs `do`. Its own environment is baseEnv (plus
// RUNSC_CRI_* settings), because `do` hands its environment to the sandbox.
func runSandboxRaw(ctx context.Context, o sandboxOpts, argv ...string) result {
	doEnv := append([]string(nil), baseEnv...)
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "RUNSC_CRI_") && !strings.HasPrefix(kv, "RUNSC_CRI_TEST_") {
			doEnv = append(doEnv, kv)
		}
	}
	return run(ctx, o.timeout, o.stdin, doEnv, sandboxArgv(o, argv...)...)
}

// The breaker: after maxTimeouts sandbox runs timed out, or once the time
// budget is used, further sandbox runs fail at once.
const maxTimeouts = 3

var breaker struct {
	sync.Mutex
	timeouts int
}

// runSandbox runs argv in the sandbox, failing t at once when the breaker
// is open.
func runSandbox(t *testing.T, o sandboxOpts, argv ...string) result {
	t.Helper()
	breaker.Lock()
	n := breaker.timeouts
	breaker.Unlock()
	if n >= maxTimeouts {
		t.Fatalf("not run: %d earlier sandbox runs timed out (set RUNSC_CRI_TEST_TIMEOUT to allow more time)", n)
	}
	if used := time.Since(env.start); used > env.budget {
		t.Fatalf("not run: the integration time budget (%v, RUNSC_CRI_TEST_BUDGET) is used up", env.budget)
	}
	r := runSandboxRaw(context.Background(), o, argv...)
	if r.timedOut {
		breaker.Lock()
		breaker.timeouts++
		breaker.Unlock()
	}
	t.Logf("sandbox: %s: %v", shortArgv(r.argv), r.took.Round(time.Millisecond))
	return r
}

func shortArgv(argv []string) string {
	s := strings.Join(argv, " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// nativeSetup prepares the native side of a busybox case inside fresh
// mount and PID namespaces (unshare mounts proc): the rootfs bound onto
// itself (so / is a mount point, as in the sandbox), a tmpfs on /dev
// with the device nodes a sandbox offers, then chroot (as the user, if
// given) and cd.
const nativeSetup = `set -e
R=$1 U=$2 C=$3; shift 3
mount --rbind "$R" "$R"
mount -t tmpfs -o mode=755 tmpfs "$R/dev"
mknod -m 666 "$R/dev/null" c 1 3
mknod -m 666 "$R/dev/zero" c 1 5
mknod -m 666 "$R/dev/full" c 1 7
mknod -m 666 "$R/dev/random" c 1 8
mknod -m 666 "$R/dev/urandom" c 1 9
mknod -m 666 "$R/dev/tty" c 5 0
mkdir -m 1777 "$R/dev/shm"
ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"
ln -s /proc/self/fd/1 "$R/dev/stdout"
ln -s /proc/self/fd/2 "$R/dev/stderr"
set +e
spec=
if [ -n "$U" ]; then
	uid=${U%%:*}; gid=${U#*:}; [ "$gid" = "$U" ] && gid=$uid
	spec="--userspec=$uid:$gid --groups=$gid"
fi
exec chroot $spec "$R" /bin/env -i "$@"
`

// runNativeRootfs runs argv natively over root the way the sandbox would.
func runNativeRootfs(t *testing.T, root string, o sandboxOpts, argv ...string) result {
	t.Helper()
	envv := append(append([]string(nil), baseEnv...), o.env...)
	inner := argv
	if o.cwd != "" {
		inner = append([]string{"/bin/sh", "-c", `cd "$0" && exec "$@"`, o.cwd}, argv...)
	}
	a := []string{"unshare", "--mount", "--pid", "--fork", "--mount-proc=" + root + "/proc", "--",
		"/bin/sh", "-c", nativeSetup, "native", root, o.user, o.cwd}
	a = append(a, envv...)
	a = append(a, inner...)
	r := run(context.Background(), o.timeout, o.stdin, os.Environ(), a...)
	if r.timedOut || r.err != nil {
		t.Fatalf("the NATIVE run failed, the test itself is wrong: %s", r.describe())
	}
	return r
}

// runNativeHost runs argv directly on the host with the sandbox's
// environment.
func runNativeHost(t *testing.T, o sandboxOpts, argv ...string) result {
	t.Helper()
	envv := append(append([]string(nil), baseEnv...), o.env...)
	r := run(context.Background(), o.timeout, o.stdin, envv, argv...)
	if r.timedOut || r.err != nil {
		t.Fatalf("the NATIVE run failed, the test itself is wrong: %s", r.describe())
	}
	return r
}

// normalizer rewrites output that legitimately differs between runs.
type normalizer func(string) string

func re(pattern, repl string) normalizer {
	rx := regexp.MustCompile(pattern)
	return func(s string) string { return rx.ReplaceAllString(s, repl) }
}

var (
	// normTimes: clock times and dates as ls, date and ps print them.
	normTimes = chain(
		re(`\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d{1,2} +(\d{1,2}:\d{2}|\d{4})\b`, "<DATE>"),
		re(`\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?( [+-]\d{4})?`, "<DATE>"),
		re(`\b\d{1,2}:\d{2}(:\d{2})?\b`, "<TIME>"),
	)
	// normInodes: inode numbers printed as ino=N.
	normInodes = re(`ino=\d+`, "ino=<N>")
	// normPids: numbers printed as pid=N.
	normPids = re(`pid=\d+`, "pid=<N>")
	// normLsDirs: ls -l sizes of directories (tmpfs implementations count
	// directory sizes differently) and the "total" line (block counts).
	normLsDirs = chain(
		re(`(?m)^(d[rwxsStT-]{9}\s+\d+\s+\S+\s+\S+\s+)\d+`, "${1}<SIZE>"),
		re(`(?m)^total \d+$`, "total <N>"),
	)
)

func chain(ns ...normalizer) normalizer {
	return func(s string) string {
		for _, n := range ns {
			s = n(s)
		}
		return s
	}
}

// compare fails t, naming the first differing line, if native and sandbox
// differ after normalising.
func compare(t *testing.T, native, sandbox result, norms ...normalizer) {
	t.Helper()
	if sandbox.timedOut || sandbox.err != nil {
		t.Fatalf("sandbox run failed: %s\n\nnative run: %s", sandbox.describe(), native.describe())
	}
	norm := func(b []byte) string {
		s := string(b)
		for _, n := range norms {
			s = n(s)
		}
		return s
	}
	var diffs []string
	if n, s := norm(native.stdout), norm(sandbox.stdout); n != s {
		diffs = append(diffs, "stdout differs: "+firstDiff(n, s))
	}
	if n, s := norm(native.stderr), norm(sandbox.stderr); n != s {
		diffs = append(diffs, "stderr differs: "+firstDiff(n, s))
	}
	if native.code != sandbox.code {
		diffs = append(diffs, fmt.Sprintf("exit status: native %d, sandbox %d", native.code, sandbox.code))
	}
	if len(diffs) > 0 {
		t.Errorf("sandbox differs from native:\n  %s\n\n=== native: %s\n\n=== sandbox: %s",
			strings.Join(diffs, "\n  "), native.describe(), sandbox.describe())
	}
}

// firstDiff names the first line where a and b differ.
func firstDiff(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(la) || i < len(lb); i++ {
		var x, y string
		if i < len(la) {
			x = la[i]
		} else {
			x = "<end of output>"
		}
		if i < len(lb) {
			y = lb[i]
		} else {
			y = "<end of output>"
		}
		if x != y {
			return fmt.Sprintf("line %d: native %q, sandbox %q", i+1, x, y)
		}
	}
	return "(only in whitespace)"
}

// checkNoCrash fails t if the sandbox's stderr shows a Go crash of the
// sentry, gofer or CLI.
func checkNoCrash(t *testing.T, r result) {
	t.Helper()
	for _, sign := range []string{"panic:", "fatal error:", "goroutine ", "SIGSEGV: segmentation violation"} {
		if bytes.Contains(r.stderr, []byte(sign)) {
			t.Errorf("the sandbox crashed (stderr contains %q): %s", sign, r.describe())
			return
		}
	}
}
