package cri

import (
	"archive/tar"
	"bufio"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/config"
	"github.com/runsc-cri/runsc-cri/cri/internal/imagetest"
)

var (
	binOnce sync.Once
	binPath string
	binDir  string // a temporary directory of a binary built here
	binSkip string // why pod tests cannot run, if they cannot
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// runscBinary returns a runsc-cri binary with `boot --pod` (built once per
// test run, or $RUNSC_CRI_BINARY), skipping the test with the reason when
// there is none.
func runscBinary(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("pods mount rootfs snapshots and start gofers in mount namespaces: needs root")
	}
	binOnce.Do(func() {
		binPath = os.Getenv("RUNSC_CRI_BINARY")
		if binPath == "" {
			dir, err := os.MkdirTemp("", "runsc-cri-test-bin-")
			if err != nil {
				binSkip = err.Error()
				return
			}
			binDir = dir
			binPath = filepath.Join(dir, "runsc-cri")
			goBin, err := exec.LookPath("go")
			if err != nil {
				goBin = "/usr/local/go/bin/go"
			}
			out, err := exec.Command(goBin, "build", "-o", binPath, "github.com/runsc-cri/runsc-cri/cmd/runsc-cri").CombinedOutput()
			if err != nil {
				binSkip = "cannot build runsc-cri (the tree may be mid-edit): " + err.Error() + "\n" + string(out)
				return
			}
		}
		out, _ := exec.Command(binPath, "boot", "--pod").CombinedOutput()
		if strings.Contains(string(out), "flag provided but not defined") {
			binSkip = "`runsc-cri boot --pod` is not built yet (the pod sentry): " + strings.TrimSpace(string(out))
		}
	})
	if binSkip != "" {
		t.Skip(binSkip)
	}
	return binPath
}

// podEnv is a registry with the pod test image and a certs.d for it.
type podEnv struct {
	certs string
	image string // example.invalid/test/pod:1
}

// podImage is busybox with users and groups, and an image config that
// exercises the merge: Entrypoint sh -c, Cmd, Env, WorkingDir, User by
// name, STOPSIGNAL.
func newPodEnv(t *testing.T) *podEnv {
	t.Helper()
	bb := imagetest.Busybox(t)
	if bb == nil {
		t.Skip("no /bin/busybox on the host (install busybox-static)")
	}
	for _, applet := range []string{"sleep", "echo", "cat", "id", "true", "false", "ls", "touch", "test", "hostname", "pwd", "env", "mkdir", "kill", "ps"} {
		bb = append(bb, imagetest.Entry{Name: "bin/" + applet, Type: tar.TypeSymlink, Linkname: "busybox"})
	}
	files := []imagetest.Entry{
		{Name: "etc/", Type: tar.TypeDir},
		{Name: "etc/passwd", Body: "root:x:0:0:root:/root:/bin/sh\nalice:x:1234:2345::/home/alice:/bin/sh\n"},
		{Name: "etc/group", Body: "root:x:0:\nstaff:x:2345:\nextra:x:3456:bob,alice\n"},
		{Name: "tmp/", Type: tar.TypeDir, Mode: 0o1777},
		{Name: "work/", Type: tar.TypeDir, Mode: 0o777},
		{Name: "work/hello", Body: "hello from the image\n"},
	}
	img := imagetest.Image(t, "amd64", "alice", []string{"echo from-image-cmd"}, bb, files)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config.Entrypoint = []string{"/bin/sh", "-c"}
	cf.Config.Env = []string{"PATH=/bin", "FROM_IMAGE=yes", "OVERRIDDEN=image"}
	cf.Config.WorkingDir = "/work"
	cf.Config.StopSignal = "SIGUSR1"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	reg := imagetest.NewRegistry(t, "", "")
	reg.Push(t, "test/pod:1", img)
	return &podEnv{certs: reg.Mirror(t, t.TempDir(), "example.invalid"), image: "example.invalid/test/pod:1"}
}

