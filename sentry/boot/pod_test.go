package boot

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/gofer"
	"github.com/runsc-cri/runsc-cri/sentry/control"
	"github.com/runsc-cri/runsc-cri/test/rootfs"
)

// The pod tests run the pod sentry and the gofers as real processes: the
// test binary re-executes itself in the role named by roleEnv (so no other
// package has to build), and the tests talk to the sentry only through
// control.Call, as the daemon does.

const roleEnv = "RUNSC_CRI_BOOT_TEST_ROLE"

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "pod":
		// argv: test-binary pod SPEC CONTROL
		var spec PodSpec
		data, err := os.ReadFile(os.Args[2])
		if err == nil {
			err = json.Unmarshal(data, &spec)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		os.Exit(RunPod(spec, os.Args[3], 3, log))
	case "gofer":
		// argv: test-binary gofer --root DIR --sock-fd 3 --mntns
		os.Exit(gofer.Main(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// testPod is a pod sentry process.
type testPod struct {
	t       *testing.T
	dir     string
	sock    string
	cmd     *exec.Cmd
	exited  chan struct{}
	gofers  []*exec.Cmd
	rootfss map[string]string
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root (ptrace platform stubs, gofer mount namespaces)")
	}
	if _, err := rootfs.FindBusybox(); err != nil {
		t.Skip(err)
	}
}

// startPod starts a pod sentry and waits until it serves.
func startPod(t *testing.T) *testPod {
	return startPodSpec(t, PodSpec{MemoryLimit: 1 << 30, Hostname: "testpod"})
}

// startPodSpec starts a pod sentry with spec and waits until it serves.
func startPodSpec(t *testing.T, podSpec PodSpec) *testPod {
	needRoot(t)
	dir := t.TempDir()
	spec, _ := json.Marshal(podSpec)
	specPath := filepath.Join(dir, "spec.json")
	if err := os.WriteFile(specPath, spec, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "control.sock")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "pod", specPath, sock)
	cmd.Env = append(os.Environ(), roleEnv+"=pod")
	cmd.Stderr = os.Stderr
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	line, _ := bufio.NewReader(r).ReadString('\n')
	r.Close()
	p := &testPod{t: t, dir: dir, sock: sock, cmd: cmd, exited: make(chan struct{}), rootfss: map[string]string{}}
	go func() { cmd.Wait(); close(p.exited) }()
	if line != "ok\n" {
		cmd.Process.Kill()
		t.Fatalf("pod sentry did not start: %q", line)
	}
	t.Cleanup(p.kill)
	return p
}

func (p *testPod) kill() {
	p.cmd.Process.Kill()
	<-p.exited
	for _, g := range p.gofers {
		g.Process.Kill()
		g.Wait()
	}
}

// call makes a control call.
func (p *testPod) call(method string, params any, fds []*os.File, result any) error {
	var raw []int
	for _, f := range fds {
		raw = append(raw, int(f.Fd()))
	}
	return control.Call(p.sock, method, params, raw, result, 30*time.Second)
}

func (p *testPod) mustCall(method string, params any, fds []*os.File, result any) {
	p.t.Helper()
	if err := p.call(method, params, fds, result); err != nil {
		p.t.Fatalf("%s: %v", method, err)
	}
}

// startGofer builds a busybox rootfs for id and starts a gofer serving it;
// it returns the sentry's end of the connection.
func (p *testPod) startGofer(id string) *os.File {
	t := p.t
	root := filepath.Join(p.dir, "rootfs-"+id)
	if err := rootfs.Build(root, ""); err != nil {
		t.Fatal(err)
	}
	p.rootfss[id] = root
	return p.goferFor(root)
}

// goferFor starts a gofer serving dir and returns the sentry's end.
func (p *testPod) goferFor(root string) *os.File {
	t := p.t
	sentryEnd, goferEnd, err := gofer.SocketPair()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "gofer", "--root", root, "--sock-fd", "3", "--mntns")
	cmd.Env = append(os.Environ(), roleEnv+"=gofer")
	cmd.Stderr = os.Stderr
	cmd.ExtraFiles = []*os.File{goferEnd}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	goferEnd.Close()
	p.gofers = append(p.gofers, cmd)
	return sentryEnd
}

