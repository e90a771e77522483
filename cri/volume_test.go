package cri

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestVolumeBindsLiveInTheGofer: a container's volume binds exist only in
// its gofer's mount namespace (the host has nothing below the rootfs
// mount once it is created); a host tmpfs used as a read-only volume can
// be unmounted and its directory removed while the container runs (what
// critest's "Mount Readonly" cleanup does; EBUSY when our bind sat in
// the host namespace), and the container keeps reading it; a mount the
// host makes below a volume after the start reaches the container with
// PROPAGATION_HOST_TO_CONTAINER only, not with PROPAGATION_PRIVATE (the
// sources are shared mounts, as critest makes them: the difference is
// ours, not the source's); the status reports each mount's propagation.
// Nothing here uses mount(2) inside the sandbox.
func TestVolumeBindsLiveInTheGofer(t *testing.T) {
	e := newPodEnv(t)
	root := filepath.Join(t.TempDir(), "root")
	d := startPodDaemon(t, root, e.certs)
	d.pull(t, e.image)
	ctx := ctxT(t)
	pcfg := podConfigFor("vol", t.TempDir())
	podID := d.runPod(t, pcfg)

	host := t.TempDir()
	tmpfs := filepath.Join(host, "tmpfs")
	os.Mkdir(tmpfs, 0o755)
	if err := unix.Mount("none", tmpfs, "tmpfs", 0, ""); err != nil {
		t.Skip("cannot mount a tmpfs:", err)
	}
	defer unix.Unmount(tmpfs, unix.MNT_DETACH)
	if err := os.WriteFile(filepath.Join(tmpfs, "keep"), []byte("kept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// critest's shape: a directory with a tmpfs mounted below it.
	nest := filepath.Join(host, "nest")
	os.MkdirAll(filepath.Join(nest, "tmpfs"), 0o755)
	if err := unix.Mount("none", filepath.Join(nest, "tmpfs"), "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(filepath.Join(nest, "tmpfs"), unix.MNT_DETACH)
	flag := filepath.Join(host, "flag")
	os.Mkdir(flag, 0o755)
	os.WriteFile(filepath.Join(flag, "flagFile"), nil, 0o644)
	// Two volume sources, each a shared bind of itself with an empty
	// directory "mnt" in it.
	shared := func(name string) string {
		dir := filepath.Join(host, name)
		os.MkdirAll(filepath.Join(dir, "mnt"), 0o755)
		if err := unix.Mount(dir, dir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
		if err := unix.Mount("", dir, "", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	priv, slave := shared("priv"), shared("slave")

	cfg := ctrConfig("vol", e.image, "sleep 1000")
	cfg.Mounts = []*runtimeapi.Mount{
		{ContainerPath: "/ro", HostPath: tmpfs, Readonly: true},
		{ContainerPath: "/nest", HostPath: nest, Readonly: true, RecursiveReadOnly: true},
		{ContainerPath: "/priv", HostPath: priv, Propagation: runtimeapi.MountPropagation_PROPAGATION_PRIVATE},
		{ContainerPath: "/slave", HostPath: slave, Propagation: runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER},
	}
	r, err := d.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pcfg})
	if err != nil {
		t.Fatal(err)
	}
	id := r.ContainerId
	rootfs := filepath.Join(d.srv.containerDir(id), "rootfs")
	if m := mountsUnder(rootfs); len(m) != 0 {
		t.Errorf("after CreateContainer, host mounts below the rootfs: %v", m)
	}
	if m := mountsUnder(filepath.Join(root, containersDir)); len(m) != 1 || m[0] != rootfs {
		t.Errorf("after CreateContainer, host mounts in the container directories: %v, want only %s", m, rootfs)
	}
	if _, err := d.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	if m := mountsUnder(rootfs); len(m) != 0 {
		t.Errorf("after StartContainer, host mounts below the rootfs: %v", m)
	}
	st := d.ctrStatus(t, id)
	if len(st.Mounts) != 4 || st.Mounts[2].Propagation != runtimeapi.MountPropagation_PROPAGATION_PRIVATE ||
		st.Mounts[3].Propagation != runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER {
		t.Errorf("status mounts: %v", st.Mounts)
	}
	run := func(cmd ...string) string {
		t.Helper()
		r := d.exec(t, id, 10, cmd...)
		if r.ExitCode != 0 {
			t.Errorf("%q: exit %d, stderr %q", cmd, r.ExitCode, r.Stderr)
		}
		return string(r.Stdout)
	}
	if s := run("cat", "/ro/keep"); s != "kept\n" {
		t.Errorf("read-only volume: %q", s)
	}
	if r := d.exec(t, id, 10, "touch", "/ro/new"); r.ExitCode == 0 {
		t.Error("a write went through the read-only volume")
	}
	if r := d.exec(t, id, 10, "touch", "/nest/tmpfs/new"); r.ExitCode == 0 {
		t.Error("a write went through the recursively read-only volume")
	}

	// Host mounts below both sources after the start, before the
	// container looks at the mount points, as in critest (volume_update_test.go
	// covers mounts made after the container has looked).
	for _, dir := range []string{priv, slave} {
		mp := filepath.Join(dir, "mnt")
		if err := unix.Mount(flag, mp, "", unix.MS_BIND, ""); err != nil {
			t.Fatal(err)
		}
		defer unix.Unmount(mp, unix.MNT_DETACH)
	}
	if s := run("ls", "-A", "/priv/mnt"); s != "" {
		t.Errorf("PROPAGATION_PRIVATE: the host's later mount is visible: %q", s)
	}
	if s := run("ls", "-A", "/slave/mnt"); s != "flagFile\n" {
		t.Errorf("PROPAGATION_HOST_TO_CONTAINER: the host's later mount is not visible: ls gives %q", s)
	}

	// critest's cleanup: unmount the tmpfs below the volume, remove the
	// directory (EBUSY if a bind of ours held the tmpfs in the host's
	// namespace).
	if err := unix.Unmount(filepath.Join(nest, "tmpfs"), unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(nest); err != nil {
		t.Errorf("removing a volume's host directory while the container runs: %v", err)
	}
	// A tmpfs volume goes away on the host; the container still reads it.
	if err := unix.Unmount(tmpfs, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(tmpfs); err != nil {
		t.Errorf("removing the host directory of a volume while the container runs: %v", err)
	}
	if s := run("cat", "/ro/keep"); s != "kept\n" {
		t.Errorf("read-only volume after the host let it go: %q", s)
	}

	if _, err := d.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	if m := mountsUnder(filepath.Join(root, containersDir)); len(m) != 0 {
		t.Errorf("after RemoveContainer, host mounts left: %v", m)
	}
	if p := waitNoProcessesUnder(filepath.Join(root, containersDir)); len(p) != 0 {
		t.Errorf("after RemoveContainer, processes left: %v", p)
	}
}

// TestVolumePropagationRefused: bidirectional propagation is refused
// (the container's mounts are the sentry's), as is a recursive read-only
// mount with any propagation but private; nothing is left behind.
func TestVolumePropagationRefused(t *testing.T) {
	e := newPodEnv(t)
	root := filepath.Join(t.TempDir(), "root")
	d := startPodDaemon(t, root, e.certs)
	d.pull(t, e.image)
	ctx := ctxT(t)
	pcfg := podConfigFor("volbad", t.TempDir())
	podID := d.runPod(t, pcfg)
	for _, tc := range []struct {
		m    *runtimeapi.Mount
		code codes.Code
	}{
		{&runtimeapi.Mount{ContainerPath: "/v", HostPath: t.TempDir(), Propagation: runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL}, codes.Unimplemented},
		{&runtimeapi.Mount{ContainerPath: "/v", HostPath: t.TempDir(), Readonly: true, RecursiveReadOnly: true,
			Propagation: runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER}, codes.InvalidArgument},
	} {
		cfg := ctrConfig("bad", e.image, "true")
		cfg.Mounts = []*runtimeapi.Mount{tc.m}
		_, err := d.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pcfg})
		wantCode(t, "CreateContainer "+strings.ToLower(tc.m.Propagation.String()), err, tc.code)
	}
	if m := mountsUnder(filepath.Join(root, containersDir)); len(m) != 0 {
		t.Errorf("mounts left: %v", m)
	}
}

// TestRemoveContainerResolvesNothingInTheRootfs: a container that
// replaces a volume's parent directory by a symlink to a host directory
// holding a mount of the volume's name cannot make RemoveContainer
// unmount that host mount (no path inside the rootfs is resolved on the
// host after the start).
func TestRemoveContainerResolvesNothingInTheRootfs(t *testing.T) {
	e := newPodEnv(t)
	root := filepath.Join(t.TempDir(), "root")
	d := startPodDaemon(t, root, e.certs)
	d.pull(t, e.image)
	pcfg := podConfigFor("symlinks", t.TempDir())
	podID := d.runPod(t, pcfg)
	victim := t.TempDir()
	for _, name := range []string{"vol"} {
		mp := filepath.Join(victim, name)
		os.Mkdir(mp, 0o755)
		if err := unix.Mount("none", mp, "tmpfs", 0, ""); err != nil {
			t.Skip("cannot mount a tmpfs:", err)
		}
		defer unix.Unmount(mp, unix.MNT_DETACH)
	}
	cfg := ctrConfig("sym", e.image, "sleep 1000")
	cfg.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{RunAsUser: &runtimeapi.Int64Value{Value: 0}}}
	cfg.Mounts = []*runtimeapi.Mount{{ContainerPath: "/data/vol", HostPath: t.TempDir()}}
	id := d.createStart(t, podID, pcfg, cfg)
	// (/etc comes from the image's lower layer: overlayfs refuses to
	// rename it, EXDEV; /data was made in the upper layer.)
	r := d.exec(t, id, 10, "sh", "-c", "mv /data /data.old && ln -s "+victim+" /data")
	if r.ExitCode != 0 {
		t.Fatalf("replacing directories by symlinks: %d %s", r.ExitCode, r.Stderr)
	}
	if _, err := d.rt.RemoveContainer(ctxT(t), &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"vol"} {
		if m := mountsUnder(victim); !slices.Contains(m, filepath.Join(victim, name)) {
			t.Errorf("the host's mount %s is gone: %v", name, m)
		}
	}
}
