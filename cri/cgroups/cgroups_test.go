package cgroups

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestExpand(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"/kubepods/burstable/pod123", "/kubepods/burstable/pod123"},
		{"kubepods/pod1", "kubepods/pod1"},
		{"-.slice", "/"},
		{"kubepods.slice", "/kubepods.slice"},
		{"kubepods-burstable-pod12_34.slice", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12_34.slice"},
	} {
		got, err := Expand(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"a--b.slice", "-a.slice", "a-.slice", "/x/../y"} {
		if got, err := Expand(bad); err == nil {
			t.Errorf("Expand(%q) = %q, want an error", bad, got)
		}
	}
	if p, _ := PodPath("kubepods-pod1.slice", "abc"); p != "/kubepods.slice/kubepods-pod1.slice/runsc-abc" {
		t.Errorf("PodPath = %q", p)
	}
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestV1FakeFS(t *testing.T) {
	root := t.TempDir()
	for _, c := range []string{"cpu", "cpuacct", "memory", "pids"} {
		os.MkdirAll(filepath.Join(root, c), 0o755)
	}
	self := []byte("4:memory:/process_api/x\n2:cpuacct:/\n1:cpu:/\n8:pids:/\n0::/\n")
	h, err := Detect(root, self)
	if err != nil || h.V2 {
		t.Fatalf("Detect = %+v, %v; want v1", h, err)
	}
	cg, err := h.Create("kubepods/pod1/runsc-a")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "memory/process_api/x/kubepods/pod1/runsc-a"); cg.Dirs["memory"] != want {
		t.Errorf("memory dir %q, want %q", cg.Dirs["memory"], want)
	}
	if err := cg.Set(Limits{CPUQuota: 20000, CPUShares: 512, MemoryBytes: 1 << 30, Pids: 4096}); err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]string{
		"cpu/kubepods/pod1/runsc-a/cpu.cfs_quota_us":                       "20000",
		"cpu/kubepods/pod1/runsc-a/cpu.cfs_period_us":                      "100000",
		"cpu/kubepods/pod1/runsc-a/cpu.shares":                             "512",
		"memory/process_api/x/kubepods/pod1/runsc-a/memory.limit_in_bytes": "1073741824",
		"pids/kubepods/pod1/runsc-a/pids.max":                              "4096",
	} {
		if got := read(t, filepath.Join(root, f)); got != want {
			t.Errorf("%s = %q, want %q", f, got, want)
		}
	}
	os.WriteFile(filepath.Join(cg.Dirs["cpuacct"], "cpuacct.usage"), []byte("12345\n"), 0o644)
	if n, err := cg.CPUUsageNanos(); err != nil || n != 12345 {
		t.Errorf("CPUUsageNanos = %d, %v", n, err)
	}
	if re := h.Open("kubepods/pod1/runsc-a"); len(re.Dirs) != 4 {
		t.Errorf("Open found %v", re.Dirs)
	}
}

func TestV2FakeFS(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpu memory pids"), 0o644)
	h, err := Detect(root, []byte("0::/daemon\n"))
	if err != nil || !h.V2 {
		t.Fatalf("Detect = %+v, %v; want v2", h, err)
	}
	cg, err := h.Create("/kubepods.slice/runsc-b")
	if err != nil {
		t.Fatal(err)
	}
	d := filepath.Join(root, "kubepods.slice/runsc-b")
	if cg.Dirs[""] != d {
		t.Fatalf("dir %q want %q", cg.Dirs[""], d)
	}
	if err := cg.Set(Limits{CPUQuota: 50000, CPUPeriod: 100000, CPUShares: 1024, MemoryBytes: 100 << 20, Pids: 100}); err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]string{"cpu.max": "50000 100000", "cpu.weight": "39", "memory.max": "104857600", "pids.max": "100"} {
		if got := read(t, filepath.Join(d, f)); got != want {
			t.Errorf("%s = %q, want %q", f, got, want)
		}
	}
	os.WriteFile(filepath.Join(d, "cpu.stat"), []byte("usage_usec 7\nuser_usec 5\n"), 0o644)
	if n, _ := cg.CPUUsageNanos(); n != 7000 {
		t.Errorf("usage %d", n)
	}
	// Remove of a fake dir with files fails; of an empty one succeeds.
	for _, f := range []string{"cpu.max", "cpu.weight", "memory.max", "pids.max", "cpu.stat"} {
		os.Remove(filepath.Join(d, f))
	}
	if err := cg.Remove(time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d); !os.IsNotExist(err) {
		t.Errorf("dir still there: %v", err)
	}
}

// TestRealV1 creates a cgroup under the real hierarchy (only under its own test path), moves a
// child into it and checks /proc/<pid>/cgroup.
func TestRealV1(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	h, err := Detect("", nil)
	if err != nil {
		t.Skip(err)
	}
	cg, err := h.Create("runsc-cri-unittest/runsc-t")
	if err != nil {
		t.Skipf("cgroups not writable: %v", err)
	}
	defer func() {
		cg.Remove(5 * time.Second)
		h.Open("runsc-cri-unittest").Remove(time.Second)
	}()
	if err := cg.Set(Limits{CPUQuota: 20000, MemoryBytes: 256 << 20, Pids: 64}); err != nil {
		t.Fatal(err)
	}
	p, err := os.StartProcess("/bin/sleep", []string{"sleep", "5"}, &os.ProcAttr{})
	if err != nil {
		t.Skip(err)
	}
	defer p.Wait()
	defer p.Kill()
	if err := cg.AddPid(p.Pid); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile("/proc/" + itoa(p.Pid) + "/cgroup")
	if !strings.Contains(string(b), "runsc-cri-unittest/runsc-t") {
		t.Errorf("/proc/pid/cgroup = %s", b)
	}
	pids, _ := cg.Pids()
	if len(pids) != 1 || pids[0] != p.Pid {
		t.Errorf("Pids = %v, want [%d]", pids, p.Pid)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
