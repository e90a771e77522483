package cri

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestSecurityContextAndImageVolumes: capabilities (drop ALL, add
// SYS_ADMIN, privileged), masked and read-only paths, the pod's sysctls,
// image volumes (whole and a sub-path, read-only, their image_ref in the
// status, released on removal) and the requests refused with a reason.
func TestSecurityContextAndImageVolumes(t *testing.T) {
	e := newPodEnv(t)
	root := filepath.Join(t.TempDir(), "root")
	d := startPodDaemon(t, root, e.certs)
	d.pull(t, e.image)
	ctx := ctxT(t)
	pcfg := podConfigFor("sec", t.TempDir())
	pcfg.Linux = &runtimeapi.LinuxPodSandboxConfig{
		Sysctls:         map[string]string{"kernel.shm_rmid_forced": "1", "net.ipv4.ip_unprivileged_port_start": "0"},
		SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{Privileged: true},
	}
	podID := d.runPod(t, pcfg)
	asRoot := func(sc *runtimeapi.LinuxContainerSecurityContext) *runtimeapi.LinuxContainerConfig {
		sc.RunAsUser = &runtimeapi.Int64Value{Value: 0}
		return &runtimeapi.LinuxContainerConfig{SecurityContext: sc}
	}
	out := func(id string, cmd ...string) (int32, string) {
		r := d.exec(t, id, 10, cmd...)
		return r.ExitCode, string(r.Stdout) + string(r.Stderr)
	}

	// Capabilities.
	none := ctrConfig("none", e.image, "sleep 1000")
	none.Linux = asRoot(&runtimeapi.LinuxContainerSecurityContext{Capabilities: &runtimeapi.Capability{DropCapabilities: []string{"ALL"}}})
	noneID := d.createStart(t, podID, pcfg, none)
	if _, s := out(noneID, "cat", "/proc/self/status"); !regexp.MustCompile(`CapBnd:\s0000000000000000\n`).MatchString(s) {
		t.Errorf("drop ALL: %s", s)
	}
	if code, _ := out(noneID, "hostname", "nope"); code == 0 {
		t.Error("sethostname without CAP_SYS_ADMIN succeeded")
	}
	admin := ctrConfig("admin", e.image, "sleep 1000")
	admin.Linux = asRoot(&runtimeapi.LinuxContainerSecurityContext{Capabilities: &runtimeapi.Capability{AddCapabilities: []string{"CAP_SYS_ADMIN"}}})
	adminID := d.createStart(t, podID, pcfg, admin)
	if code, s := out(adminID, "hostname", "renamed"); code != 0 {
		t.Errorf("sethostname with CAP_SYS_ADMIN: %s", s)
	}
	if _, s := out(adminID, "cat", "/proc/self/status"); !strings.Contains(s, "CapEff:\t00000000a82425fb\n") {
		t.Errorf("default set + SYS_ADMIN: %s", s)
	}
	priv := ctrConfig("priv", e.image, "sleep 1000")
	priv.Linux = asRoot(&runtimeapi.LinuxContainerSecurityContext{Privileged: true, MaskedPaths: []string{"/work/hello"}})
	privID := d.createStart(t, podID, pcfg, priv)
	if _, s := out(privID, "cat", "/proc/self/status", "/work/hello"); !strings.Contains(s, "CapEff:\t000001ffffffffff\n") || !strings.Contains(s, "hello from the image") {
		t.Errorf("privileged (all capabilities, nothing masked): %s", s)
	}
	nonRoot := ctrConfig("nonroot", e.image, "sleep 1000")
	nonRootID := d.createStart(t, podID, pcfg, nonRoot)
	if _, s := out(nonRootID, "cat", "/proc/self/status"); !strings.Contains(s, "CapEff:\t0000000000000000\n") || !strings.Contains(s, "CapBnd:\t00000000a80425fb\n") {
		t.Errorf("the image's user alice: %s", s)
	}

	// Masked and read-only paths, sysctls.
	masked := ctrConfig("masked", e.image, "sleep 1000")
	masked.Linux = asRoot(&runtimeapi.LinuxContainerSecurityContext{MaskedPaths: []string{"/work/hello", "/proc/kcore"}, ReadonlyPaths: []string{"/tmp", "/proc/sys"}})
	maskedID := d.createStart(t, podID, pcfg, masked)
	if code, s := out(maskedID, "cat", "/work/hello"); code != 0 || s != "" {
		t.Errorf("masked file: %d %q", code, s)
	}
	if code, s := out(maskedID, "touch", "/tmp/x"); code == 0 || !strings.Contains(s, "Read-only file system") {
		t.Errorf("read-only path: %d %q", code, s)
	}
	if code, s := out(maskedID, "cat", "/proc/sys/kernel/shm_rmid_forced", "/proc/sys/net/ipv4/ip_unprivileged_port_start"); code != 0 || s != "1\n0\n" {
		t.Errorf("sysctls: %d %q", code, s)
	}

	// Image volumes.
	vol := ctrConfig("vol", e.image, "sleep 1000")
	vol.Mounts = []*runtimeapi.Mount{
		{ContainerPath: "/iv", Readonly: true, Image: &runtimeapi.ImageSpec{Image: e.image}},
		{ContainerPath: "/ivsub", Readonly: true, Image: &runtimeapi.ImageSpec{Image: e.image}, ImageSubPath: "work"},
	}
	volID := d.createStart(t, podID, pcfg, vol)
	if code, s := out(volID, "cat", "/iv/work/hello", "/ivsub/hello"); code != 0 || s != "hello from the image\nhello from the image\n" {
		t.Errorf("image volumes: %d %q", code, s)
	}
	if code, _ := out(volID, "touch", "/iv/x"); code == 0 {
		t.Error("an image volume took a write")
	}
	for _, m := range d.ctrStatus(t, volID).Mounts {
		if !strings.HasPrefix(m.GetImage().GetImageRef(), "sha256:") {
			t.Errorf("status mount %s: image_ref %q", m.ContainerPath, m.GetImage().GetImageRef())
		}
	}
	if _, err := d.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: volID}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, containersDir, volID)); !os.IsNotExist(err) {
		t.Errorf("the container directory is left: %v", err)
	}
	if left := mountsUnder(root); len(left) > 0 {
		for _, m := range left {
			if strings.Contains(m, volID) {
				t.Errorf("mount left after removal: %s", m)
			}
		}
	}

	// Refused requests.
	bad := func(name string, code codes.Code, change func(*runtimeapi.ContainerConfig)) {
		t.Helper()
		c := ctrConfig(name, e.image, "true")
		change(c)
		_, err := d.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: c, SandboxConfig: pcfg})
		wantCode(t, name, err, code)
	}
	bad("rw-image-volume", codes.InvalidArgument, func(c *runtimeapi.ContainerConfig) {
		c.Mounts = []*runtimeapi.Mount{{ContainerPath: "/iv", Image: &runtimeapi.ImageSpec{Image: e.image}}}
	})
	bad("missing-subpath", codes.InvalidArgument, func(c *runtimeapi.ContainerConfig) {
		c.Mounts = []*runtimeapi.Mount{{ContainerPath: "/iv", Readonly: true, Image: &runtimeapi.ImageSpec{Image: e.image}, ImageSubPath: "no/such"}}
	})
	bad("unknown-cap", codes.InvalidArgument, func(c *runtimeapi.ContainerConfig) {
		c.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{Capabilities: &runtimeapi.Capability{AddCapabilities: []string{"FLY"}}}}
	})
	bad("localhost-seccomp", codes.InvalidArgument, func(c *runtimeapi.ContainerConfig) {
		c.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
			Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "/p.json"}}}
	})
	bad("propagation", codes.Unimplemented, func(c *runtimeapi.ContainerConfig) {
		c.Mounts = []*runtimeapi.Mount{{ContainerPath: "/m", HostPath: t.TempDir(), Propagation: runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL}}
	})
	bad("rro-not-ro", codes.InvalidArgument, func(c *runtimeapi.ContainerConfig) {
		c.Mounts = []*runtimeapi.Mount{{ContainerPath: "/m", HostPath: t.TempDir(), RecursiveReadOnly: true}}
	})

	// Pods refused: the host's namespaces, a sysctl the sandbox lacks.
	hostNet := podConfigFor("hostnet", t.TempDir())
	hostNet.Linux = &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
		NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE}}}
	_, err := d.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: hostNet})
	wantCode(t, "host network pod", err, codes.Unimplemented)
	badSysctl := podConfigFor("badsysctl", t.TempDir())
	badSysctl.Linux = &runtimeapi.LinuxPodSandboxConfig{Sysctls: map[string]string{"kernel.no_such_knob": "1"}}
	if _, err := d.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: badSysctl}); err == nil || !strings.Contains(err.Error(), "no_such_knob") {
		t.Errorf("a pod with an unknown sysctl: %v", err)
	}
	// A privileged container in a pod that is not.
	plainPod := podConfigFor("plainpod", t.TempDir())
	plainID := d.runPod(t, plainPod)
	c := ctrConfig("priv2", e.image, "true")
	c.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{Privileged: true}}
	_, err = d.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: plainID, Config: c, SandboxConfig: plainPod})
	wantCode(t, "privileged container in an unprivileged pod", err, codes.InvalidArgument)
}
