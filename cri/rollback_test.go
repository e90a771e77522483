package cri

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/store"
)

// faults fails the step it is set to.
type faults struct {
	mu   sync.Mutex
	step string
}

func (f *faults) set(step string) { f.mu.Lock(); f.step = step; f.mu.Unlock() }
func (f *faults) inject(step string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if step == f.step {
		return errors.New("injected failure")
	}
	return nil
}

// waitNoProcessesUnder waits up to 2 s for processesUnder(dir) to be empty
// (a gofer or sentry exits asynchronously once its peer has closed the
// connection) and returns what is still there.
func waitNoProcessesUnder(dir string) []string {
	var left []string
	for i := 0; i < 100; i++ {
		if left = processesUnder(dir); len(left) == 0 {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return left
}

// processesUnder lists the command lines of processes (other than this
// one) that name dir.
func processesUnder(dir string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if e.Name() == "self" || e.Name() == "thread-self" || e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(b), dir) && e.Name() != strconv.Itoa(os.Getpid()) {
			if st, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil && strings.Contains(string(st), ") Z") {
				continue // a zombie about to be reaped
			}
			out = append(out, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestRunPodSandboxRollback fails RunPodSandbox at each step and checks
// that nothing is left: no record, directory, socket or sentry process;
// the name is free again.
func TestRunPodSandboxRollback(t *testing.T) {
	e := newPodEnv(t)
	f := &faults{}
	root := filepath.Join(t.TempDir(), "root")
	d := startPodDaemon(t, root, e.certs, withFaults(f.inject))
	ctx := ctxT(t)
	pcfg := podConfigFor("rollback", t.TempDir())
	steps := []string{"pod:record", "pod:dir", "pod:files", "pod:sentry", "pod:ready", "store"}
	for _, step := range steps {
		if step == "store" {
			// The last write (state Ready) fails.
			store.SetFailWrite("pods")
			f.set("")
		} else {
			f.set(step)
		}
		_, err := d.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: pcfg})
		store.SetFailWrite("")
		if err == nil {
			t.Fatalf("%s: RunPodSandbox succeeded", step)
		}
		if l, _ := d.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{}); len(l.GetItems()) != 0 {
			t.Errorf("%s: pods listed: %v", step, l.Items)
		}
		for _, dir := range []string{podsDir, socketsDir, filepath.Join(stateDir, "pods")} {
			if left := dirEntries(t, filepath.Join(root, dir)); len(left) != 0 {
				t.Errorf("%s: left in %s: %v", step, dir, left)
			}
		}
		if p := waitNoProcessesUnder(root); len(p) != 0 {
			t.Errorf("%s: processes left: %v", step, p)
		}
	}
	f.set("")
	id := d.runPod(t, pcfg)
	if _, err := d.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatal(err)
	}
}

// TestCreateContainerRollback fails CreateContainer at each step and
// checks that nothing is left: no record, directory, mount, snapshot, log
// file or gofer; then the same container is created and runs.
func TestCreateContainerRollback(t *testing.T) {
	e := newPodEnv(t)
	f := &faults{}
	root := filepath.Join(t.TempDir(), "root")
	d := startPodDaemon(t, root, e.certs, withFaults(f.inject))
	d.pull(t, e.image)
	ctx := ctxT(t)
	pcfg := podConfigFor("ctr-rollback", t.TempDir())
	podID := d.runPod(t, pcfg)
	// Snapshots a rollback released go at the next GC: count after one.
	snapshots := func() int {
		if err := d.srv.Images().GC(ctx); err != nil {
			t.Fatal(err)
		}
		m, _ := filepath.Glob(filepath.Join(root, "images", "snapshots", "*", "snapshots", "*"))
		return len(m)
	}
	base := snapshots()
	cfg := ctrConfig("c", e.image, "echo ran")
	cfg.Mounts = []*runtimeapi.Mount{{ContainerPath: "/data", HostPath: t.TempDir(), Readonly: true}}
	logPath := filepath.Join(pcfg.LogDirectory, cfg.LogPath)
	steps := []string{"container:dir", "container:snapshot", "container:mount", "container:volumes",
		"container:log", "container:gofer", "container:sentry", "store"}
	for _, step := range steps {
		if step == "store" {
			store.SetFailWrite("containers")
			f.set("")
		} else {
			f.set(step)
		}
		_, err := d.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pcfg})
		store.SetFailWrite("")
		if err == nil {
			t.Fatalf("%s: CreateContainer succeeded", step)
		}
		if l, _ := d.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{}); len(l.GetContainers()) != 0 {
			t.Errorf("%s: containers listed: %v", step, l.Containers)
		}
		if left := dirEntries(t, filepath.Join(root, containersDir)); len(left) != 0 {
			t.Errorf("%s: left in containers/: %v", step, left)
		}
		if m := mountsUnder(root); len(m) != 0 {
			t.Errorf("%s: mounts left: %v", step, m)
		}
		if n := snapshots(); n != base {
			t.Errorf("%s: %d snapshots, want %d", step, n, base)
		}
		if _, err := os.Stat(logPath); err == nil {
			t.Errorf("%s: log file left", step)
		}
		if left := waitNoProcessesUnder(filepath.Join(root, containersDir)); len(left) != 0 {
			t.Errorf("%s: gofers left: %v", step, left)
		}
	}
	f.set("")
	id := d.createStart(t, podID, pcfg, cfg)
	if st := d.waitExited(t, id); st.ExitCode != 0 {
		t.Errorf("after the failures: %v", st)
	}
	waitFile(t, logPath, "stdout F ran")
}
