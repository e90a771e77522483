package cri

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestVolumeHostChangesSeen: host-path directory volumes are served on
// connections of their own and mounted by the sentry in its revalidating
// mode, so what the host (the kubelet) changes in a volume while the
// container runs is seen at the container's next lookup, even for names
// the container has already looked up: a file rewritten in place or
// replaced by a rename, a file created after the container found it
// missing, a file removed, a ConfigMap-style update (a new timestamped
// directory, the "..data" symlink swapped by a rename, the old directory
// removed; several updates between two reads), and a mount the host makes
// below a PROPAGATION_HOST_TO_CONTAINER volume after the container has
// listed the mount point (and its removal), never below a
// PROPAGATION_PRIVATE one. Each volume is a mount of its own in the
// sandbox. File volumes too: a file rewritten on the host shows its new
// size, the kubelet's /dev/termination-log (below the sandbox's own /dev)
// reaches the host, a read-only one refuses writes. Also: volumes given
// child first are bound parent first; below a plain read-only volume a
// writable host mount stays writable.
func TestVolumeHostChangesSeen(t *testing.T) {
	e := newPodEnv(t)
	root := filepath.Join(t.TempDir(), "root")
	d := startPodDaemon(t, root, e.certs)
	d.pull(t, e.image)
	pcfg := podConfigFor("volupd", t.TempDir())
	podID := d.runPod(t, pcfg)

	host := t.TempDir()
	files := filepath.Join(host, "files")
	os.Mkdir(files, 0o755)
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(files, "f"), "one\n")
	write(filepath.Join(files, "gone"), "here\n")

	// A ConfigMap volume as the kubelet's atomic writer lays it out.
	cm := filepath.Join(host, "cm")
	os.Mkdir(cm, 0o755)
	version := 0
	update := func(value string) {
		t.Helper()
		version++
		dir := fmt.Sprintf("..2026_11_22_%02d", version)
		os.Mkdir(filepath.Join(cm, dir), 0o755)
		write(filepath.Join(cm, dir, "key"), value)
		old, _ := os.Readlink(filepath.Join(cm, "..data"))
		if err := os.Symlink(dir, filepath.Join(cm, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(cm, "..data_tmp"), filepath.Join(cm, "..data")); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(filepath.Join(cm, "key")); err != nil {
			os.Symlink("..data/key", filepath.Join(cm, "key"))
		}
		if old != "" {
			if err := os.RemoveAll(filepath.Join(cm, old)); err != nil {
				t.Fatal(err)
			}
		}
	}
	update("v1\n")

	// Two shared sources with an empty "mnt" (critest's propagation shape).
	flag := filepath.Join(host, "flag")
	os.Mkdir(flag, 0o755)
	write(filepath.Join(flag, "flagFile"), "")
	shared := func(name string) string {
		dir := filepath.Join(host, name)
		os.MkdirAll(filepath.Join(dir, "mnt"), 0o755)
		if err := unix.Mount(dir, dir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			t.Skip("cannot bind-mount:", err)
		}
		t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
		if err := unix.Mount("", dir, "", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	priv, slave := shared("priv"), shared("slave")

	// A plain read-only volume with a writable tmpfs below it.
	ro := filepath.Join(host, "ro")
	os.MkdirAll(filepath.Join(ro, "tmpfs"), 0o755)
	if err := unix.Mount("none", filepath.Join(ro, "tmpfs"), "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(filepath.Join(ro, "tmpfs"), unix.MNT_DETACH)

	// File volumes: the kubelet's termination log (below the sandbox's
	// own /dev), a configuration file, a read-only one.
	termLog, conf, roConf := filepath.Join(host, "termination-log"), filepath.Join(host, "app.conf"), filepath.Join(host, "ro.conf")
	write(termLog, "")
	os.Chmod(termLog, 0o666)
	write(conf, "a=1\n")
	write(roConf, "ro\n")

	outer, inner := filepath.Join(host, "outer"), filepath.Join(host, "inner")
	os.Mkdir(outer, 0o755)
	os.Mkdir(inner, 0o755)
	write(filepath.Join(outer, "o"), "outer\n")
	write(filepath.Join(inner, "i"), "inner\n")

	cfg := ctrConfig("upd", e.image, "sleep 1000")
	cfg.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{RunAsUser: &runtimeapi.Int64Value{Value: 0}}}
	cfg.Mounts = []*runtimeapi.Mount{
		{ContainerPath: "/files", HostPath: files},
		{ContainerPath: "/etc/config", HostPath: cm, Readonly: true},
		{ContainerPath: "/priv", HostPath: priv, Propagation: runtimeapi.MountPropagation_PROPAGATION_PRIVATE},
		{ContainerPath: "/slave", HostPath: slave, Propagation: runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER},
		{ContainerPath: "/ro", HostPath: ro, Readonly: true},
		{ContainerPath: "/nest/inner", HostPath: inner},
		{ContainerPath: "/nest", HostPath: outer},
		{ContainerPath: "/dev/termination-log", HostPath: termLog},
		{ContainerPath: "/etc/app.conf", HostPath: conf},
		{ContainerPath: "/etc/ro.conf", HostPath: roConf, Readonly: true},
	}
	id := d.createStart(t, podID, pcfg, cfg)
	run := func(want string, cmd ...string) {
		t.Helper()
		r := d.exec(t, id, 10, cmd...)
		if r.ExitCode != 0 || string(r.Stdout) != want {
			t.Errorf("%q: exit %d, stdout %q (want %q), stderr %q", cmd, r.ExitCode, r.Stdout, want, r.Stderr)
		}
	}
	fails := func(cmd ...string) {
		t.Helper()
		if r := d.exec(t, id, 10, cmd...); r.ExitCode == 0 {
			t.Errorf("%q succeeded: %q", cmd, r.Stdout)
		}
	}

	// Each directory volume is a mount of its own in the sandbox.
	r := d.exec(t, id, 10, "cat", "/proc/mounts")
	for _, p := range []string{"/files", "/etc/config", "/priv", "/slave", "/ro", "/nest", "/nest/inner", "/dev/termination-log", "/etc/app.conf"} {
		if !strings.Contains(string(r.Stdout), " "+p+" ") {
			t.Errorf("no mount at %s in /proc/mounts:\n%s", p, r.Stdout)
		}
	}

	// Files.
	run("one\n", "cat", "/files/f")
	write(filepath.Join(files, "f"), "two, longer\n")
	run("two, longer\n", "cat", "/files/f")
	write(filepath.Join(files, "f.tmp"), "three\n")
	if err := os.Rename(filepath.Join(files, "f.tmp"), filepath.Join(files, "f")); err != nil {
		t.Fatal(err)
	}
	run("three\n", "cat", "/files/f")
	fails("test", "-e", "/files/new")
	write(filepath.Join(files, "new"), "new\n")
	run("new\n", "cat", "/files/new")
	run("here\n", "cat", "/files/gone")
	os.Remove(filepath.Join(files, "gone"))
	fails("test", "-e", "/files/gone")
	run("f\nnew\n", "ls", "/files")
	// The container's own writes reach the host.
	run("", "sh", "-c", "echo mine > /files/mine")
	if b, _ := os.ReadFile(filepath.Join(files, "mine")); string(b) != "mine\n" {
		t.Errorf("the container's write: host has %q", b)
	}

	// ConfigMap updates.
	run("v1\n", "cat", "/etc/config/key")
	update("v2\n")
	run("v2\n", "cat", "/etc/config/key")
	for _, v := range []string{"v3\n", "v4\n", "v5\n"} {
		update(v) // several updates between two reads
	}
	run("v5\n", "cat", "/etc/config/key")
	run("..2026_11_22_05\n", "busybox", "readlink", "/etc/config/..data")
	fails("touch", "/etc/config/x")

	// Propagation: the container lists the mount points first.
	run("", "ls", "-A", "/priv/mnt")
	run("", "ls", "-A", "/slave/mnt")
	for _, dir := range []string{priv, slave} {
		if err := unix.Mount(flag, filepath.Join(dir, "mnt"), "", unix.MS_BIND, ""); err != nil {
			t.Fatal(err)
		}
		defer unix.Unmount(filepath.Join(dir, "mnt"), unix.MNT_DETACH)
	}
	run("", "ls", "-A", "/priv/mnt")
	run("flagFile\n", "ls", "-A", "/slave/mnt")
	if err := unix.Unmount(filepath.Join(slave, "mnt"), unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	run("", "ls", "-A", "/slave/mnt")

	// Read-only: the bind refuses writes, the host mount below it does not.
	fails("touch", "/ro/x")
	run("", "touch", "/ro/tmpfs/x")

	// Nested volumes given child first.
	run("outer\n", "cat", "/nest/o")
	run("inner\n", "cat", "/nest/inner/i")
	write(filepath.Join(inner, "i2"), "inner2\n")
	run("inner2\n", "cat", "/nest/inner/i2")

	// File volumes.
	run("", "sh", "-c", "echo bye > /dev/termination-log")
	if b, _ := os.ReadFile(termLog); string(b) != "bye\n" {
		t.Errorf("termination log on the host: %q", b)
	}
	run("4\n", "sh", "-c", "wc -c < /etc/app.conf")
	write(conf, "a=1\nb=2\n")
	run("8\n", "sh", "-c", "wc -c < /etc/app.conf")
	run("a=1\nb=2\n", "cat", "/etc/app.conf")
	run("ro\n", "cat", "/etc/ro.conf")
	fails("sh", "-c", "echo x >> /etc/ro.conf")
	if b, _ := os.ReadFile(roConf); string(b) != "ro\n" {
		t.Errorf("read-only file volume written: %q", b)
	}

	// Files bound from the pod stay what they were.
	run("volupd-host\n", "cat", "/etc/hostname")

	if _, err := d.rt.RemoveContainer(ctxT(t), &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	if p := waitNoProcessesUnder(filepath.Join(root, containersDir)); len(p) != 0 {
		t.Errorf("after RemoveContainer, processes left: %v", p)
	}
}

// TestVolumeUpdateAcrossDaemonRestart: the volume connections belong to
// the sentry and the gofer, not the daemon: after a daemon restart a host
// change is still seen, and removing the container ends its gofer (which
// serves its rootfs and its volume).
func TestVolumeUpdateAcrossDaemonRestart(t *testing.T) {
	e := newPodEnv(t)
	root := filepath.Join(t.TempDir(), "root")
	d1 := startPodDaemon(t, root, e.certs)
	d1.pull(t, e.image)
	pcfg := podConfigFor("volrestart", t.TempDir())
	podID := d1.runPod(t, pcfg)
	vol := t.TempDir()
	f := filepath.Join(vol, "f")
	os.WriteFile(f, []byte("before\n"), 0o644)
	cfg := ctrConfig("r", e.image, "sleep 1000")
	cfg.Mounts = []*runtimeapi.Mount{{ContainerPath: "/vol", HostPath: vol}}
	id := d1.createStart(t, podID, pcfg, cfg)
	if r := d1.exec(t, id, 10, "cat", "/vol/f"); string(r.Stdout) != "before\n" {
		t.Fatalf("cat: %q %q", r.Stdout, r.Stderr)
	}
	if err := d1.stop(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(f+".new", []byte("after\n"), 0o644)
	os.Rename(f+".new", f)
	d2 := startPodDaemon(t, root, e.certs)
	if r := d2.exec(t, id, 10, "cat", "/vol/f"); string(r.Stdout) != "after\n" {
		t.Errorf("after the restart: %q %q", r.Stdout, r.Stderr)
	}
	if _, err := d2.rt.RemoveContainer(ctxT(t), &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	if p := waitNoProcessesUnder(filepath.Join(root, containersDir)); len(p) != 0 {
		t.Errorf("after RemoveContainer, processes left: %v", p)
	}
}

// TestVolumePropagationCritest runs critest's "Container Mount
// Propagation" specs for rprivate and rslave as critest does: the volume's
// container path is its host path; the host mounts a directory below the
// source after the start, the container lists it, then (privileged)
// bind-mounts /etc on a directory it creates in the volume, which the host
// must see empty (the container's mounts are the sandbox's).
func TestVolumePropagationCritest(t *testing.T) {
	e := newPodEnv(t)
	root := filepath.Join(t.TempDir(), "root")
	d := startPodDaemon(t, root, e.certs)
	d.pull(t, e.image)
	pcfg := podConfigFor("critestprop", t.TempDir())
	pcfg.Linux = &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{Privileged: true}}
	podID := d.runPod(t, pcfg)
	for _, prop := range []runtimeapi.MountPropagation{runtimeapi.MountPropagation_PROPAGATION_PRIVATE, runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER} {
		t.Run(prop.String(), func(t *testing.T) {
			host := t.TempDir()
			src := filepath.Join(host, "mntSource")
			mnt := filepath.Join(src, "propagationMnt")
			os.MkdirAll(mnt, 0o700)
			srcDir := filepath.Join(host, "propagationSrcDir")
			os.MkdirAll(srcDir, 0o700)
			os.WriteFile(filepath.Join(srcDir, "flagFile"), nil, 0o644)
			if err := unix.Mount(src, src, "bind", unix.MS_BIND|unix.MS_REC, ""); err != nil {
				t.Skip("cannot bind-mount:", err)
			}
			defer unix.Unmount(src, unix.MNT_DETACH)
			flags := uintptr(unix.MS_SHARED | unix.MS_REC)
			if prop == runtimeapi.MountPropagation_PROPAGATION_PRIVATE {
				flags = unix.MS_PRIVATE | unix.MS_REC
			}
			if err := unix.Mount("", src, "", flags, ""); err != nil {
				t.Fatal(err)
			}
			cfg := ctrConfig("prop-"+strings.ToLower(prop.String()[12:]), e.image, "sleep 1000")
			// critest's image runs as root; ours as alice.
			cfg.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{Privileged: true,
				RunAsUser: &runtimeapi.Int64Value{Value: 0}}}
			cfg.Mounts = []*runtimeapi.Mount{{HostPath: src, ContainerPath: src, Propagation: prop}}
			id := d.createStart(t, podID, pcfg, cfg)
			if err := unix.Mount(srcDir, mnt, "bind", unix.MS_BIND, ""); err != nil {
				t.Fatal(err)
			}
			defer unix.Unmount(mnt, unix.MNT_DETACH)
			r := d.exec(t, id, 10, "ls", "-A", mnt)
			switch got := string(r.Stdout); {
			case prop == runtimeapi.MountPropagation_PROPAGATION_PRIVATE && got != "":
				t.Errorf("rprivate: the host's mount is visible: %q", got)
			case prop == runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER && got != "flagFile\n":
				t.Errorf("rslave: the host's mount is not visible: %q %q", got, r.Stderr)
			}
			cmp := filepath.Join(src, "containerMntPoint")
			for _, cmd := range []string{"mkdir -p " + cmp, "busybox mount --bind /etc " + cmp, "ls " + cmp} {
				r := d.exec(t, id, 10, "sh", "-c", cmd)
				if r.ExitCode != 0 {
					t.Errorf("%q: exit %d %q", cmd, r.ExitCode, r.Stderr)
				}
				if strings.HasPrefix(cmd, "ls") && !strings.Contains(string(r.Stdout), "passwd") {
					t.Errorf("the container's bind of /etc: ls gives %q", r.Stdout)
				}
			}
			ents, err := os.ReadDir(cmp)
			if err != nil || len(ents) != 0 {
				t.Errorf("the container's mount reached the host: %v %v", ents, err)
			}
			if _, err := d.rt.RemoveContainer(ctxT(t), &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
