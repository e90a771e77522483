package vfs_test

import (
	"strings"
	"testing"

	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/tmpfs"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// TestProcMountsBelowRoot: a task rooted in one container's tree sees only
// the mounts below its root, with paths relative to it.
func TestProcMountsBelowRoot(t *testing.T) {
	e := newEnv(t)
	for _, d := range []string{"/a", "/b"} {
		if err := e.mkdir(root, d, 0o755); err != nil {
			t.Fatal(err)
		}
		p := e.pop(d, true)
		err := e.v.MountAt(root, p, tmpfs.New(e.v, e.mf, tmpfs.Options{}), "ctr"+d[1:], vfs.MountFlags{})
		p.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := e.mkdir(root, "/a/proc", 0o755); err != nil {
		t.Fatal(err)
	}
	p := e.pop("/a/proc", true)
	if err := e.v.MountAt(root, p, tmpfs.New(e.v, e.mf, tmpfs.Options{}), "inner", vfs.MountFlags{}); err != nil {
		t.Fatal(err)
	}
	p.Release()

	all := e.v.GenerateProcMounts(e.fsc.Root())
	if !strings.Contains(all, "ctra /a ") || !strings.Contains(all, "ctrb /b ") {
		t.Fatalf("from the global root:\n%s", all)
	}
	p = e.pop("/a", true)
	aRoot, err := e.v.GetDentryAt(root, p, vfs.GetDentryOptions{})
	p.Release()
	if err != nil {
		t.Fatal(err)
	}
	defer aRoot.DecRef()
	for name, text := range map[string]string{
		"mounts":    e.v.GenerateProcMounts(aRoot),
		"mountinfo": e.v.GenerateProcMountInfo(aRoot),
	} {
		if strings.Contains(text, "ctrb") || strings.Contains(text, "none / ") {
			t.Errorf("%s from /a shows mounts outside it:\n%s", name, text)
		}
		if !strings.Contains(text, " / ") || !strings.Contains(text, " /proc ") {
			t.Errorf("%s from /a lacks its own mounts:\n%s", name, text)
		}
	}
}
