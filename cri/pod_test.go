package cri

import (
	"bytes"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/util/exec"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestPodLifecycle: run a pod, create and start a container, see its log
// in the CRI format, exec in it, stats, stop it with the image's
// STOPSIGNAL, remove it and the pod, each twice (idempotency), and the
// events of it all.
func TestPodLifecycle(t *testing.T) {
	e := newPodEnv(t)
	d := startPodDaemon(t, filepath.Join(t.TempDir(), "root"), e.certs)
	d.pull(t, e.image)
	ctx := ctxT(t)
	evs, err := d.rt.GetContainerEvents(ctx, &runtimeapi.GetEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	logDir := t.TempDir()
	pcfg := podConfigFor("life", logDir)
	podID := d.runPod(t, pcfg)

	ps, err := d.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: podID, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	if ps.Status.State != runtimeapi.PodSandboxState_SANDBOX_READY || ps.Status.Metadata.Name != "life" ||
		ps.Status.Labels["app"] != "life" || ps.Status.Annotations["note"] != "pod life" || !strings.Contains(ps.Info["info"], `"sentryPing":"ok"`) {
		t.Errorf("PodSandboxStatus: %v %v", ps.Status, ps.Info)
	}
	if _, err := d.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: pcfg}); err == nil {
		t.Error("a second pod with the same name was created")
	} else {
		wantCode(t, "RunPodSandbox same name", err, codes.AlreadyExists)
	}

	script := `trap 'echo got-stop-signal; exit 42' USR1; echo hello; echo oops >&2; while true; do sleep 0.05; done`
	ccfg := ctrConfig("app", e.image, script)
	ccfg.Envs = []*runtimeapi.KeyValue{{Key: "OVERRIDDEN", Value: []byte("config")}, {Key: "EXTRA", Value: []byte("1")}}
	id := d.createStart(t, podID, pcfg, ccfg)
	if _, err := d.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: ccfg, SandboxConfig: pcfg}); err == nil {
		t.Error("a second container with the same name was created")
	} else {
		wantCode(t, "CreateContainer same name", err, codes.AlreadyExists)
	}

	logPath := filepath.Join(logDir, "app", "0.log")
	log := waitFile(t, logPath, "oops")
	line := regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\S+ (stdout|stderr) F (hello|oops)$`)
	if n := len(line.FindAllString(log, -1)); n != 2 {
		t.Errorf("log in the CRI format: %d matching lines in %q", n, log)
	}

	st := d.ctrStatus(t, id)
	if st.State != runtimeapi.ContainerState_CONTAINER_RUNNING || st.LogPath != logPath || st.StartedAt == 0 ||
		st.Labels["ctr"] != "app" || st.Annotations["note"] != "container app" || st.Image.Image != e.image || !strings.HasPrefix(st.ImageRef, "sha256:") {
		t.Errorf("ContainerStatus: %v", st)
	}
	if u := st.GetUser().GetLinux(); u.GetUid() != 1234 || u.GetGid() != 2345 || len(u.SupplementalGroups) != 1 || u.SupplementalGroups[0] != 3456 {
		t.Errorf("user: %v", u)
	}

	// Exec: the container's user, env, cwd, hostname and /etc files.
	r := d.exec(t, id, 10, "/bin/sh", "-c", `id -u; id -g; pwd; echo $FROM_IMAGE $OVERRIDDEN $EXTRA $HOSTNAME; cat /etc/hostname /etc/resolv.conf; echo to-stderr >&2; exit 3`)
	want := "1234\n2345\n/work\nyes config 1 life-host\nlife-host\nsearch default.svc.cluster.local\nnameserver 10.0.0.10\noptions ndots:5\n"
	if string(r.Stdout) != want || string(r.Stderr) != "to-stderr\n" || r.ExitCode != 3 {
		t.Errorf("ExecSync: stdout %q stderr %q code %d; want stdout %q", r.Stdout, r.Stderr, r.ExitCode, want)
	}

	// Stats.
	cs, err := d.rt.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: id})
	if err != nil {
		t.Errorf("ContainerStats: %v", err)
	} else if cs.Stats.Cpu == nil || cs.Stats.Memory == nil || cs.Stats.WritableLayer == nil || cs.Stats.Attributes.Id != id {
		t.Errorf("ContainerStats: %v", cs.Stats)
	}
	pst, err := d.rt.PodSandboxStats(ctx, &runtimeapi.PodSandboxStatsRequest{PodSandboxId: podID})
	if err != nil {
		t.Errorf("PodSandboxStats: %v", err)
	} else if pst.Stats.Linux.Process.GetProcessCount().GetValue() == 0 || len(pst.Stats.Linux.Containers) != 1 {
		t.Errorf("PodSandboxStats: %v", pst.Stats)
	}
	if l, err := d.rt.ListContainerStats(ctx, &runtimeapi.ListContainerStatsRequest{}); err != nil || len(l.Stats) != 1 {
		t.Errorf("ListContainerStats: %v %v", l, err)
	}
	if l, err := d.rt.ListPodSandboxStats(ctx, &runtimeapi.ListPodSandboxStatsRequest{}); err != nil || len(l.Stats) != 1 {
		t.Errorf("ListPodSandboxStats: %v %v", l, err)
	}

	if md, err := d.rt.ListMetricDescriptors(ctx, &runtimeapi.ListMetricDescriptorsRequest{}); err != nil || len(md.Descriptors) == 0 {
		t.Errorf("ListMetricDescriptors: %v %v", md, err)
	}
	if pm, err := d.rt.ListPodSandboxMetrics(ctx, &runtimeapi.ListPodSandboxMetricsRequest{}); err != nil ||
		len(pm.PodMetrics) != 1 || len(pm.PodMetrics[0].Metrics) == 0 || len(pm.PodMetrics[0].ContainerMetrics) != 1 {
		t.Errorf("ListPodSandboxMetrics: %v %v", pm, err)
	}
	if sc, err := d.rt.StreamContainers(ctx, &runtimeapi.StreamContainersRequest{}); err != nil {
		t.Errorf("StreamContainers: %v", err)
	} else if m, err := sc.Recv(); err != nil || len(m.Containers) != 1 {
		t.Errorf("StreamContainers: %v %v", m, err)
	}
	if sp, err := d.rt.StreamPodSandboxes(ctx, &runtimeapi.StreamPodSandboxesRequest{}); err != nil {
		t.Errorf("StreamPodSandboxes: %v", err)
	} else if m, err := sp.Recv(); err != nil || len(m.PodSandboxes) != 1 {
		t.Errorf("StreamPodSandboxes: %v %v", m, err)
	}

	// ReopenContainerLog: the old file is rotated away, new lines land in
	// a new one.
	os.Rename(logPath, logPath+".1")
	if _, err := d.rt.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: id}); err != nil {
		t.Errorf("ReopenContainerLog: %v", err)
	}
	if _, err := d.rt.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: id,
		Linux: &runtimeapi.LinuxContainerResources{CpuShares: 512}}); err != nil {
		t.Errorf("UpdateContainerResources: %v", err)
	} else if res := d.ctrStatus(t, id).GetResources().GetLinux(); res.GetCpuShares() != 512 {
		t.Errorf("resources after update: %v", res)
	}

	// Stop: the image's STOPSIGNAL (SIGUSR1) reaches the trap.
	start := time.Now()
	if _, err := d.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 10}); err != nil {
		t.Fatalf("StopContainer: %v", err)
	}
	st = d.ctrStatus(t, id)
	if st.State != runtimeapi.ContainerState_CONTAINER_EXITED || st.ExitCode != 42 || st.Reason != "Error" || st.FinishedAt == 0 {
		t.Errorf("after StopContainer (%v): %v", time.Since(start), st)
	}
	waitFile(t, logPath, "got-stop-signal")
	if _, err := d.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 1}); err != nil {
		t.Errorf("second StopContainer: %v", err)
	}
	if _, err := d.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"true"}}); err == nil {
		t.Error("ExecSync in an exited container succeeded")
	} else {
		wantCode(t, "ExecSync exited", err, codes.FailedPrecondition)
	}
	for i := 0; i < 2; i++ {
		if _, err := d.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
			t.Fatalf("RemoveContainer #%d: %v", i+1, err)
		}
	}
	if _, err := d.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id}); err == nil {
		t.Error("status of a removed container")
	} else {
		wantCode(t, "ContainerStatus removed", err, codes.NotFound)
	}
	for i := 0; i < 2; i++ {
		if _, err := d.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID}); err != nil {
			t.Fatalf("StopPodSandbox #%d: %v", i+1, err)
		}
	}
	ps, err = d.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: podID})
	if err != nil || ps.Status.State != runtimeapi.PodSandboxState_SANDBOX_NOTREADY {
		t.Errorf("stopped pod: %v %v", ps, err)
	}
	for i := 0; i < 2; i++ {
		if _, err := d.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
			t.Fatalf("RemovePodSandbox #%d: %v", i+1, err)
		}
	}
	if l, _ := d.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{}); len(l.GetItems()) != 0 {
		t.Errorf("pods left: %v", l.Items)
	}
	if m := mountsUnder(d.cfg.Root); len(m) != 0 {
		t.Errorf("mounts left: %v", m)
	}

	// Events: created, started, stopped, deleted, in order.
	var got []runtimeapi.ContainerEventType
	for len(got) < 4 {
		ev, err := evs.Recv()
		if err != nil {
			t.Fatalf("events: %v (got %v)", err, got)
		}
		if ev.ContainerId == id {
			got = append(got, ev.ContainerEventType)
		}
	}
	wantEv := []runtimeapi.ContainerEventType{
		runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT, runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT,
		runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT, runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT,
	}
	for i := range wantEv {
		if got[i] != wantEv[i] {
			t.Errorf("events %v, want %v", got, wantEv)
			break
		}
	}
}

// TestExecStreaming runs commands through CRI Exec and the streaming
// server with client-go's SPDY executor: stdin to stdout, stderr apart,
// exit codes, and a tty.
func TestExecStreaming(t *testing.T) {
	e := newPodEnv(t)
	d := startPodDaemon(t, filepath.Join(t.TempDir(), "root"), e.certs)
	d.pull(t, e.image)
	ctx := ctxT(t)
	pcfg := podConfigFor("stream", t.TempDir())
	podID := d.runPod(t, pcfg)
	id := d.createStart(t, podID, pcfg, ctrConfig("app", e.image, "exec sleep 1000"))

	run := func(req *runtimeapi.ExecRequest, stdin string) (string, string, error) {
		t.Helper()
		resp, err := d.rt.Exec(ctx, req)
		if err != nil {
			t.Fatalf("Exec: %v", err)
		}
		u, err := url.Parse(resp.Url)
		if err != nil {
			t.Fatal(err)
		}
		ex, err := remotecommand.NewSPDYExecutor(&restclient.Config{}, "POST", u)
		if err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		opts := remotecommand.StreamOptions{Tty: req.Tty}
		if req.Stdin {
			opts.Stdin = strings.NewReader(stdin)
		}
		if req.Stdout {
			opts.Stdout = &stdout
		}
		if req.Stderr {
			opts.Stderr = &stderr
		}
		err = ex.StreamWithContext(ctx, opts)
		return stdout.String(), stderr.String(), err
	}
	out, errOut, err := run(&runtimeapi.ExecRequest{ContainerId: id, Cmd: []string{"/bin/sh", "-c", "cat; echo to-err >&2"},
		Stdin: true, Stdout: true, Stderr: true}, "through stdin\n")
	if err != nil || out != "through stdin\n" || errOut != "to-err\n" {
		t.Errorf("exec with stdin: %q %q %v", out, errOut, err)
	}
	_, _, err = run(&runtimeapi.ExecRequest{ContainerId: id, Cmd: []string{"/bin/sh", "-c", "exit 5"}, Stdout: true}, "")
	var ce exec.CodeExitError
	if !errors.As(err, &ce) || ce.Code != 5 {
		t.Errorf("exit 5 through Exec: %v", err)
	}
	out, _, err = run(&runtimeapi.ExecRequest{ContainerId: id, Cmd: []string{"/bin/sh", "-c", "test -t 0 && echo is-a-tty"},
		Stdin: true, Stdout: true, Tty: true}, "")
	if err != nil || !strings.Contains(out, "is-a-tty") {
		t.Errorf("exec with a tty: %q %v", out, err)
	}

	_, err = d.rt.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: "nope", Cmd: []string{"true"}, Stdout: true})
	wantCode(t, "Exec unknown container", err, codes.NotFound)
	if _, err = d.rt.Attach(ctx, &runtimeapi.AttachRequest{ContainerId: id, Stdout: true}); err != nil {
		t.Errorf("Attach: %v", err) // attach_test.go drives it
	}
	if _, err = d.rt.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: podID, Port: []int32{80}}); err != nil {
		t.Errorf("PortForward: %v", err) // portforward_test.go drives it
	}
	_, err = d.rt.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: "nope", Port: []int32{80}})
	wantCode(t, "PortForward unknown pod", err, codes.NotFound)
}
