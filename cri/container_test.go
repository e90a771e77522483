package cri

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestContainerExitCodesAndMounts: exit codes and reasons; the image
// command replaced by the config's; read-only and read-write host
// directories and a host file; a read-only rootfs with a writable volume;
// run_as_user; list filters.
func TestContainerExitCodesAndMounts(t *testing.T) {
	e := newPodEnv(t)
	d := startPodDaemon(t, filepath.Join(t.TempDir(), "root"), e.certs)
	d.pull(t, e.image)
	ctx := ctxT(t)
	pcfg := podConfigFor("codes", t.TempDir())
	podID := d.runPod(t, pcfg)

	ok := d.createStart(t, podID, pcfg, ctrConfig("ok", e.image, "exit 0"))
	bad := d.createStart(t, podID, pcfg, ctrConfig("bad", e.image, "exit 3"))
	// The image's Cmd with its Entrypoint.
	def := d.createStart(t, podID, pcfg, ctrConfig("default", e.image))
	if st := d.waitExited(t, ok); st.ExitCode != 0 || st.Reason != "Completed" {
		t.Errorf("exit 0: %v", st)
	}
	if st := d.waitExited(t, bad); st.ExitCode != 3 || st.Reason != "Error" {
		t.Errorf("exit 3: %v", st)
	}
	d.waitExited(t, def)
	waitFile(t, filepath.Join(pcfg.LogDirectory, "default", "0.log"), "stdout F from-image-cmd")

	// Mounts and a read-only rootfs.
	ro, rw := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(ro, "data"), []byte("ro-data\n"), 0o644)
	hostFile := filepath.Join(t.TempDir(), "file")
	os.WriteFile(hostFile, []byte("host-file\n"), 0o644)
	os.Chmod(rw, 0o777)
	cfg := ctrConfig("mounts", e.image)
	cfg.Command = []string{"/bin/sleep", "1000"}
	cfg.Mounts = []*runtimeapi.Mount{
		{ContainerPath: "/ro", HostPath: ro, Readonly: true},
		{ContainerPath: "/rw/deep", HostPath: rw},
		{ContainerPath: "/etc/special", HostPath: hostFile, Readonly: true},
	}
	cfg.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
		ReadonlyRootfs: true,
		RunAsUser:      &runtimeapi.Int64Value{Value: 0},
	}}
	id := d.createStart(t, podID, pcfg, cfg)
	r := d.exec(t, id, 10, "/bin/sh", "-c", `id -u; cat /ro/data /etc/special; echo x > /ro/new && echo ro-writable; echo w > /rw/deep/new && echo rw-ok; touch /rootfs-file && echo rootfs-writable; cat /work/hello`)
	want := "0\nro-data\nhost-file\nrw-ok\nhello from the image\n"
	if string(r.Stdout) != want {
		t.Errorf("mounts: stdout %q stderr %q, want stdout %q", r.Stdout, r.Stderr, want)
	}
	if b, err := os.ReadFile(filepath.Join(rw, "new")); err != nil || string(b) != "w\n" {
		t.Errorf("write through the rw mount: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(ro, "new")); err == nil {
		t.Error("a write went through the read-only mount")
	}
	st := d.ctrStatus(t, id)
	if len(st.Mounts) != 3 || st.Mounts[0].ContainerPath != "/ro" || !st.Mounts[0].Readonly {
		t.Errorf("status mounts: %v", st.Mounts)
	}

	// List filters.
	list := func(f *runtimeapi.ContainerFilter) int {
		l, err := d.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: f})
		if err != nil {
			t.Fatal(err)
		}
		return len(l.Containers)
	}
	running := &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}
	exited := &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_EXITED}
	for _, c := range []struct {
		f    *runtimeapi.ContainerFilter
		want int
	}{
		{nil, 4},
		{&runtimeapi.ContainerFilter{State: running}, 1},
		{&runtimeapi.ContainerFilter{State: exited}, 3},
		{&runtimeapi.ContainerFilter{Id: id}, 1},
		{&runtimeapi.ContainerFilter{Id: id[:12]}, 1},
		{&runtimeapi.ContainerFilter{PodSandboxId: podID}, 4},
		{&runtimeapi.ContainerFilter{PodSandboxId: "nope"}, 0},
		{&runtimeapi.ContainerFilter{LabelSelector: map[string]string{"ctr": "bad"}}, 1},
		{&runtimeapi.ContainerFilter{LabelSelector: map[string]string{"ctr": "bad"}, State: running}, 0},
	} {
		if got := list(c.f); got != c.want {
			t.Errorf("ListContainers(%v): %d, want %d", c.f, got, c.want)
		}
	}
	pl, err := d.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{
		LabelSelector: map[string]string{"app": "codes"},
		State:         &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY},
	}})
	if err != nil || len(pl.Items) != 1 || pl.Items[0].Id != podID {
		t.Errorf("ListPodSandbox(filter): %v %v", pl, err)
	}
	pl, _ = d.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{
		State: &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_NOTREADY}}})
	if len(pl.GetItems()) != 0 {
		t.Errorf("ListPodSandbox(NotReady): %v", pl.Items)
	}

	// Removing the pod removes its containers (and stops the running one).
	if _, err := d.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	if n := list(nil); n != 0 {
		t.Errorf("%d containers left after RemovePodSandbox", n)
	}
	if m := mountsUnder(d.cfg.Root); len(m) != 0 {
		t.Errorf("mounts left: %v", m)
	}
}