// startPodDaemon starts a daemon on root (its socket beside it) with the
// runsc-cri binary; the pods left at the end are removed, and any process
// or mount left under root is killed or detached.
func startPodDaemon(t *testing.T, root, certs string, opts ...Option) *daemon {
	t.Helper()
	bin := runscBinary(t)
	cfg := config.Default()
	cfg.Socket = filepath.Join(filepath.Dir(root), "run", "cri.sock")
	cfg.Root = root
	cfg.RegistryConfigDir = certs
	// No CNI network unless a test gives one: a config on the host
	// (/etc/cni/net.d) must not change what the tests see.
	cfg.CNIConfDir = t.TempDir()
	level := slog.LevelWarn
	if os.Getenv("RUNSC_CRI_TEST_LOG") == "debug" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, cancel := context.WithCancel(context.Background())
	opts = append([]Option{WithLogger(log), WithVersion("1.2.3-test"), WithBinary(bin)}, opts...)
	srv, err := New(ctx, cfg, opts...)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ready := make(chan struct{})
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx, ready) }()
	select {
	case <-ready:
	case err := <-errc:
		t.Fatalf("Serve: %v", err)
	}
	conn, err := grpc.NewClient("unix://"+cfg.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{cfg: cfg, srv: srv, socket: cfg.Socket,
		rt: runtimeapi.NewRuntimeServiceClient(conn), im: runtimeapi.NewImageServiceClient(conn)}
	stopped := false
	d.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		err := <-errc
		conn.Close()
		return err
	}
	t.Cleanup(func() { d.stop(); sweep(root) })
	t.Cleanup(func() {
		if stopped {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		pods, err := d.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
		if err != nil {
			return
		}
		for _, p := range pods.Items {
			if _, err := d.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.Id}); err != nil {
				t.Errorf("cleanup: RemovePodSandbox %s: %v", p.Id, err)
			}
		}
	})
	return d
}

// sweep kills processes whose command line names root and detaches mounts
// under root (the safety net of a failed test).
func sweep(root string) {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(b), root) {
			unix.Kill(pid, unix.SIGKILL)
		}
	}
	for _, m := range mountsUnder(root) {
		unix.Unmount(m, unix.MNT_DETACH)
	}
}

// mountsUnder lists the mount points under dir, deepest last.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			out = append(out, fields[4])
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func (d *daemon) pull(t *testing.T, ref string) {
	t.Helper()
	if _, err := d.im.PullImage(ctxT(t), &runtimeapi.PullImageRequest{Image: spec(ref)}); err != nil {
		t.Fatal(err)
	}
}

func podConfigFor(name, logDir string) *runtimeapi.PodSandboxConfig {
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "default", Uid: "uid-" + name},
		Hostname:     name + "-host",
		LogDirectory: logDir,
		DnsConfig:    &runtimeapi.DNSConfig{Servers: []string{"10.0.0.10"}, Searches: []string{"default.svc.cluster.local"}, Options: []string{"ndots:5"}},
		Labels:       map[string]string{"app": name},
		Annotations:  map[string]string{"note": "pod " + name},
		// The kubelet's default: each container its own PID namespace
		// (an unset option would mean POD, a pod-wide one with an infra
		// process as PID 1).
		Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER}}},
	}
}

func (d *daemon) runPod(t *testing.T, cfg *runtimeapi.PodSandboxConfig) string {
	t.Helper()
	r, err := d.rt.RunPodSandbox(ctxT(t), &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		t.Fatalf("RunPodSandbox: %v", err)
	}
	return r.PodSandboxId
}

func ctrConfig(name, image string, cmd ...string) *runtimeapi.ContainerConfig {
	c := &runtimeapi.ContainerConfig{
		Metadata:    &runtimeapi.ContainerMetadata{Name: name},
		Image:       &runtimeapi.ImageSpec{Image: image},
		LogPath:     name + "/0.log",
		Labels:      map[string]string{"ctr": name},
		Annotations: map[string]string{"note": "container " + name},
	}
	if len(cmd) > 0 {
		c.Args = cmd // with the image's Entrypoint sh -c
	}
	return c
}

func (d *daemon) createStart(t *testing.T, podID string, pcfg *runtimeapi.PodSandboxConfig, cfg *runtimeapi.ContainerConfig) string {
	t.Helper()
	ctx := ctxT(t)
	r, err := d.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pcfg})
	if err != nil {
		t.Fatalf("CreateContainer %s: %v", cfg.Metadata.Name, err)
	}
	if _, err := d.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: r.ContainerId}); err != nil {
		t.Fatalf("StartContainer %s: %v", cfg.Metadata.Name, err)
	}
	return r.ContainerId
}

func (d *daemon) ctrStatus(t *testing.T, id string) *runtimeapi.ContainerStatus {
	t.Helper()
	r, err := d.rt.ContainerStatus(ctxT(t), &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		t.Fatalf("ContainerStatus: %v", err)
	}
	return r.Status
}

// waitExited waits for container id to exit and returns its status.
func (d *daemon) waitExited(t *testing.T, id string) *runtimeapi.ContainerStatus {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := d.ctrStatus(t, id)
		if st.State == runtimeapi.ContainerState_CONTAINER_EXITED {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s still %v", id, st.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitFile waits until path contains want and returns its content.
func waitFile(t *testing.T, path, want string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), want) {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never contained %q; it has %q", path, want, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *daemon) exec(t *testing.T, id string, timeout int64, cmd ...string) *runtimeapi.ExecSyncResponse {
	t.Helper()
	r, err := d.rt.ExecSync(ctxT(t), &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: cmd, Timeout: timeout})
	if err != nil {
		t.Fatalf("ExecSync %q: %v", cmd, err)
	}
	return r
}