// create creates container id running args, logging to a new log file; it
// returns the log's path.
func (p *testPod) create(id string, proc control.Process, extra []*os.File, mounts []control.Mount) string {
	p.t.Helper()
	g := p.startGofer(id)
	defer g.Close()
	logPath := filepath.Join(p.dir, id+".log")
	logF, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	defer logF.Close()
	if proc.Env == nil {
		proc.Env = []string{"PATH=/bin:/sbin:/usr/bin"}
	}
	fds := append([]*os.File{g, logF}, extra...)
	req := control.CreateContainerRequest{ID: id, RootGoferFD: 0, LogFD: 1, Process: proc, Mounts: mounts}
	p.mustCall(control.MethodCreateContainer, req, fds, nil)
	return logPath
}

func (p *testPod) wait(id string) control.WaitResult {
	p.t.Helper()
	var r control.WaitResult
	p.mustCall(control.MethodWait, control.ContainerRequest{ID: id}, nil, &r)
	return r
}

func noStdio(args ...string) control.Process {
	return control.Process{Args: args, Stdin: -1, Stdout: -1, Stderr: -1}
}

type logRecord struct {
	time    time.Time
	stream  string
	full    bool
	content string
}

var recordRE = regexp.MustCompile(`^(\S+) (stdout|stderr) ([FP]) (.*)$`)

// readLog parses a CRI log file, failing on any malformed record.
func readLog(t *testing.T, path string) []logRecord {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []logRecord
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if line == "" {
			continue
		}
		if !strings.HasSuffix(line, "\n") {
			t.Fatalf("log record without a newline: %q", line)
		}
		m := recordRE.FindStringSubmatch(strings.TrimSuffix(line, "\n"))
		if m == nil {
			t.Fatalf("malformed log record %q", line)
		}
		ts, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			t.Fatalf("log timestamp %q: %v", m[1], err)
		}
		recs = append(recs, logRecord{ts, m[2], m[3] == "F", m[4]})
	}
	return recs
}

// lines joins a stream's records back into lines.
func lines(recs []logRecord, stream string) []string {
	var out []string
	cur := ""
	for _, r := range recs {
		if r.stream != stream {
			continue
		}
		cur += r.content
		if r.full {
			out = append(out, cur)
			cur = ""
		}
	}
	return out
}

