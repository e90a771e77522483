package cri

import (
	"path/filepath"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// limitedConfig is a container running script with a memory limit.
func limitedConfig(name, image string, limit int64, script string) *runtimeapi.ContainerConfig {
	c := ctrConfig(name, image)
	c.Command = []string{"/bin/busybox", "sh", "-c", script}
	c.Linux = &runtimeapi.LinuxContainerConfig{Resources: &runtimeapi.LinuxContainerResources{
		MemoryLimitInBytes: limit, MemorySwapLimitInBytes: limit,
	}}
	return c
}

// TestContainerOOM is critest's "Container OOM" spec and more: a container
// whose dd reads 20 MiB blocks under a 15 MiB limit exits with code 137 and
// reason OOMKilled (kept across a daemon restart), a container of the same
// pod without a limit keeps running, ContainerStats reports the memory
// charged to a container against its limit, and UpdateContainerResources
// raising the limit of a running container lets the same dd through.
func TestContainerOOM(t *testing.T) {
	e := newPodEnv(t)
	root := filepath.Join(t.TempDir(), "root")
	d := startPodDaemon(t, root, e.certs)
	d.pull(t, e.image)
	ctx := ctxT(t)
	pcfg := podConfigFor("oom", t.TempDir())
	podID := d.runPod(t, pcfg)

	idle := d.createStart(t, podID, pcfg, limitedConfig("idle", e.image, 0, "sleep 1000"))
	oom := d.createStart(t, podID, pcfg, limitedConfig("oom", e.image, 15<<20, "busybox dd if=/dev/zero of=/dev/null bs=20M"))
	start := time.Now()
	st := d.waitExited(t, oom)
	if st.ExitCode != 137 || st.Reason != "OOMKilled" {
		t.Fatalf("container over its limit: exit code %d reason %q, want 137 OOMKilled", st.ExitCode, st.Reason)
	}
	t.Logf("OOMKilled after %v", time.Since(start))
	if st := d.ctrStatus(t, idle); st.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Fatalf("the other container: %v", st.State)
	}

	// Stats: what the container is charged, against its limit.
	held := d.createStart(t, podID, pcfg, limitedConfig("held", e.image, 64<<20,
		"busybox dd if=/dev/zero bs=24M count=1 2>/dev/null | sleep 1000"))
	var mem *runtimeapi.MemoryUsage
	for i := 0; ; i++ {
		cs, err := d.rt.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: held})
		if err != nil {
			t.Fatal(err)
		}
		mem = cs.Stats.GetMemory()
		if mem.GetWorkingSetBytes().GetValue() >= 24<<20 {
			break
		}
		if i == 200 {
			t.Fatalf("working set never reached 24 MiB: %v", mem)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ws, av := mem.GetWorkingSetBytes().GetValue(), mem.GetAvailableBytes().GetValue(); ws > 40<<20 || ws+av != 64<<20 {
		t.Errorf("stats against a 64 MiB limit: working set %d, available %d", ws, av)
	}

	// Raising the limit of a running container.
	raised := d.createStart(t, podID, pcfg, limitedConfig("raised", e.image, 15<<20,
		"sleep 2; busybox dd if=/dev/zero of=/dev/null bs=20M count=2"))
	if _, err := d.rt.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: raised,
		Linux: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 64 << 20}}); err != nil {
		t.Fatalf("UpdateContainerResources: %v", err)
	}
	if st := d.waitExited(t, raised); st.ExitCode != 0 || st.Reason != "Completed" {
		t.Fatalf("container whose limit was raised: exit code %d reason %q", st.ExitCode, st.Reason)
	}
	if l := d.ctrStatus(t, raised).GetResources().GetLinux().GetMemoryLimitInBytes(); l != 64<<20 {
		t.Errorf("status resources after the update: memory limit %d", l)
	}

	// The reason survives a daemon restart.
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	d2 := startPodDaemon(t, root, e.certs)
	if st := d2.ctrStatus(t, oom); st.ExitCode != 137 || st.Reason != "OOMKilled" {
		t.Fatalf("after a daemon restart: exit code %d reason %q", st.ExitCode, st.Reason)
	}
	if st := d2.ctrStatus(t, idle); st.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Fatalf("the other container after the restart: %v", st.State)
	}
}
