package cri

import (
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestPodPIDModes: a pod whose containers share its PID namespace
// (NamespaceMode POD, also what an unset option means) has the infra
// process as PID 1, as with containerd's pause; with CONTAINER (the
// kubelet's default) the first container's init is PID 1.
func TestPodPIDModes(t *testing.T) {
	e := newPodEnv(t)
	d := startPodDaemon(t, t.TempDir()+"/root", e.certs)
	d.pull(t, e.image)
	for _, c := range []struct {
		mode runtimeapi.NamespaceMode
		want string
	}{
		{runtimeapi.NamespaceMode_POD, "/pause"},
		{runtimeapi.NamespaceMode_CONTAINER, "sleep1000"},
	} {
		pcfg := podConfigFor("pid-"+strings.ToLower(c.mode.String()), t.TempDir())
		pcfg.Linux.SecurityContext.NamespaceOptions.Pid = c.mode
		podID := d.runPod(t, pcfg)
		id := d.createStart(t, podID, pcfg, ctrConfig("c", e.image, "sleep 1000"))
		r := d.exec(t, id, 10, "sh", "-c", `tr -d '\000' < /proc/1/cmdline`)
		if got := string(r.Stdout); r.ExitCode != 0 || got != c.want {
			t.Errorf("%s: PID 1 is %q (exit %d, %s), want %q", c.mode, got, r.ExitCode, r.Stderr, c.want)
		}
	}
}
