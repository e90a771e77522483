package boot

import (
	"os"
	"testing"
	"time"

	"github.com/runsc-cri/runsc-cri/sentry/control"
)

// createLimited creates container id running args with a memory limit.
func (p *testPod) createLimited(id string, limit uint64, args ...string) {
	p.t.Helper()
	g := p.startGofer(id)
	defer g.Close()
	proc := noStdio(args...)
	proc.Env = []string{"PATH=/bin:/sbin:/usr/bin"}
	req := control.CreateContainerRequest{ID: id, RootGoferFD: 0, LogFD: -1, Process: proc, MemoryLimit: limit}
	p.mustCall(control.MethodCreateContainer, req, []*os.File{g}, nil)
	p.mustCall(control.MethodStartContainer, control.ContainerRequest{ID: id}, nil, nil)
}

func (p *testPod) stats(id string) control.StatsResult {
	p.t.Helper()
	var r control.StatsResult
	p.mustCall(control.MethodStats, control.StatsRequest{ID: id}, nil, &r)
	return r
}

// TestPodMemoryLimitOOM: in one pod, a container with a 16 MiB limit whose
// dd reads 20 MiB blocks is killed with SIGKILL and reported OOM-killed,
// while a container without a limit keeps running and one under its limit
// exits normally; raising the limit with UpdateResources lets the same dd
// through; every exited container's usage is back to zero.
func TestPodMemoryLimitOOM(t *testing.T) {
	p := startPod(t)
	const dd = "dd if=/dev/zero of=/dev/null bs=20M count=3"
	p.createLimited("bystander", 0, "sleep", "1000")
	p.createLimited("oom", 16<<20, "sh", "-c", "dd if=/dev/zero of=/dev/null bs=20M")
	start := time.Now()
	r := p.wait("oom")
	if r.ExitCode != 137 || !r.OOMKilled {
		t.Fatalf("container over its limit: %+v, want exit code 137 and OOMKilled", r)
	}
	t.Logf("OOM kill after %v", time.Since(start))
	st := p.stats("oom")
	if st.OOMKills < 1 || st.MemoryBytes != 0 || st.MemoryLimit != 16<<20 {
		t.Fatalf("stats of the OOM-killed container: %+v", st)
	}

	// The other container is alive and its status untouched.
	var ps control.ProcessesResult
	p.mustCall(control.MethodProcesses, control.ContainerRequest{ID: "bystander"}, nil, &ps)
	if len(ps.Processes) != 1 {
		t.Fatalf("the bystander's processes: %+v", ps.Processes)
	}
	if st := p.stats("bystander"); st.OOMKills != 0 || st.MemoryBytes == 0 {
		t.Fatalf("bystander stats %+v", st)
	}

	// Under its limit: a normal exit.
	p.createLimited("under", 64<<20, "sh", "-c", dd)
	if r := p.wait("under"); r.ExitCode != 0 || r.OOMKilled {
		t.Fatalf("container under its limit: %+v", r)
	}
	if st := p.stats("under"); st.MemoryBytes != 0 || st.OOMKills != 0 {
		t.Fatalf("usage after exit: %+v", st)
	}

	// The limit covers the container's processes together: a dd holding
	// a 20 MiB buffer (blocked writing to a pipe nobody reads) leaves
	// too little for a second one, which is killed; the shell sees it.
	p.createLimited("sum", 32<<20, "sh", "-c",
		"dd if=/dev/zero bs=20M count=1 2>/dev/null | sleep 1000 & sleep 1; "+
			"dd if=/dev/zero of=/dev/null bs=20M count=1; exit $?")
	if r := p.wait("sum"); r.ExitCode != 137 || r.Signaled || !r.OOMKilled {
		t.Fatalf("second dd over the container's limit: %+v, want the shell's exit 137 and OOMKilled", r)
	}
	if st := p.stats("sum"); st.MemoryBytes != 0 || st.OOMKills != 1 {
		t.Fatalf("stats after the container's end: %+v", st)
	}

	// Raising the limit of a running container (its shell waits a
	// little first) lets the same command through.
	p.createLimited("raised", 16<<20, "sh", "-c", "sleep 1; "+dd)
	p.mustCall(control.MethodUpdateResources, control.UpdateResourcesRequest{ID: "raised", MemoryLimit: 64 << 20}, nil, nil)
	if r := p.wait("raised"); r.ExitCode != 0 || r.OOMKilled {
		t.Fatalf("container whose limit was raised: %+v", r)
	}
	if err := p.call(control.MethodUpdateResources, control.UpdateResourcesRequest{ID: "nope"}, nil, nil); err == nil {
		t.Fatal("UpdateResources of an unknown container succeeded")
	}

	p.mustCall(control.MethodProcesses, control.ContainerRequest{ID: "bystander"}, nil, &ps)
	if len(ps.Processes) != 1 {
		t.Fatalf("the bystander's processes at the end: %+v", ps.Processes)
	}
}