// TestPodLogsAndExit runs two containers at once: one writes a CRI log
// (short lines on both streams, a 40000-byte line, an unterminated last
// line) and exits 3; the other sleeps until it is removed.
func TestPodLogsAndExit(t *testing.T) {
	p := startPod(t)
	p.create("sleeper", noStdio("sleep", "1000"), nil, nil)
	p.mustCall(control.MethodStartContainer, control.ContainerRequest{ID: "sleeper"}, nil, nil)
	logPath := p.create("logger", noStdio("sh", "-c",
		`echo out1; echo err1 >&2; head -c 40000 /dev/zero | tr '\0' a; echo; printf partial; exit 3`), nil, nil)
	p.mustCall(control.MethodStartContainer, control.ContainerRequest{ID: "logger"}, nil, nil)
	if r := p.wait("logger"); r.ExitCode != 3 || r.Signaled || r.FinishedAt == 0 {
		t.Fatalf("logger: wait = %+v, want exit 3", r)
	}
	// Wait again: an exited container answers at once.
	if r := p.wait("logger"); r.ExitCode != 3 {
		t.Fatalf("second wait = %+v", r)
	}
	// The log goroutines may still be flushing the final records.
	var recs []logRecord
	for i := 0; i < 100; i++ {
		recs = readLog(t, logPath)
		if out := lines(recs, "stdout"); len(out) == 3 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	out := lines(recs, "stdout")
	if len(out) != 3 || out[0] != "out1" || out[1] != strings.Repeat("a", 40000) || out[2] != "partial" {
		t.Fatalf("stdout lines: %d, %q...", len(out), out)
	}
	if e := lines(recs, "stderr"); len(e) != 1 || e[0] != "err1" {
		t.Fatalf("stderr lines %q", e)
	}
	var long []logRecord
	for _, r := range recs {
		if r.stream == "stdout" && strings.HasPrefix(r.content, "aaa") {
			long = append(long, r)
		}
	}
	if len(long) != 3 || long[0].full || long[1].full || !long[2].full ||
		len(long[0].content) != maxLogLine || len(long[1].content) != maxLogLine || len(long[2].content) != 40000-2*maxLogLine {
		t.Fatalf("long line records: %d", len(long))
	}
	var ps control.ProcessesResult
	p.mustCall(control.MethodProcesses, control.ContainerRequest{ID: "sleeper"}, nil, &ps)
	if len(ps.Processes) != 1 || strings.Join(ps.Processes[0].Args, " ") != "sleep 1000" {
		t.Fatalf("sleeper processes: %+v", ps.Processes)
	}
	p.mustCall(control.MethodProcesses, control.ContainerRequest{ID: "logger"}, nil, &ps)
	if len(ps.Processes) != 0 {
		t.Fatalf("exited container's processes: %+v", ps.Processes)
	}
	p.mustCall(control.MethodRemoveContainer, control.ContainerRequest{ID: "logger"}, nil, nil)
	p.mustCall(control.MethodRemoveContainer, control.ContainerRequest{ID: "sleeper"}, nil, nil)
	if err := p.call(control.MethodStats, control.StatsRequest{ID: "sleeper"}, nil, nil); !errors.Is(err, unix.ENOENT) || !strings.Contains(err.Error(), "sleeper") {
		t.Fatalf("stats of a removed container: %v", err)
	}
}

// TestPodExecSignalStats: Exec with pipes and an exit status, memory and
// CPU figures that grow, Signal to init (trapped) and to all.
func TestPodExecSignalStats(t *testing.T) {
	p := startPod(t)
	p.create("app", noStdio("sh", "-c", `trap "exit 42" TERM; while true; do sleep 0.05; done`), nil, nil)
	p.mustCall(control.MethodStartContainer, control.ContainerRequest{ID: "app"}, nil, nil)

	// Exec with stdin/stdout pipes.
	inR, inW, _ := os.Pipe()
	outR, outW, _ := os.Pipe()
	var er control.ExecResult
	p.mustCall(control.MethodExec, control.ExecRequest{ID: "app", Process: control.Process{
		Args: []string{"sh", "-c", "read x; echo got $x; exit 7"}, Env: []string{"PATH=/bin"},
		Stdin: 0, Stdout: 1, Stderr: 1,
	}}, []*os.File{inR, outW}, &er)
	inR.Close()
	outW.Close()
	inW.Write([]byte("ping\n"))
	inW.Close()
	got, _ := io.ReadAll(outR)
	if string(got) != "got ping\n" {
		t.Fatalf("exec output %q", got)
	}
	var wr control.WaitResult
	p.mustCall(control.MethodWaitPID, control.WaitPIDRequest{ID: "app", PID: er.PID}, nil, &wr)
	if wr.ExitCode != 7 {
		t.Fatalf("exec status %+v", wr)
	}
	if err := p.call(control.MethodWaitPID, control.WaitPIDRequest{ID: "app", PID: er.PID}, nil, nil); !errors.Is(err, unix.ECHILD) {
		t.Fatalf("second WaitPID: %v", err)
	}

	var before, after, pod control.StatsResult
	p.mustCall(control.MethodStats, control.StatsRequest{ID: "app"}, nil, &before)
	if before.CPUNanos == 0 || before.MemoryBytes == 0 || before.Processes < 1 {
		t.Fatalf("stats %+v", before)
	}
	// dd holds a 32 MiB buffer it filled while it blocks writing to a pipe
	// nobody reads.
	p.mustCall(control.MethodExec, control.ExecRequest{ID: "app", Process: control.Process{
		Args: []string{"sh", "-c", "dd if=/dev/zero bs=32M count=1 2>/dev/null | sleep 1000"}, Env: []string{"PATH=/bin"},
		Stdin: -1, Stdout: -1, Stderr: -1,
	}}, nil, &er)
	for i := 0; ; i++ {
		p.mustCall(control.MethodStats, control.StatsRequest{ID: "app"}, nil, &after)
		if after.MemoryBytes >= before.MemoryBytes+30<<20 {
			break
		}
		if i == 200 {
			t.Fatalf("memory did not grow: before %+v, after %+v", before, after)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if after.CPUNanos <= before.CPUNanos || after.Processes < 3 {
		t.Fatalf("before %+v, after %+v", before, after)
	}
	p.mustCall(control.MethodStats, control.StatsRequest{}, nil, &pod)
	if pod.MemoryBytes < 32<<20 || pod.MemoryLimit != 1<<30 || pod.CPUNanos < after.CPUNanos {
		t.Fatalf("pod stats %+v", pod)
	}

	// Signal to init: the shell's trap decides the exit code.
	p.mustCall(control.MethodSignal, control.SignalRequest{ID: "app", Signal: int(unix.SIGTERM)}, nil, nil)
	if r := p.wait("app"); r.ExitCode != 42 || r.Signaled {
		t.Fatalf("after SIGTERM to init: %+v", r)
	}
	// init's death took the exec'd dd and sleep with it.
	var ps control.ProcessesResult
	p.mustCall(control.MethodProcesses, control.ContainerRequest{ID: "app"}, nil, &ps)
	if len(ps.Processes) != 0 {
		t.Fatalf("processes left: %+v", ps.Processes)
	}

	// Signal to all: a signal death.
	p.create("all", noStdio("sh", "-c", "sleep 1000 & sleep 1000 & wait"), nil, nil)
	p.mustCall(control.MethodStartContainer, control.ContainerRequest{ID: "all"}, nil, nil)
	for i := 0; ; i++ {
		p.mustCall(control.MethodProcesses, control.ContainerRequest{ID: "all"}, nil, &ps)
		if len(ps.Processes) == 3 {
			break
		}
		if i == 200 {
			t.Fatalf("processes %+v", ps.Processes)
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.mustCall(control.MethodSignal, control.SignalRequest{ID: "all", Signal: int(unix.SIGKILL), All: true}, nil, nil)
	if r := p.wait("all"); !r.Signaled || r.Signal != int(unix.SIGKILL) || r.ExitCode != 137 {
		t.Fatalf("after SIGKILL to all: %+v", r)
	}
}

// TestPodReopenLog renames the log, reopens it and checks the records went
// to each file in turn.
func TestPodReopenLog(t *testing.T) {
	p := startPod(t)
	inR, inW, _ := os.Pipe()
	defer inW.Close()
	proc := noStdio("sh", "-c", "echo one; read x; echo two")
	proc.Stdin = 2
	logPath := p.create("rot", proc, []*os.File{inR}, nil)
	inR.Close()
	p.mustCall(control.MethodStartContainer, control.ContainerRequest{ID: "rot"}, nil, nil)
	for i := 0; len(lines(readLog(t, logPath), "stdout")) == 0; i++ {
		if i == 200 {
			t.Fatal("first line never logged")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	nf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	p.mustCall(control.MethodReopenLog, control.ReopenLogRequest{ID: "rot"}, []*os.File{nf}, nil)
	nf.Close()
	inW.Write([]byte("go\n"))
	if r := p.wait("rot"); r.ExitCode != 0 {
		t.Fatalf("wait %+v", r)
	}
	var newLines []string
	for i := 0; i < 100 && len(newLines) == 0; i++ {
		newLines = lines(readLog(t, logPath), "stdout")
		time.Sleep(10 * time.Millisecond)
	}
	if old := lines(readLog(t, logPath+".1"), "stdout"); len(old) != 1 || old[0] != "one" {
		t.Fatalf("old log %q", old)
	}
	if len(newLines) != 1 || newLines[0] != "two" {
		t.Fatalf("new log %q", newLines)
	}
}

// TestPodBadRequests: errors name the container and carry the errno, and
// the sentry keeps serving.
func TestPodBadRequests(t *testing.T) {
	p := startPod(t)
	cases := []struct {
		method string
		params any
		errno  unix.Errno
		want   string
	}{
		{control.MethodStartContainer, control.ContainerRequest{ID: "ghost"}, unix.ENOENT, "ghost"},
		{control.MethodWait, control.ContainerRequest{ID: "ghost"}, unix.ENOENT, "ghost"},
		{control.MethodStartContainer, "not an object", unix.EINVAL, "bad params"},
		{control.MethodCreateContainer, control.CreateContainerRequest{ID: "nofd", RootGoferFD: 0, LogFD: -1}, unix.EBADF, "nofd"},
		{control.MethodCreateContainer, control.CreateContainerRequest{ID: "../x", RootGoferFD: 0, LogFD: -1}, unix.EINVAL, "invalid id"},
		{"NoSuchMethod", nil, unix.ENOSYS, "NoSuchMethod"},
	}
	for _, c := range cases {
		err := p.call(c.method, c.params, nil, nil)
		if !errors.Is(err, c.errno) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: got %v, want %v mentioning %q", c.method, c.params, err, c.errno, c.want)
		}
	}
	// A binary that does not exist: Start fails with ENOENT.
	p.create("missing", noStdio("/no/such/binary"), nil, nil)
	err := p.call(control.MethodStartContainer, control.ContainerRequest{ID: "missing"}, nil, nil)
	if !errors.Is(err, unix.ENOENT) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("start of a missing binary: %v", err)
	}
	p.create("missing2", noStdio("nosuchcommand"), nil, nil)
	err = p.call(control.MethodStartContainer, control.ContainerRequest{ID: "missing2"}, nil, nil)
	if !errors.Is(err, unix.ENOENT) || !strings.Contains(err.Error(), "PATH") {
		t.Fatalf("start of a command not in PATH: %v", err)
	}
	if err := p.call(control.MethodCreateContainer, control.CreateContainerRequest{ID: "missing", LogFD: -1}, nil, nil); !errors.Is(err, unix.EEXIST) {
		t.Fatalf("create with a taken id: %v", err)
	}
	var ping control.PingResult
	p.mustCall(control.MethodPing, nil, nil, &ping)
	if ping.PID != p.cmd.Process.Pid {
		t.Fatalf("ping %+v", ping)
	}
	p.mustCall(control.MethodRemoveContainer, control.ContainerRequest{ID: "missing"}, nil, nil)
}

// TestPodShutdown: Shutdown ends the sentry with status 0 and leaves no
// host process behind (platform stubs, gofers).
func TestPodShutdown(t *testing.T) {
	p := startPod(t)
	p.create("a", noStdio("sh", "-c", "sleep 1000 & sleep 1000"), nil, nil)
	p.mustCall(control.MethodStartContainer, control.ContainerRequest{ID: "a"}, nil, nil)
	var ps control.ProcessesResult
	for i := 0; len(ps.Processes) < 2; i++ {
		if i == 200 {
			t.Fatalf("processes %+v", ps.Processes)
		}
		time.Sleep(10 * time.Millisecond)
		p.mustCall(control.MethodProcesses, control.ContainerRequest{ID: "a"}, nil, &ps)
	}
	stubs := childrenOf(p.cmd.Process.Pid)
	if len(stubs) == 0 {
		t.Fatal("no stub processes found under the sentry")
	}
	p.mustCall(control.MethodShutdown, nil, nil, nil)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("sentry did not exit after Shutdown")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("sentry exit status %d", code)
	}
	for _, g := range p.gofers {
		done := make(chan error, 1)
		go func() { done <- g.Wait() }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("gofer %d still running", g.Process.Pid)
		}
	}
	p.gofers = nil
	for _, pid := range stubs {
		for i := 0; unix.Kill(pid, 0) == nil; i++ {
			if i == 500 {
				t.Fatalf("stub %d still there", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if _, err := os.Stat(p.sock); !os.IsNotExist(err) {
		t.Fatalf("control socket left behind: %v", err)
	}
}

// childrenOf lists the pids whose parent is pid.
func childrenOf(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		var child int
		if _, err := fmt.Sscanf(e.Name(), "%d", &child); err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		var state string
		var ppid int
		if i < 0 {
			continue
		}
		fmt.Sscanf(s[i+2:], "%s %d", &state, &ppid)
		if ppid == pid {
			out = append(out, child)
		}
	}
	return out
}

// TestPodMounts: a read-only root with missing mount points, a gofer
// directory volume, a single-file bind from another gofer, a tmpfs, and
// the container root as a chroot barrier.
func TestPodMounts(t *testing.T) {
	p := startPod(t)
	vol := filepath.Join(p.dir, "vol")
	files := filepath.Join(p.dir, "files")
	os.MkdirAll(vol, 0o755)
	os.MkdirAll(files, 0o755)
	os.WriteFile(filepath.Join(vol, "data.txt"), []byte("hello vol\n"), 0o644)
	os.WriteFile(filepath.Join(files, "hosts"), []byte("127.0.0.1 testhost\n"), 0o644)
	volG, filesG := p.goferFor(vol), p.goferFor(files)
	defer volG.Close()
	defer filesG.Close()
	outR, outW, _ := os.Pipe()
	rootG := p.startGofer("m")
	script := `cat /data/data.txt; cat /etc/hosts; echo x > /scratch/f && cat /scratch/f
touch /rootfile 2>/dev/null || echo root-ro; echo y 2>/dev/null > /etc/hosts || echo hosts-ro
echo z > /data/new; cd /..; echo "pwd=$(pwd)"; [ "$(ls -a /..)" = "$(ls -a /)" ] && echo barrier-ok
grep -c . /proc/self/mounts >/dev/null && echo mounts-ok; hostname; cat /proc/self/mounts > /data/mounts`
	req := control.CreateContainerRequest{
		ID: "m", RootGoferFD: 0, RootReadOnly: true, LogFD: -1,
		Process: control.Process{Args: []string{"sh", "-c", script}, Env: []string{"PATH=/bin"}, Stdin: -1, Stdout: 1, Stderr: -1},
		Mounts: []control.Mount{
			{Destination: "/data", Type: "bind", GoferFD: 2},
			{Destination: "/etc/hosts", Type: "bind", Source: "hosts", GoferFD: 3, ReadOnly: true},
			{Destination: "/scratch", Type: "tmpfs", GoferFD: -1, Options: []string{"size=1m", "mode=1777", "nosuid"}},
		},
	}
	p.mustCall(control.MethodCreateContainer, req, []*os.File{rootG, outW, volG, filesG}, nil)
	rootG.Close()
	outW.Close()
	p.create("other", noStdio("sleep", "1000"), nil, nil)
	p.mustCall(control.MethodStartContainer, control.ContainerRequest{ID: "m"}, nil, nil)
	got, _ := io.ReadAll(outR)
	want := "hello vol\n127.0.0.1 testhost\nx\nroot-ro\nhosts-ro\npwd=/\nbarrier-ok\nmounts-ok\ntestpod\n"
	if string(got) != want {
		t.Fatalf("output:\n%s\nwant:\n%s", got, want)
	}
	if r := p.wait("m"); r.ExitCode != 0 {
		t.Fatalf("wait %+v", r)
	}
	mounts, _ := os.ReadFile(filepath.Join(vol, "mounts"))
	t.Logf("/proc/self/mounts in the container:\n%s", mounts)
	for _, m := range []string{" / ", " /data ", " /etc/hosts ", " /scratch tmpfs ", " /proc proc ", " /dev/shm "} {
		if !strings.Contains(string(mounts), m) {
			t.Errorf("/proc/self/mounts lacks %q", m)
		}
	}
	if b, err := os.ReadFile(filepath.Join(vol, "new")); err != nil || string(b) != "z\n" {
		t.Fatalf("volume write: %q %v", b, err)
	}
	// The mount points were made in the (host) rootfs, as runc does.
	for _, name := range []string{"data", "scratch", "etc/hosts"} {
		if _, err := os.Stat(filepath.Join(p.rootfss["m"], name)); err != nil {
			t.Errorf("mount point %s: %v", name, err)
		}
	}
	p.mustCall(control.MethodRemoveContainer, control.ContainerRequest{ID: "m"}, nil, nil)
}

// TestPodTerminal: a container on a host pty gets it as /dev/tty, and
// Resize changes its size and sends SIGWINCH.
func TestPodTerminal(t *testing.T) {
	p := startPod(t)
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skip("no /dev/ptmx:", err)
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	proc := control.Process{
		Args:     []string{"sh", "-c", `trap 'stty size; exit 5' WINCH; echo via-devtty > /dev/tty; echo ready; while true; do sleep 0.05; done`},
		Terminal: true, Stdin: 2, Stdout: 2, Stderr: 2,
	}
	p.create("tty", proc, []*os.File{slave}, nil)
	slave.Close()
	p.mustCall(control.MethodStartContainer, control.ContainerRequest{ID: "tty"}, nil, nil)
	outCh := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			if n > 0 {
				outCh <- string(buf[:n])
			}
			if err != nil {
				close(outCh)
				return
			}
		}
	}()
	out := ""
	expect := func(s string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for !strings.Contains(out, s) {
			select {
			case chunk, ok := <-outCh:
				if !ok {
					t.Fatalf("terminal closed; output %q, want %q", out, s)
				}
				out += chunk
			case <-deadline:
				t.Fatalf("terminal output %q, want %q", out, s)
			}
		}
	}
	expect("ready")
	if !strings.Contains(out, "via-devtty") {
		t.Fatalf("/dev/tty did not reach the terminal: %q", out)
	}
	p.mustCall(control.MethodResize, control.ResizeRequest{ID: "tty", Width: 100, Height: 40}, nil, nil)
	expect("40 100")
	if r := p.wait("tty"); r.ExitCode != 5 {
		t.Fatalf("wait %+v", r)
	}
}
