package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestBindInRootStaysInside: symlinks and ".." in a container tree never
// place a bind mount outside it; read-only binds refuse writes.
func TestBindInRootStaysInside(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("bind mounts need root")
	}
	root, outside, src := t.TempDir(), t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644)
	os.Symlink(outside, filepath.Join(root, "abs"))
	os.Symlink("../../../../../../"+outside, filepath.Join(root, "rel"))
	var mounts []string
	defer func() { Unmount(mounts) }()
	for _, dest := range []string{"/abs/m", "/rel/m", "/../../" + outside + "/m", "/ok/deep/m"} {
		hp, err := BindInRoot(root, dest, src, true)
		if err == nil {
			mounts = append(mounts, hp)
			if !strings.HasPrefix(hp, root+"/") {
				t.Errorf("%s: mounted at %s, outside %s", dest, hp, root)
			}
			if err := os.WriteFile(filepath.Join(hp, "new"), nil, 0o644); err == nil {
				t.Errorf("%s: a read-only bind took a write", dest)
			}
		}
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("something was created outside the root: %v", ents)
	}
	if _, err := os.Stat(filepath.Join(root, "ok", "deep", "m", "f")); err != nil {
		t.Errorf("the plain bind is not there: %v", err)
	}
	// A file onto a file.
	file := filepath.Join(t.TempDir(), "hosts")
	os.WriteFile(file, []byte("hosts\n"), 0o644)
	hp, err := BindInRoot(root, "/etc/hosts", file, false)
	if err != nil {
		t.Fatal(err)
	}
	mounts = append(mounts, hp)
	if b, _ := os.ReadFile(filepath.Join(root, "etc", "hosts")); string(b) != "hosts\n" {
		t.Errorf("file bind: %q", b)
	}
	if err := Unmount(mounts); err != nil {
		t.Fatal(err)
	}
	mounts = nil
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(root, "etc", "hosts"), &st); err != nil || st.Size != 0 {
		t.Errorf("after unmount the mount point should be the empty file: %v %d", err, st.Size)
	}
}

func TestWriteEtcFiles(t *testing.T) {
	dir := t.TempDir()
	err := WriteEtcFiles(dir, "web-0", &runtimeapi.DNSConfig{Servers: []string{"10.0.0.10", "10.0.0.11"},
		Searches: []string{"ns.svc.cluster.local", "svc.cluster.local"}, Options: []string{"ndots:5"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "resolv.conf"))
	want := "search ns.svc.cluster.local svc.cluster.local\nnameserver 10.0.0.10\nnameserver 10.0.0.11\noptions ndots:5\n"
	if string(b) != want {
		t.Errorf("resolv.conf %q, want %q", b, want)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "hostname")); string(b) != "web-0\n" {
		t.Errorf("hostname %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "hosts")); !strings.Contains(string(b), "127.0.0.1\tlocalhost\n") || !strings.Contains(string(b), "\tweb-0\n") {
		t.Errorf("hosts %q", b)
	}
}

// TestBindInRootReadOnlyRecursion: a plain read-only bind leaves a mount
// below its source writable (Kubernetes' readOnly); a recursive read-only
// one makes it read-only too (recursiveReadOnly).
func TestBindInRootReadOnlyRecursion(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("bind mounts need root")
	}
	root, src := t.TempDir(), t.TempDir()
	sub := filepath.Join(src, "tmpfs")
	os.Mkdir(sub, 0o755)
	if err := unix.Mount("none", sub, "tmpfs", 0, ""); err != nil {
		t.Skip("cannot mount a tmpfs:", err)
	}
	defer unix.Unmount(sub, unix.MNT_DETACH)
	var mounts []string
	defer func() { Unmount(mounts) }()
	plain, err := BindInRoot(root, "/plain", src, true)
	if err != nil {
		t.Fatal(err)
	}
	mounts = append(mounts, plain)
	rro, err := BindInRootRecursiveRO(root, "/rro", src)
	if err != nil {
		t.Fatal(err)
	}
	mounts = append(mounts, rro)
	if err := os.WriteFile(filepath.Join(plain, "top"), nil, 0o644); err == nil {
		t.Error("read-only bind: its own tree took a write")
	}
	if err := os.WriteFile(filepath.Join(plain, "tmpfs", "file"), nil, 0o644); err != nil {
		t.Errorf("read-only bind: the submount should stay writable: %v", err)
	}
	if err := os.WriteFile(filepath.Join(rro, "tmpfs", "file2"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("recursive read-only bind: a write below a submount gave %v, want EROFS", err)
	}
}

// TestBindPropagation: below a shared source, a mount the host makes
// after the binds reaches the HostToContainer (rslave) bind only, never
// the private one; a mount made in a slave bind does not reach the
// source. DetachBelow then leaves nothing below the root. Linux's own
// behaviour (the same as `mount --make-rslave` / `--make-rprivate`).
func TestBindPropagation(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("bind mounts need root")
	}
	root, src, flag := t.TempDir(), t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(flag, "flagFile"), nil, 0o644)
	os.Mkdir(filepath.Join(src, "mnt"), 0o755)
	// The source is a shared mount, as critest makes it.
	if err := unix.Mount(src, src, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(src, unix.MNT_DETACH)
	if err := unix.Mount("", src, "", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		t.Fatal(err)
	}
	// The root as the daemon has it: a private mount.
	if err := unix.Mount(root, root, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(root, unix.MNT_DETACH)
	if err := MakePrivate(root); err != nil {
		t.Fatal(err)
	}
	priv, err := Bind(root, "/priv", src, BindOptions{})
	if err != nil {
		t.Fatal(err)
	}
	slave, err := Bind(root, "/slave", src, BindOptions{HostToContainer: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(flag, filepath.Join(src, "mnt"), "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(filepath.Join(src, "mnt"), unix.MNT_DETACH)
	if ents, _ := os.ReadDir(filepath.Join(priv, "mnt")); len(ents) != 0 {
		t.Errorf("private bind: a later host mount is visible: %v", ents)
	}
	if _, err := os.Stat(filepath.Join(slave, "mnt", "flagFile")); err != nil {
		t.Errorf("rslave bind: the later host mount is not visible: %v", err)
	}
	// Nothing flows back from the slave to the source.
	os.Mkdir(filepath.Join(src, "back"), 0o755)
	if err := unix.Mount(flag, filepath.Join(slave, "back"), "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(src, "back")); len(ents) != 0 {
		t.Errorf("a mount in the rslave bind reached the source: %v", ents)
	}
	// rslave of a source that is not a shared mount: nothing to receive,
	// but no error (runc's behaviour too).
	plain := t.TempDir()
	if _, err := Bind(root, "/plain", plain, BindOptions{HostToContainer: true, ReadOnly: true}); err != nil {
		t.Errorf("rslave bind of a private source: %v", err)
	}
	below, err := MountsBelow(root)
	if err != nil || len(below) < 3 {
		t.Fatalf("MountsBelow: %v %v", below, err)
	}
	if err := DetachBelow(root); err != nil {
		t.Fatal(err)
	}
	if below, _ := MountsBelow(root); len(below) != 0 {
		t.Errorf("left after DetachBelow: %v", below)
	}
	// The source keeps its own mount (the private root stopped the
	// unmounts from propagating anywhere).
	if _, err := os.Stat(filepath.Join(src, "mnt", "flagFile")); err != nil {
		t.Errorf("the source lost its mount: %v", err)
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{`/a\040b`: "/a b", `/plain`: "/plain", `/t\011x\134`: "/t\tx\\", `/end\04`: `/end\04`} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", in, got, want)
		}
	}
}
