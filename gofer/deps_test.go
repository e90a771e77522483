package gofer_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps checks the import direction: the gofer and its client never
// import the sentry, gVisor, gRPC, containerd or k8s.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/runsc-cri/runsc-cri/gofer/...").CombinedOutput()
	if err != nil {
		t.Skipf("go list unavailable: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		for _, bad := range []string{"/sentry", "gvisor.dev/", "google.golang.org/grpc", "containerd", "k8s.io/"} {
			if strings.Contains(p, bad) {
				t.Errorf("gofer depends on %s", p)
			}
		}
	}
}
