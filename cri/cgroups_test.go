package cri

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/cgroups"
)

// cgroupTestParent is a relative cgroup_parent (under the test process's own cgroups, so
// nothing outside it is touched), or skips when the host has no writable cpu/memory/pids.
func cgroupTestParent(t *testing.T) (*cgroups.Hierarchy, string) {
	t.Helper()
	h, err := cgroups.Detect("", nil)
	if err != nil {
		t.Skipf("no host cgroups: %v", err)
	}
	parent := fmt.Sprintf("runsc-cri-test-%d", os.Getpid())
	cg, err := h.Create(parent)
	if err != nil {
		t.Skipf("cgroups not writable here: %v", err)
	}
	if len(cg.Skipped) != 0 {
		cg.Remove(time.Second)
		t.Skipf("cgroup controllers not writable here: %v", cg.Skipped)
	}
	t.Cleanup(func() { h.Open(parent).Remove(5 * time.Second) })
	return h, parent
}

func procCgroupHas(pid int, path string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	return err == nil && strings.Contains(string(b), path)
}

func readTrim(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestPodCgroup: a pod with a cgroup_parent has its sentry (and the sentry's children)
// in <parent>/runsc-<id> with the configured limits; a CPU-burning container under a
// 0.2 CPU quota stays near 0.2 CPU; UpdatePodSandboxResources rewrites the limits; a
// daemon restart keeps the cgroup and RemovePodSandbox deletes it.
func TestPodCgroup(t *testing.T) {
	e := newPodEnv(t)
	h, parent := cgroupTestParent(t)
	if h.V2 {
		t.Skip("the file checks below are cgroup v1's (this host is v1)")
	}
	root := filepath.Join(t.TempDir(), "root")
	d := startPodDaemon(t, root, e.certs)
	d.pull(t, e.image)
	pcfg := podConfigFor("cg", t.TempDir())
	pcfg.Linux.CgroupParent = parent
	pcfg.Linux.Resources = &runtimeapi.LinuxContainerResources{CpuQuota: 20000, CpuPeriod: 100000, CpuShares: 512, MemoryLimitInBytes: 512 << 20}
	id := d.runPod(t, pcfg)
	path := parent + "/runsc-" + id
	cg := h.Open(path)
	if len(cg.Dirs) != 4 {
		t.Fatalf("pod cgroup dirs %v", cg.Dirs)
	}
	p, err := d.srv.store.Pod(id)
	if err != nil || p.Cgroup != path {
		t.Fatalf("pod record cgroup %q (%v), want %q", p.Cgroup, err, path)
	}
	if !procCgroupHas(p.SentryPID, path) {
		t.Errorf("sentry %d not in %s", p.SentryPID, path)
	}
	for f, want := range map[string]string{
		"cpu/cpu.cfs_quota_us": "20000", "cpu/cpu.cfs_period_us": "100000", "cpu/cpu.shares": "512",
		"memory/memory.limit_in_bytes": strconv.Itoa(512<<20 + podSentryOverhead), "pids/pids.max": strconv.Itoa(podPidsMax),
	} {
		ctrl, file, _ := strings.Cut(f, "/")
		if got := readTrim(t, filepath.Join(cg.Dirs[ctrl], file)); got != want {
			t.Errorf("%s = %s, want %s", f, got, want)
		}
	}

	burn := d.createStart(t, id, pcfg, ctrConfig("burn", e.image, "while :; do :; done"))
	if c, err := d.srv.store.Container(burn); err != nil || !procCgroupHas(c.GoferPID, path) {
		t.Errorf("the container's gofer (%v) is not in %s", err, path)
	}
	time.Sleep(300 * time.Millisecond)
	pids, _ := cg.Pids()
	for _, pid := range pids {
		if !procCgroupHas(pid, path) {
			t.Errorf("pid %d listed but not in %s", pid, path)
		}
	}
	if len(pids) < 2 {
		t.Errorf("pod cgroup holds %v: want the sentry and its stub processes", pids)
	}
	u0, err := cg.CPUUsageNanos()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	time.Sleep(1500 * time.Millisecond)
	u1, _ := cg.CPUUsageNanos()
	cpus := float64(u1-u0) / float64(time.Since(t0).Nanoseconds())
	t.Logf("pod CPU under a 0.2 quota: %.2f", cpus)
	if cpus > 0.6 || cpus < 0.02 {
		t.Errorf("pod used %.2f CPUs under a 0.2 CPU quota", cpus)
	}

	ps, err := d.rt.PodSandboxStats(ctxT(t), &runtimeapi.PodSandboxStatsRequest{PodSandboxId: id})
	if err != nil {
		t.Fatal(err)
	}
	if got := ps.Stats.Linux.Cpu.UsageCoreNanoSeconds.GetValue(); got < u1 {
		t.Errorf("PodSandboxStats CPU %d ns, less than the pod cgroup's %d ns", got, u1)
	}

	if _, err := d.rt.UpdatePodSandboxResources(ctxT(t), &runtimeapi.UpdatePodSandboxResourcesRequest{PodSandboxId: id,
		Resources: &runtimeapi.LinuxContainerResources{CpuQuota: 50000, CpuPeriod: 100000, CpuShares: 256}}); err != nil {
		t.Fatal(err)
	}
	if q, s := readTrim(t, filepath.Join(cg.Dirs["cpu"], "cpu.cfs_quota_us")), readTrim(t, filepath.Join(cg.Dirs["cpu"], "cpu.shares")); q != "50000" || s != "256" {
		t.Errorf("after update: quota %s shares %s", q, s)
	}

	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	d2 := startPodDaemon(t, root, e.certs)
	if p2, err := d2.srv.store.Pod(id); err != nil || p2.Cgroup != path || !procCgroupHas(p2.SentryPID, path) {
		t.Errorf("after restart: %+v %v", p2, err)
	}
	if _, err := d2.rt.RemovePodSandbox(ctxT(t), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatal(err)
	}
	for c, dir := range cg.Dirs {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s cgroup left after RemovePodSandbox: %v", c, err)
		}
	}
}

// TestPodCgroupRollback: a RunPodSandbox failing after the cgroup is made (and after the
// sentry moved in) leaves no cgroup.
func TestPodCgroupRollback(t *testing.T) {
	e := newPodEnv(t)
	h, parent := cgroupTestParent(t)
	f := &faults{}
	root := filepath.Join(t.TempDir(), "root")
	d := startPodDaemon(t, root, e.certs, withFaults(f.inject))
	pcfg := podConfigFor("cgrb", t.TempDir())
	pcfg.Linux.CgroupParent = parent
	for _, step := range []string{"pod:cgroup", "pod:sentry", "pod:ready"} {
		f.set(step)
		if _, err := d.rt.RunPodSandbox(ctxT(t), &runtimeapi.RunPodSandboxRequest{Config: pcfg}); err == nil {
			t.Fatalf("%s: RunPodSandbox succeeded", step)
		}
		for c, dir := range h.Open(parent).Dirs {
			ents, _ := os.ReadDir(dir)
			for _, en := range ents {
				if en.IsDir() {
					t.Errorf("%s: %s cgroup left: %s", step, c, en.Name())
				}
			}
		}
	}
}
