package gofer_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps checks the import direction: the gofer and its client never
// import the sentry, gVisor, gRPC, containerd or k8s (gVisor's
// pkg/seccomp and what it needs come only through the project's seccomp
// package, the gofer's host filter, which DESIGN.md allows).
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/runsc-cri/runsc-cri/gofer/...").CombinedOutput()
	if err != nil {
		t.Skipf("go list unavailable: %v\n%s", err, out)
	}
	sec, err := exec.Command("go", "list", "-deps", "github.com/runsc-cri/runsc-cri/seccomp").CombinedOutput()
	if err != nil {
		t.Skipf("go list unavailable: %v\n%s", err, sec)
	}
	viaSeccomp := map[string]bool{}
	for _, p := range strings.Fields(string(sec)) {
		viaSeccomp[p] = strings.HasPrefix(p, "gvisor.dev/")
	}
	for _, p := range strings.Fields(string(out)) {
		if viaSeccomp[p] {
			continue
		}
		for _, bad := range []string{"/sentry", "gvisor.dev/", "google.golang.org/grpc", "containerd", "k8s.io/"} {
			if strings.Contains(p, bad) {
				t.Errorf("gofer depends on %s", p)
			}
		}
	}
}
