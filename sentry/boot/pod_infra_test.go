package boot

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runsc-cri/runsc-cri/sentry/control"
)

// TestInfraProgramRunsNatively: the infra program is a valid executable
// for the host kernel too: it starts, ignores SIGCHLD and sleeps until
// killed (never exits or faults by itself).
func TestInfraProgramRunsNatively(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pause")
	if err := os.WriteFile(path, infraProgram(), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path)
	if err := cmd.Start(); err != nil {
		t.Fatalf("the host refuses the program: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/status")
		if err != nil {
			t.Fatal(err)
		}
		// SigIgn has SIGCHLD's bit (16 counting from 0; other bits may be
		// inherited from the test's parent) once rt_sigaction ran; then it
		// sleeps in pause.
		if sigIgnored(string(st), syscall.SIGCHLD) && strings.Contains(string(st), "State:\tS") {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the program ended by itself: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not sleeping with SIGCHLD ignored:\n%s", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	err := <-done
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Fatalf("want death by SIGTERM, got %v", err)
	}
}

// sigIgnored reports whether a /proc/PID/status text has sig in SigIgn.
func sigIgnored(status string, sig syscall.Signal) bool {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, "SigIgn:\t"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && mask&(1<<(uint(sig)-1)) != 0
		}
	}
	return false
}

// TestPodInfraInit: a pod with InfraInit has the infra process as PID 1;
// every container sees it (and the others' processes); an orphan is
// adopted by it and reaped (no zombie is left); signals from the pod do
// not kill it.
func TestPodInfraInit(t *testing.T) {
	p := startPodSpec(t, PodSpec{MemoryLimit: 1 << 30, Hostname: "infrapod", InfraInit: true})
	p.create("a", noStdio("sleep", "1000"), nil, nil)
	p.mustCall(control.MethodStartContainer, control.ContainerRequest{ID: "a"}, nil, nil)
	logPath := p.create("b", noStdio("sh", "-c", `
tr -d "\\000" < /proc/1/cmdline; echo
echo "self is not 1: $([ $$ != 1 ] && echo yes)"
ps -o pid,comm | grep -c sleep
(sleep 0.3 & echo "orphan $!") ; sleep 1
echo "zombies: $(grep -l '^State:.Z' /proc/[0-9]*/status 2>/dev/null | wc -l)"
kill -9 1; kill -TERM 1; sleep 0.2
tr -d "\\000" < /proc/1/cmdline; echo
`), nil, nil)
	p.mustCall(control.MethodStartContainer, control.ContainerRequest{ID: "b"}, nil, nil)
	if r := p.wait("b"); r.ExitCode != 0 {
		t.Fatalf("container b: %+v", r)
	}
	var out []string
	for i := 0; i < 100; i++ {
		if out = lines(readLog(t, logPath), "stdout"); len(out) >= 6 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	want := []string{"/pause", "self is not 1: yes", "1"}
	if len(out) < 6 || out[0] != want[0] || out[1] != want[1] || out[2] != want[2] ||
		!strings.HasPrefix(out[3], "orphan ") || out[4] != "zombies: 0" || out[5] != "/pause" {
		t.Fatalf("container b's view: %q, want %q, an orphan line, no zombies, and /pause still PID 1", out, want)
	}
}
