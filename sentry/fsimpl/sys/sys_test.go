package sys

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

type ctx struct{}

func (ctx) Credentials() *auth.Credentials { return auth.NewCredentials(0, 0, nil, auth.AllCaps) }

func TestSysfs(t *testing.T) {
	v := vfs.New()
	mnt := v.MountRoot(New(v, 4), "sysfs", vfs.MountFlags{ReadOnly: true})
	pop := func(p string) *vfs.PathOperation {
		return &vfs.PathOperation{Root: mnt, Start: mnt, Path: p, FollowFinalSymlink: true}
	}
	read := func(p string) string {
		fd, err := v.OpenAt(ctx{}, pop(p), vfs.OpenOptions{Flags: unix.O_RDONLY})
		if err != nil {
			t.Fatalf("open %s: %v", p, err)
		}
		defer fd.DecRef(ctx{})
		buf := make([]byte, 256)
		n, err := fd.Read(ctx{}, [][]byte{buf})
		if err != nil {
			t.Fatal(err)
		}
		if m, _ := fd.Read(ctx{}, [][]byte{buf[n:]}); m != 0 {
			t.Fatalf("%s: data after EOF", p)
		}
		return string(buf[:n])
	}
	for p, want := range map[string]string{
		"devices/system/cpu/online":                "0-3\n",
		"devices/system/cpu/possible":              "0-3\n",
		"devices/system/cpu/present":               "0-3\n",
		"kernel/mm/transparent_hugepage/enabled":   "always [madvise] never\n",
		"devices/system/cpu/cpu3/topology/core_id": "3\n",
	} {
		if got := read(p); got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
	if _, err := v.StatAt(ctx{}, pop("devices/system/cpu/cpu4")); err != unix.ENOENT {
		t.Fatalf("cpu4: %v", err)
	}
	if st, err := v.StatAt(ctx{}, pop("fs/cgroup")); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		t.Fatalf("fs/cgroup: %v", err)
	}
	if err := v.MkdirAt(ctx{}, pop("fs/cgroup/x"), 0o755); err != unix.EROFS {
		t.Fatalf("mkdir: %v", err)
	}
}
