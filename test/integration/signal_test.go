package integration

import (
	"bufio"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSignalForwarding sends SIGTERM to `runsc-cri do` and checks that the
// sandbox's init gets it: its handler runs and its exit status comes back.
// Then SIGTERM again to an init without a handler: do exits 128+15.
func TestSignalForwarding(t *testing.T) {
	requireSandbox(t, false)
	cases := []struct {
		name, script, wantOut string
		wantCode              int
	}{
		{"handled", `trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.05; done`, "got TERM", 7},
		{"default", `echo ready; exec sleep 30`, "", 128 + 15},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			argv := sandboxArgv(sandboxOpts{rootfs: env.rootfs}, "/bin/sh", "-c", c.script)
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Env = baseEnv
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			r := bufio.NewReader(out)
			ready := make(chan error, 1)
			go func() {
				line, err := r.ReadString('\n')
				if err == nil && line != "ready\n" {
					err = fmt.Errorf("first line %q, want \"ready\"", line)
				}
				ready <- err
			}()
			select {
			case err := <-ready:
				if err != nil {
					t.Fatalf("sandbox did not start: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("sandbox did not print ready")
			}
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			rest := make(chan string, 1)
			go func() {
				var b strings.Builder
				s := bufio.NewScanner(r)
				for s.Scan() {
					b.WriteString(s.Text())
				}
				rest <- b.String()
			}()
			var got string
			select {
			case got = <-rest:
			case <-time.After(20 * time.Second):
				t.Fatal("sandbox did not end after SIGTERM")
			}
			err = cmd.Wait()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if got != c.wantOut || code != c.wantCode {
				t.Fatalf("after SIGTERM: output %q, exit %d; want %q, exit %d", got, code, c.wantOut, c.wantCode)
			}
		})
	}
}
