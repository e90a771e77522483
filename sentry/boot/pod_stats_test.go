package boot

import (
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runsc-cri/runsc-cri/sentry/control"
)

// TestPodStatsCounters: a container that opens fds and a socket, runs
// several processes and fills 8 MiB moves the per-container counters (dd's
// buffer is filled by read(2), a sentry copy that takes no application
// fault, so only the new programs' faults are counted),
// and the socket count matches what /proc inside the sandbox shows.
func TestPodStatsCounters(t *testing.T) {
	p := startPod(t)
	p.create("app", noStdio("sh", "-c", "sleep 1000"), nil, nil)
	p.mustCall(control.MethodStartContainer, control.ContainerRequest{ID: "app"}, nil, nil)
	var before, after control.StatsResult
	for i := 0; i < 200; i++ { // until sleep has run
		p.mustCall(control.MethodStats, control.StatsRequest{ID: "app"}, nil, &before)
		if before.PageFaults != 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if before.Threads < 1 || before.FileDescriptors < 1 || before.Sockets != 0 || before.PageFaults == 0 {
		t.Fatalf("idle container stats %+v", before)
	}
	var er control.ExecResult
	p.mustCall(control.MethodExec, control.ExecRequest{ID: "app", Process: control.Process{
		Args: []string{"sh", "-c", "exec 3</dev/null 4</dev/null 5</dev/null; nc -l -p 9999 & dd if=/dev/zero bs=8M count=1 2>/dev/null | sleep 1000"},
		Env:  []string{"PATH=/bin"}, Stdin: -1, Stdout: -1, Stderr: -1,
	}}, nil, &er)
	for i := 0; ; i++ {
		p.mustCall(control.MethodStats, control.StatsRequest{ID: "app"}, nil, &after)
		if after.Sockets >= 1 && after.Threads >= before.Threads+4 && after.PageFaults >= before.PageFaults+10 {
			break
		}
		if i == 200 {
			t.Fatalf("counters did not move: before %+v, after %+v", before, after)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if after.FileDescriptors < before.FileDescriptors+3 || after.CPUUserNanos+after.CPUSystemNanos == 0 ||
		after.MemoryPeakBytes < after.MemoryBytes || after.MemoryPeakBytes < 8<<20 {
		t.Fatalf("before %+v, after %+v", before, after)
	}

	// The sockets /proc shows are the ones Stats counts.
	outR, outW, _ := os.Pipe()
	p.mustCall(control.MethodExec, control.ExecRequest{ID: "app", Process: control.Process{
		Args: []string{"sh", "-c", "ls -l /proc/[0-9]*/fd/ 2>/dev/null | grep -c socket:"},
		Env:  []string{"PATH=/bin"}, Stdin: -1, Stdout: 0, Stderr: -1,
	}}, []*os.File{outW}, &er)
	outW.Close()
	got, _ := io.ReadAll(outR)
	n, err := strconv.Atoi(strings.TrimSpace(string(got)))
	if err != nil || n != after.Sockets {
		t.Fatalf("/proc shows %q sockets, Stats %d", got, after.Sockets)
	}
	var pod control.StatsResult
	p.mustCall(control.MethodStats, control.StatsRequest{}, nil, &pod)
	if pod.Sockets < after.Sockets || pod.Threads < after.Threads || pod.PageFaults < after.PageFaults {
		t.Fatalf("pod %+v, container %+v", pod, after)
	}
}
