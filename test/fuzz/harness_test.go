package fuzz

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/test/rootfs"
)

var env struct {
	once  sync.Once
	skip  string
	err   error
	tmp   string
	runsc string
	gcc   string
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if env.tmp != "" {
		os.RemoveAll(env.tmp)
	}
	os.Exit(code)
}

// setup builds runsc-cri once (or takes $RUNSC_CRI) and makes this process
// a child subreaper, so processes the sandbox leaves behind become its
// children and can be found.
func setup(t *testing.T) {
	t.Helper()
	env.once.Do(func() {
		if os.Geteuid() != 0 {
			env.skip = "needs root (ptrace, namespaces)"
			return
		}
		if _, err := rootfs.FindBusybox(); err != nil {
			env.skip = err.Error()
			return
		}
		gcc, err := exec.LookPath("gcc")
		if err != nil {
			env.skip = "gcc not found (install gcc and libc6-dev, or run make test-deps)"
			return
		}
		env.gcc = gcc
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			env.err = fmt.Errorf("PR_SET_CHILD_SUBREAPER: %w", err)
			return
		}
		if env.tmp, err = os.MkdirTemp("", "runsc-cri-fuzz-"); err != nil {
			env.err = err
			return
		}
		env.runsc = os.Getenv("RUNSC_CRI")
		if env.runsc == "" {
			env.runsc = filepath.Join(env.tmp, "runsc-cri")
			cmd := exec.Command("go", "build", "-o", env.runsc, "./cmd/runsc-cri")
			cmd.Dir = moduleRoot()
			if out, err := cmd.CombinedOutput(); err != nil {
				env.err = fmt.Errorf("go build ./cmd/runsc-cri: %v\n%s", err, out)
			}
		} else if !filepath.IsAbs(env.runsc) {
			// Relative to the module root (RUNSC_CRI=out/runsc-cri), as
			// go test runs in the package directory.
			env.runsc = filepath.Join(moduleRoot(), env.runsc)
		}
	})
	if env.skip != "" {
		t.Skip(env.skip)
	}
	if env.err != nil {
		t.Fatal(env.err)
	}
}

// sandboxDir is a fresh directory holding rootfs/ (busybox plus the given C
// programs compiled into /) and canary, a file nothing may touch.
type sandboxDir struct {
	dir, rootfs string
	before      string
}

