package boot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runsc-cri/runsc-cri/sentry/control"
)

// TestPodSharedVolume: two containers mount the same host directory, each
// through its own gofer (so each has its own filesystem instance). The
// reader looks for files before they exist; the other container and the
// host then create them, and the reader must see them (no stale negative
// lookup), with their contents.
func TestPodSharedVolume(t *testing.T) {
	p := startPod(t)
	vol := filepath.Join(p.dir, "shared")
	if err := os.MkdirAll(vol, 0o777); err != nil {
		t.Fatal(err)
	}
	mounts := []control.Mount{{Destination: "/data", Type: "bind", GoferFD: 2}}
	wait := `i=0; while [ ! -e "$1" ]; do i=$((i+1)); if [ $i -gt 300 ]; then echo "timeout waiting for $1"; exit 1; fi; sleep 0.05; done`
	reader := `w() { ` + wait + `; }
[ -e /data/f ] && echo early-f; cat /data/host.txt 2>/dev/null && echo early-host
echo 12 > /data/grow; wc -c < /data/grow
touch /data/ready
w /data/go || exit 1
cat /data/f; cat /data/host.txt; wc -c < /data/grow`
	writer := `w() { ` + wait + `; }
w /data/ready || exit 1
echo from-writer > /data/f; echo 345678 >> /data/grow; touch /data/go`
	volR := p.goferFor(vol)
	logR := p.create("reader", noStdio("sh", "-c", reader), []*os.File{volR}, mounts)
	volR.Close()
	volW := p.goferFor(vol)
	logW := p.create("writer", noStdio("sh", "-c", writer), []*os.File{volW}, mounts)
	volW.Close()

	p.mustCall(control.MethodStartContainer, control.ContainerRequest{ID: "reader"}, nil, nil)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(vol, "ready")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reader never got ready; log %q", lines(readLog(t, logR), "stdout"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Written by the host (as the kubelet updates a ConfigMap volume).
	if err := os.WriteFile(filepath.Join(vol, "host.txt"), []byte("from-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.mustCall(control.MethodStartContainer, control.ContainerRequest{ID: "writer"}, nil, nil)
	if r := p.wait("writer"); r.ExitCode != 0 {
		t.Fatalf("writer: %+v; log %q", r, lines(readLog(t, logW), "stdout"))
	}
	r := p.wait("reader")
	var out []string
	for i := 0; i < 100; i++ {
		if out = lines(readLog(t, logR), "stdout"); len(out) >= 4 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	want := []string{"3", "from-writer", "from-host", "10"}
	if r.ExitCode != 0 || strings.Join(out, "|") != strings.Join(want, "|") {
		t.Fatalf("reader: exit %d, output %q, want %q", r.ExitCode, out, want)
	}
}
