package deptest

import (
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func moduleRoot(t *testing.T) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot find this file's path")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// TestImportDirection checks the real tree.
func TestImportDirection(t *testing.T) {
	pkgs, note, err := Load(moduleRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	if note != "" {
		t.Log(note)
	}
	t.Logf("checked %d packages", len(pkgs))
	for _, v := range Check(pkgs) {
		t.Errorf("forbidden import: %s", v)
	}
}

// TestImportDirectionWalkMatchesGoList makes sure the fallback enumerates
// the same packages as go list.
func TestImportDirectionWalkMatchesGoList(t *testing.T) {
	root := moduleRoot(t)
	listed, err := goList(root)
	if err != nil {
		t.Skipf("go list unusable right now: %v", err)
	}
	walked, err := walk(root)
	if err != nil {
		t.Fatal(err)
	}
	for rel := range listed {
		if _, ok := walked[rel]; !ok {
			t.Errorf("walk missed package %q", rel)
		}
	}
}

func pkg(rel string, imports ...string) *Package {
	p := &Package{Rel: rel, Imports: map[string]string{}, TestImports: map[string]string{}}
	for _, imp := range imports {
		if rest, ok := strings.CutPrefix(imp, "test:"); ok {
			p.TestImports[rest] = "x_test.go"
			continue
		}
		p.Imports[imp] = "x.go"
	}
	return p
}

// TestCheckRules checks that every rule catches what it should and lets
// through what it should, on made-up trees.
func TestCheckRules(t *testing.T) {
	const m = Module + "/"
	for _, tc := range []struct {
		name string
		pkgs []*Package
		want []string // substrings of the violations, in order; none if empty
	}{
		{"clean", []*Package{
			pkg("sentry/kernel", m+"sentry/arch", "golang.org/x/sys/unix", "gvisor.dev/gvisor/pkg/abi/linux"),
			pkg("sentry/arch"),
			pkg("platform", m+"sentry/arch"),
			pkg("platform/ptrace", m+"platform", m+"sentry/arch", "test:"+m+"sentry/memfile"),
			pkg("sentry/socket/netstack", "gvisor.dev/gvisor/pkg/tcpip/stack", "gvisor.dev/gvisor/pkg/tcpip"),
			pkg("seccomp", "gvisor.dev/gvisor/pkg/seccomp", "gvisor.dev/gvisor/pkg/bpf"),
			pkg("cri", "google.golang.org/grpc", "k8s.io/cri-api/pkg/apis/runtime/v1", m+"sentry/control"),
			pkg("gofer", "gvisor.dev/gvisor/pkg/abi/linux/errno"),
		}, nil},
		{"grpc in sentry", []*Package{pkg("sentry/control", "google.golang.org/grpc/codes")},
			[]string{"sentry/control imports google.golang.org/grpc/codes [x.go]: nothing under sentry/"}},
		{"containerd in gofer test", []*Package{pkg("gofer", "test:github.com/containerd/containerd/v2/core/mount")},
			[]string{"gofer imports github.com/containerd/containerd/v2/core/mount [x_test.go]"}},
		{"k8s through our own package", []*Package{
			pkg("sentry/boot", m+"internal/logs"),
			pkg("internal/logs", "k8s.io/klog/v2"),
		}, []string{"sentry/boot imports k8s.io/klog/v2 (via internal/logs) [x.go]"}},
		{"gofer reaches sentry", []*Package{
			pkg("gofer", m+"internal/p9"),
			pkg("internal/p9", m+"sentry/vfs"),
			pkg("sentry/vfs"),
		}, []string{"gofer imports " + m + "sentry/vfs (via internal/p9) [x.go]: gofer/ must never import sentry/"}},
		{"platform reaches kernel", []*Package{
			pkg("platform/kvm", m+"sentry/kernel"),
			pkg("sentry/kernel", m+"sentry/arch"),
		}, []string{"platform/kvm imports " + m + "sentry/kernel [x.go]: platform/ may import"}},
		{"gvisor sentry anywhere", []*Package{
			pkg("cmd/runsc-cri", "gvisor.dev/gvisor/runsc/boot"),
			pkg("sentry/mm", "test:gvisor.dev/gvisor/pkg/sentry/mm"),
			pkg("platform/kvm", "gvisor.dev/gvisor/pkg/ring0"),
			pkg("gofer", "gvisor.dev/gvisor/pkg/lisafs"),
		}, []string{
			"cmd/runsc-cri imports gvisor.dev/gvisor/runsc/boot",
			"gofer imports gvisor.dev/gvisor/pkg/lisafs",
			"platform/kvm imports gvisor.dev/gvisor/pkg/ring0",
			"sentry/mm imports gvisor.dev/gvisor/pkg/sentry/mm [x_test.go]",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkgs := map[string]*Package{}
			for _, p := range tc.pkgs {
				pkgs[p.Rel] = p
			}
			got := Check(pkgs)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d violations, want %d:\n%v", len(got), len(tc.want), got)
			}
			for i, v := range got {
				if !strings.Contains(v.String(), tc.want[i]) {
					t.Errorf("violation %d = %q, want it to contain %q", i, v, tc.want[i])
				}
			}
		})
	}
}