// TestPodBadRequests: each bad request gets the right code.
func TestPodBadRequests(t *testing.T) {
	e := newPodEnv(t)
	d := startPodDaemon(t, filepath.Join(t.TempDir(), "root"), e.certs)
	d.pull(t, e.image)
	ctx := ctxT(t)
	pcfg := podConfigFor("bad", t.TempDir())

	_, err := d.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: &runtimeapi.PodSandboxConfig{}})
	wantCode(t, "RunPodSandbox without a name", err, codes.InvalidArgument)
	_, err = d.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: pcfg, RuntimeHandler: "runc"})
	wantCode(t, "RunPodSandbox unknown handler", err, codes.InvalidArgument)
	_, err = d.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: "nope"})
	wantCode(t, "StopPodSandbox unknown (idempotent)", err, codes.OK)
	_, err = d.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: "nope"})
	wantCode(t, "RemovePodSandbox unknown", err, codes.OK)
	_, err = d.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: "nope"})
	wantCode(t, "PodSandboxStatus unknown", err, codes.NotFound)
	_, err = d.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: "nope", Config: ctrConfig("c", e.image)})
	wantCode(t, "CreateContainer in an unknown pod", err, codes.NotFound)

	podID := d.runPod(t, pcfg)
	_, err = d.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: ctrConfig("c", "example.invalid/none:1")})
	wantCode(t, "CreateContainer unknown image", err, codes.NotFound)
	_, err = d.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: &runtimeapi.ContainerConfig{Image: spec(e.image)}})
	wantCode(t, "CreateContainer without a name", err, codes.InvalidArgument)
	noUser := ctrConfig("nouser", e.image, "true")
	noUser.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{RunAsUsername: "mallory"}}
	_, err = d.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: noUser})
	wantCode(t, "CreateContainer unknown user", err, codes.InvalidArgument)
	groupOnly := ctrConfig("grouponly", e.image, "true")
	groupOnly.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{RunAsGroup: &runtimeapi.Int64Value{Value: 1002}}}
	_, err = d.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: groupOnly})
	wantCode(t, "CreateContainer run_as_group without a user", err, codes.InvalidArgument)
	relMount := ctrConfig("relmount", e.image, "true")
	relMount.Mounts = []*runtimeapi.Mount{{ContainerPath: "rel", HostPath: t.TempDir()}}
	_, err = d.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: relMount})
	wantCode(t, "CreateContainer relative mount", err, codes.InvalidArgument)
	_, err = d.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: "nope"})
	wantCode(t, "StartContainer unknown", err, codes.NotFound)
	_, err = d.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: "nope"})
	wantCode(t, "StopContainer unknown (idempotent)", err, codes.OK)
	_, err = d.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: "nope"})
	wantCode(t, "RemoveContainer unknown", err, codes.OK)

	id := d.createStart(t, podID, pcfg, ctrConfig("sleeper", e.image, "sleep 1000"))
	_, err = d.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id})
	wantCode(t, "StartContainer running", err, codes.FailedPrecondition)
	_, err = d.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id})
	wantCode(t, "ExecSync without a command", err, codes.InvalidArgument)
	start := time.Now()
	_, err = d.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"sleep", "30"}, Timeout: 1})
	wantCode(t, "ExecSync timeout", err, codes.DeadlineExceeded)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("ExecSync with a 1s timeout took %v", took)
	}
	if err != nil && !strings.Contains(err.Error(), "timeout") {
		t.Errorf("timeout message: %v", err)
	}
	// The timed-out command was killed, not left running.
	var left string
	for i := 0; i < 50; i++ {
		r, err := d.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id,
			Cmd: []string{"sh", "-c", "ps -o args | grep -c '^sleep 30$'"}, Timeout: 10})
		if err != nil {
			t.Fatal(err)
		}
		if left = strings.TrimSpace(string(r.Stdout)); left == "0" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if left != "0" {
		t.Errorf("the timed-out exec is still running (%s left)", left)
	}

	// A stopped pod takes no new containers.
	if _, err := d.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	if st := d.ctrStatus(t, id); st.State != runtimeapi.ContainerState_CONTAINER_EXITED {
		t.Errorf("container of a stopped pod: %v", st)
	}
	_, err = d.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: ctrConfig("late", e.image, "true")})
	wantCode(t, "CreateContainer in a stopped pod", err, codes.FailedPrecondition)
	_, err = d.rt.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: id})
	wantCode(t, "UpdateContainerResources exited", err, codes.FailedPrecondition)
	_, err = d.rt.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: id})
	wantCode(t, "ReopenContainerLog exited", err, codes.FailedPrecondition)
}