func newSandboxDir(t *testing.T, cprogs ...string) *sandboxDir {
	t.Helper()
	dir, err := os.MkdirTemp(env.tmp, "run-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &sandboxDir{dir: dir, rootfs: filepath.Join(dir, "rootfs")}
	if err := rootfs.Build(s.rootfs, ""); err != nil {
		t.Fatalf("busybox rootfs: %v", err)
	}
	for _, src := range cprogs {
		name := strings.TrimSuffix(filepath.Base(src), ".c")
		out, err := exec.Command(env.gcc, "-static", "-O1", "-Wall", "-fno-stack-protector",
			"-o", filepath.Join(s.rootfs, name), src).CombinedOutput()
		if err != nil {
			t.Fatalf("gcc %s: %v\n%s", src, err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "canary"), []byte("canary\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.before = s.outside(t)
	return s
}

// outside lists everything in dir except the rootfs, with sizes and mtimes.
func (s *sandboxDir) outside(t *testing.T) string {
	var b strings.Builder
	filepath.Walk(s.dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", p, err)
			return nil
		}
		if p == s.rootfs {
			return filepath.SkipDir
		}
		fmt.Fprintf(&b, "%s %v %d %d\n", p, fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		return nil
	})
	return b.String()
}

// checkOutside fails t if anything next to the rootfs changed.
func (s *sandboxDir) checkOutside(t *testing.T) {
	t.Helper()
	if after := s.outside(t); after != s.before {
		t.Errorf("files outside the rootfs changed:\nbefore:\n%s\nafter:\n%s", s.before, after)
	}
}

// result is one sandbox run.
type result struct {
	stdout, stderr []byte
	err            error // exit status or start failure
	timedOut       bool
	took           time.Duration
	// Host resources of the sentry (the `do` process) sampled each time
	// the program printed an "idle" marker line.
	fds, stubs []int
}

func (r *result) String() string {
	return fmt.Sprintf("err=%v timedOut=%v took=%v\n--- stdout:\n%s\n--- stderr:\n%s", r.err, r.timedOut,
		r.took.Round(time.Millisecond), tail(r.stdout, 4000), tail(r.stderr, 6000))
}

func tail(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return fmt.Sprintf("... (%d bytes before)\n", len(b)-n) + string(b[len(b)-n:])
}

// runSandbox runs argv in the sandbox over s.rootfs. Every stdout line equal
// to idleMarker makes it count the sentry's host fds and child processes.
func runSandbox(t *testing.T, s *sandboxDir, timeout time.Duration, idleMarker string, argv ...string) *result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := append([]string{"do", "--rootfs", s.rootfs, "--memory-limit", "1G", "--max-tasks", "512", "--"}, argv...)
	cmd := exec.CommandContext(ctx, env.runsc, args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"}
	cmd.Dir = s.dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	r := &result{}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		pw.Close()
		pr.Close()
		t.Fatalf("starting %s: %v", env.runsc, err)
	}
	pw.Close()
	var stdout bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		br := bufio.NewReader(pr)
		for {
			line, err := br.ReadBytes('\n')
			stdout.Write(line)
			if strings.TrimSpace(string(line)) == idleMarker && idleMarker != "" {
				// Let the last child's teardown settle.
				time.Sleep(500 * time.Millisecond)
				r.fds = append(r.fds, countFDs(cmd.Process.Pid))
				r.stubs = append(r.stubs, len(descendantsOf(cmd.Process.Pid)))
			}
			if err != nil {
				if err != io.EOF {
					fmt.Fprintf(&stdout, "\n(reading stdout: %v)\n", err)
				}
				return
			}
		}
	}()
	r.err = cmd.Wait()
	<-done
	pr.Close()
	r.took = time.Since(start)
	r.timedOut = ctx.Err() == context.DeadlineExceeded
	r.stdout, r.stderr = stdout.Bytes(), stderr.Bytes()
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	return r
}

// checkNoPanic fails t when the sentry logged a panic or crashed.
func checkNoPanic(t *testing.T, r *result) bool {
	t.Helper()
	for _, sign := range []string{"panic", "fatal error:", "goroutine ", "SIGSEGV: segmentation violation"} {
		if bytes.Contains(bytes.ToLower(r.stderr), []byte(strings.ToLower(sign))) {
			t.Errorf("the sentry crashed or panicked (stderr has %q)", sign)
			return false
		}
	}
	return true
}

// checkLeftovers fails t if any process outlived the sandbox (orphans are
// reparented to this subreaper process); it kills and reaps them.
func checkLeftovers(t *testing.T) {
	t.Helper()
	// The sandbox's processes may take a moment to go after `do` exits.
	var left []int
	for i := 0; i < 20; i++ {
		left = left[:0]
		for _, pid := range childrenOf(os.Getpid()) {
			var ws unix.WaitStatus
			if p, _ := unix.Wait4(pid, &ws, unix.WNOHANG, nil); p == pid {
				continue // a zombie, now reaped
			}
			left = append(left, pid)
		}
		if len(left) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	var desc []string
	for _, pid := range left {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		desc = append(desc, fmt.Sprintf("%d %q", pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
		syscall.Kill(pid, syscall.SIGKILL)
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, 0, nil)
	}
	t.Errorf("processes outlived the sandbox (killed now): %s", strings.Join(desc, ", "))
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	var kids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parens.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 1 {
			if pp, _ := strconv.Atoi(f[1]); pp == pid {
				kids = append(kids, p)
			}
		}
	}
	return kids
}

// descendantsOf lists pid's children, their children, and so on (the
// gofer and the ptrace stubs of a sentry).
func descendantsOf(pid int) []int {
	var all []int
	for queue := []int{pid}; len(queue) > 0; queue = queue[1:] {
		kids := childrenOf(queue[0])
		all = append(all, kids...)
		queue = append(queue, kids...)
	}
	return all
}

func countFDs(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(ents)
}
