package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHostSeccomp runs `do` with RUNSC_CRI_HOST_SECCOMP=on and checks,
// while the sandbox runs, that the sentry and its gofer are confined by
// a seccomp filter (Seccomp: 2, Seccomp_filters >= 1 in their
// /proc/PID/status), and that the confined sandbox still works.
func TestHostSeccomp(t *testing.T) {
	requireSandbox(t, true)
	cmd := exec.Command(env.runsc, "do", "--", "/bin/sh", "-c", "echo started; read x; echo done")
	cmd.Env = append(os.Environ(), "RUNSC_CRI_HOST_SECCOMP=on")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	buf := make([]byte, 8)
	if n, err := out.Read(buf); err != nil || string(buf[:n]) != "started\n" {
		t.Fatalf("sandbox did not start: %q %v", buf[:n], err)
	}
	sentry := cmd.Process.Pid
	gofer := -1
	deadline := time.Now().Add(5 * time.Second)
	for gofer < 0 && time.Now().Before(deadline) {
		ents, _ := filepath.Glob("/proc/[0-9]*/stat")
		for _, e := range ents {
			b, err := os.ReadFile(e)
			if err != nil {
				continue
			}
			f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(e)))
			if len(f) > 1 && f[1] == strconv.Itoa(sentry) {
				c, _ := os.ReadFile(filepath.Join(filepath.Dir(e), "cmdline"))
				if strings.Contains(string(c), "gofer") {
					gofer = pid
				}
			}
		}
	}
	if gofer < 0 {
		t.Fatal("no gofer child of the sentry found")
	}
	for name, pid := range map[string]int{"sentry": sentry, "gofer": gofer} {
		st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		if err != nil {
			t.Fatal(err)
		}
		s := string(st)
		if !strings.Contains(s, "Seccomp:\t2\n") {
			t.Errorf("%s (pid %d) is not in seccomp filter mode:\n%s", name, pid, s)
		}
		if strings.Contains(s, "Seccomp_filters:\t0\n") || !strings.Contains(s, "Seccomp_filters:") {
			t.Errorf("%s (pid %d) has no seccomp filter", name, pid)
		}
	}
	in.Write([]byte("x\n"))
	rest := make([]byte, 16)
	n, _ := out.Read(rest)
	if err := cmd.Wait(); err != nil || string(rest[:n]) != "done\n" {
		t.Errorf("confined sandbox: %q, %v", rest[:n], err)
	}
}
