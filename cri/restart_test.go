package cri

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/store"
	"github.com/runsc-cri/runsc-cri/sentry/control"
)

// TestDaemonRestart stops the daemon with two pods running. While it is
// down, one container exits on a signal sent over control (its last log line still reaches its log: the
// sentry writes logs) and the other pod's sentry is killed. A new daemon
// on the same root finds the first pod Ready with its long-running
// container Running (and exec works in it), the exited container Exited
// with its code, and the second pod NotReady with its container Exited;
// it then watches the running container again.
func TestDaemonRestart(t *testing.T) {
	e := newPodEnv(t)
	root := filepath.Join(t.TempDir(), "root")
	d1 := startPodDaemon(t, root, e.certs)
	d1.pull(t, e.image)
	logDir := t.TempDir()

	pcfg := podConfigFor("survivor", logDir)
	podA := d1.runPod(t, pcfg)
	long := d1.createStart(t, podA, pcfg, ctrConfig("long", e.image, "echo started; exec sleep 1000"))
	later := ctrConfig("later", e.image, "trap 'echo bye; exit 7' USR2; while true; do sleep 0.05; done")
	laterID := d1.createStart(t, podA, pcfg, later)
	created, err := d1.rt.CreateContainer(ctxT(t), &runtimeapi.CreateContainerRequest{PodSandboxId: podA,
		Config: ctrConfig("created", e.image, "true"), SandboxConfig: pcfg})
	if err != nil {
		t.Fatal(err)
	}
	waitFile(t, filepath.Join(logDir, "long", "0.log"), "started")

	pcfgB := podConfigFor("victim", t.TempDir())
	podB := d1.runPod(t, pcfgB)
	victim := d1.createStart(t, podB, pcfgB, ctrConfig("victim", e.image, "sleep 1000"))

	if err := d1.stop(); err != nil {
		t.Fatal(err)
	}

	// While the daemon is down.
	// The sentry is the daemon's only channel to the container: signal
	// it over control as the daemon would.
	sock := filepath.Join(root, socketsDir, podA[:socketIDLen]+".sock")
	if err := control.Call(sock, control.MethodSignal, control.SignalRequest{ID: laterID, Signal: int(unix.SIGUSR2)}, nil, nil, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitFile(t, filepath.Join(logDir, "later", "0.log"), "stdout F bye")
	var pb store.Pod
	b, err := os.ReadFile(filepath.Join(root, stateDir, "pods", podB+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &pb); err != nil || pb.SentryPID == 0 {
		t.Fatalf("pod B's record: %v %+v", err, pb)
	}
	if err := unix.Kill(pb.SentryPID, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}

	d2 := startPodDaemon(t, root, e.certs)
	ctx := ctxT(t)
	ps, err := d2.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: podA})
	if err != nil || ps.Status.State != runtimeapi.PodSandboxState_SANDBOX_READY {
		t.Fatalf("pod A after restart: %v %v", ps, err)
	}
	if st := d2.ctrStatus(t, long); st.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Errorf("long-running container after restart: %v", st)
	}
	if st := d2.ctrStatus(t, laterID); st.State != runtimeapi.ContainerState_CONTAINER_EXITED || st.ExitCode != 7 {
		t.Errorf("container that exited while the daemon was down: %v", st)
	}
	if st := d2.ctrStatus(t, created.ContainerId); st.State != runtimeapi.ContainerState_CONTAINER_CREATED {
		t.Errorf("created container after restart: %v", st)
	}
	if r := d2.exec(t, long, 10, "echo", "still here"); string(r.Stdout) != "still here\n" {
		t.Errorf("exec after restart: %q %q", r.Stdout, r.Stderr)
	}
	ps, err = d2.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: podB})
	if err != nil || ps.Status.State != runtimeapi.PodSandboxState_SANDBOX_NOTREADY {
		t.Errorf("pod B (sentry killed) after restart: %v %v", ps, err)
	}
	if st := d2.ctrStatus(t, victim); st.State != runtimeapi.ContainerState_CONTAINER_EXITED || st.Reason != reasonSandboxDied {
		t.Errorf("container of the dead pod: %v", st)
	}

	// The new daemon watches the running container: an exit is recorded.
	if _, err := d2.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: long, Timeout: 0}); err != nil {
		t.Fatal(err)
	}
	if st := d2.ctrStatus(t, long); st.State != runtimeapi.ContainerState_CONTAINER_EXITED || st.ExitCode != 137 {
		t.Errorf("after StopContainer: %v", st)
	}
	// Both pods can be removed.
	for _, id := range []string{podA, podB} {
		if _, err := d2.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
			t.Errorf("RemovePodSandbox %s: %v", id, err)
		}
	}
	if m := mountsUnder(root); len(m) != 0 {
		t.Errorf("mounts left: %v", m)
	}
}

// TestDaemonKilled runs the real `runsc-cri serve`, kills it with SIGKILL
// while a container runs, and starts it again: the sentry and the gofer
// were not the daemon's to take down (own sessions, no death signal tied
// to the daemon), so the pod is still Ready, its container Running and
// exec-able; then SIGTERM stops the daemon gracefully.
func TestDaemonKilled(t *testing.T) {
	e := newPodEnv(t)
	bin := runscBinary(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	sock := filepath.Join(dir, "run", "cri.sock")
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve", "--config", filepath.Join(dir, "none.toml"), "--socket", sock, "--root", root,
			"--registry-config-dir", e.certs, "--log-level", "warn")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			if c, err := net.Dial("unix", sock); err == nil {
				c.Close()
				return cmd
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatal("the daemon did not listen")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Cleanup(func() { sweep(root) })
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	d := &daemon{rt: runtimeapi.NewRuntimeServiceClient(conn), im: runtimeapi.NewImageServiceClient(conn)}

	first := start()
	d.pull(t, e.image)
	pcfg := podConfigFor("killed", t.TempDir())
	podID := d.runPod(t, pcfg)
	id := d.createStart(t, podID, pcfg, ctrConfig("app", e.image, "echo up; exec sleep 1000"))
	waitFile(t, filepath.Join(pcfg.LogDirectory, "app", "0.log"), "up")
	first.Process.Kill()
	first.Wait()

	second := start()
	ctx := ctxT(t)
	ps, err := d.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: podID})
	if err != nil || ps.Status.State != runtimeapi.PodSandboxState_SANDBOX_READY {
		t.Fatalf("pod after the daemon was killed: %v %v", ps, err)
	}
	if st := d.ctrStatus(t, id); st.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Errorf("container after the daemon was killed: %v", st)
	}
	if r := d.exec(t, id, 10, "cat", "/work/hello"); string(r.Stdout) != "hello from the image\n" {
		t.Errorf("exec (through the gofer) after the daemon was killed: %q %q", r.Stdout, r.Stderr)
	}
	if _, err := d.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Error(err)
	}
	second.Process.Signal(unix.SIGTERM)
	if err := second.Wait(); err != nil {
		t.Errorf("daemon exit after SIGTERM: %v", err)
	}
	if m := mountsUnder(root); len(m) != 0 {
		t.Errorf("mounts left: %v", m)
	}
}

// TestSentryDeath: a pod whose sentry dies while the daemon runs becomes
// NotReady, its running container Exited with reason SandboxDied; the
// pod can still be removed.
func TestSentryDeath(t *testing.T) {
	e := newPodEnv(t)
	root := filepath.Join(t.TempDir(), "root")
	d := startPodDaemon(t, root, e.certs)
	d.pull(t, e.image)
	ctx := ctxT(t)
	pcfg := podConfigFor("dies", t.TempDir())
	podID := d.runPod(t, pcfg)
	id := d.createStart(t, podID, pcfg, ctrConfig("app", e.image, "exec sleep 1000"))
	p, err := d.srv.store.Pod(podID)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Kill(p.SentryPID, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st := d.waitExited(t, id)
	if st.Reason != reasonSandboxDied {
		t.Errorf("container of a dead sentry: %v", st)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ps, err := d.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: podID})
		if err != nil {
			t.Fatal(err)
		}
		if ps.Status.State == runtimeapi.PodSandboxState_SANDBOX_NOTREADY {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod still %v after its sentry died", ps.Status.State)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// An empty pod's sentry death is seen too (no container watcher).
	podB := d.runPod(t, podConfigFor("empty", t.TempDir()))
	pb, _ := d.srv.store.Pod(podB)
	unix.Kill(pb.SentryPID, unix.SIGKILL)
	deadline = time.Now().Add(10 * time.Second)
	for {
		ps, err := d.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: podB})
		if err != nil {
			t.Fatal(err)
		}
		if ps.Status.State == runtimeapi.PodSandboxState_SANDBOX_NOTREADY {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("empty pod still %v after its sentry died", ps.Status.State)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, id := range []string{podID, podB} {
		if _, err := d.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
			t.Errorf("RemovePodSandbox: %v", err)
		}
	}
	if m := mountsUnder(root); len(m) != 0 {
		t.Errorf("mounts left: %v", m)
	}
}
