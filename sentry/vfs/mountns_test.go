package vfs_test

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

func (e *env) pivot(ctx vfs.Context, fsc *vfs.FSContext, newRoot, putOld string) error {
	np := fsc.PathOp(vfs.VirtualDentry{}, newRoot, true)
	op := fsc.PathOp(vfs.VirtualDentry{}, putOld, true)
	defer np.Release()
	defer op.Release()
	return e.v.PivotRoot(ctx, fsc, np, op)
}

func (e *env) chdir(fsc *vfs.FSContext, path string) {
	e.t.Helper()
	p := fsc.PathOp(vfs.VirtualDentry{}, path, true)
	defer p.Release()
	vd, err := e.v.GetDentryAt(root, p, vfs.GetDentryOptions{CheckSearchable: true})
	e.must("chdir "+path, err)
	fsc.SetCwd(vd)
	vd.DecRef()
}

func TestPivotRoot(t *testing.T) {
	e := newEnv(t)
	e.write("/oldfile", "old")
	e.mkdirs("/new", "/notmnt", "/x")
	wantErr(t, "unprivileged", e.pivot(user, e.fsc, "/new", "/new"), unix.EPERM)
	// A directory of the root mount: "the same mount" comes first.
	wantErr(t, "new root on the root mount", e.pivot(root, e.fsc, "/notmnt", "/notmnt"), unix.EBUSY)
	e.must("tmpfs", e.tmpfs(root, "/new", vfs.MountFlags{}))
	e.mkdirs("/new/old")
	e.write("/new/hello", "new")
	wantErr(t, "new root is the root", e.pivot(root, e.fsc, "/", "/new/old"), unix.EBUSY)
	wantErr(t, "put_old on the root mount", e.pivot(root, e.fsc, "/new", "/x"), unix.EBUSY)
	e.must("tmpfs /x", e.tmpfs(root, "/x", vfs.MountFlags{}))
	wantErr(t, "put_old not below new_root", e.pivot(root, e.fsc, "/new", "/x"), unix.EINVAL)
	e.mkdirs("/x/sub")
	wantErr(t, "new root not a mount's root", e.pivot(root, e.fsc, "/x/sub", "/x/sub"), unix.EINVAL)
	wantErr(t, "new root missing", e.pivot(root, e.fsc, "/nosuch", "/new/old"), unix.ENOENT)
	wantErr(t, "put_old a file", e.pivot(root, e.fsc, "/new", "/new/hello"), unix.ENOTDIR)

	e.must("pivot_root", e.pivot(root, e.fsc, "/new", "/new/old"))
	if got, _ := e.read(root, "/hello"); got != "new" {
		t.Fatalf("/hello = %q", got)
	}
	if got, _ := e.read(root, "/old/oldfile"); got != "old" {
		t.Fatalf("/old/oldfile = %q", got)
	}
	info := e.mountinfo()
	if !strings.Contains(info, " / / rw,relatime - tmpfs tmpfs ") || !strings.Contains(info, " / /old ") {
		t.Fatalf("mountinfo after pivot:\n%s", info)
	}
	// The old root, and /x with it, go at once.
	e.must("umount -l /old", e.umount(root, "/old", unix.MNT_DETACH))
	if n := strings.Count(e.mountinfo(), "\n"); n != 1 {
		t.Fatalf("mountinfo after umount:\n%s", e.mountinfo())
	}
	// Lazily unmounting one's root leaves the process where it is.
	e.must("umount -l /", e.umount(root, "/", unix.MNT_DETACH))
	if got, _ := e.read(root, "/hello"); got != "new" {
		t.Fatalf("/hello after umount -l / = %q", got)
	}
	if info := e.mountinfo(); info != "" {
		t.Fatalf("mountinfo after umount -l /:\n%s", info)
	}
	wantErr(t, "mount in a detached tree", e.tmpfs(root, "/old", vfs.MountFlags{}), unix.ENOENT)
}

// TestPivotRootDot is what runc and other container tools do: chdir into
// the new root, pivot_root(".", "."), umount2(".", MNT_DETACH).
func TestPivotRootDot(t *testing.T) {
	e := newEnv(t)
	e.mkdirs("/rootfs", "/proc")
	e.must("proc stand-in", e.tmpfs(root, "/proc", vfs.MountFlags{}))
	e.must("rootfs", e.tmpfs(root, "/rootfs", vfs.MountFlags{}))
	e.write("/rootfs/etc-release", "inside")
	other := e.fsc.Fork() // another process of the namespace, at /
	defer other.DecRef()
	e.chdir(e.fsc, "/rootfs")
	e.must("pivot_root . .", e.pivot(root, e.fsc, ".", "."))
	e.must("umount -l .", e.umount(root, ".", unix.MNT_DETACH))
	e.chdir(e.fsc, "/")
	if got, _ := e.read(root, "/etc-release"); got != "inside" {
		t.Fatalf("/etc-release = %q", got)
	}
	if _, err := e.stat("/proc", true); err != unix.ENOENT {
		t.Fatalf("old root still visible: %v", err)
	}
	info := e.mountinfo()
	if strings.Count(info, "\n") != 1 || !strings.Contains(info, " / / ") {
		t.Fatalf("mountinfo:\n%s", info)
	}
	// The other process's root moved too.
	r := other.Root()
	defer r.DecRef()
	if info2 := e.v.GenerateProcMountInfo(r); info2 != info {
		t.Fatalf("other process sees:\n%s", info2)
	}
	// A new context made from the former root lands in the new one.
	old := e.v.RootMount()
	defer old.DecRef()
	n := vfs.NewFSContext(old, old)
	defer n.DecRef()
	nr := n.Root()
	defer nr.DecRef()
	cur := e.fsc.Root()
	defer cur.DecRef()
	if nr != cur {
		t.Fatalf("new context's root is not the pivoted root")
	}
}

// TestContainerNamespaces: two containers rooted at mounts of one tree see
// and change only their own mounts.
func TestContainerNamespaces(t *testing.T) {
	e := newEnv(t)
	e.mkdirs("/c1", "/c2")
	e.must("c1", e.tmpfs(root, "/c1", vfs.MountFlags{}))
	e.must("c2", e.tmpfs(root, "/c2", vfs.MountFlags{}))
	e.mkdirs("/c1/etc", "/c1/mnt", "/c2/mnt")
	ctx := func(path string) *vfs.FSContext {
		p := e.pop(path, true)
		defer p.Release()
		vd, err := e.v.GetDentryAt(root, p, vfs.GetDentryOptions{})
		e.must(path, err)
		defer vd.DecRef()
		return vfs.NewFSContext(vd, vd)
	}
	c1, c2 := ctx("/c1"), ctx("/c2")
	defer c1.DecRef()
	defer c2.DecRef()
	s, d := c1.PathOp(vfs.VirtualDentry{}, "/etc", true), c1.PathOp(vfs.VirtualDentry{}, "/mnt", true)
	e.must("bind in c1", e.v.BindMount(root, s, d, false))
	s.Release()
	d.Release()
	r1, r2 := c1.Root(), c2.Root()
	defer r1.DecRef()
	defer r2.DecRef()
	if info := e.v.GenerateProcMountInfo(r1); !strings.Contains(info, " /etc /mnt ") {
		t.Fatalf("c1:\n%s", info)
	}
	if info := e.v.GenerateProcMountInfo(r2); strings.Contains(info, "/mnt") {
		t.Fatalf("c2 sees c1's mount:\n%s", info)
	}
	// c1 holding a directory of c2 (a descriptor passed over a socket)
	// cannot unmount or mount there.
	p := c1.PathOp(r2, ".", true)
	defer p.Release()
	wantErr(t, "umount of another container's root", e.v.UmountAt(root, p, unix.MNT_DETACH), unix.EINVAL)
	s = c1.PathOp(vfs.VirtualDentry{}, "/etc", true)
	defer s.Release()
	d = c1.PathOp(r2, "mnt", true)
	defer d.Release()
	wantErr(t, "bind into another container", e.v.BindMount(root, s, d, false), unix.EINVAL)
	// Unmounting one's own root lazily is allowed, as in a Linux
	// container (its root has a parent outside).
	wantErr(t, "umount / busy", e.umount2(c2, "/", 0), unix.EBUSY)
}

func (e *env) umount2(fsc *vfs.FSContext, path string, flags int) error {
	p := fsc.PathOp(vfs.VirtualDentry{}, path, true)
	defer p.Release()
	return e.v.UmountAt(root, p, flags)
}

// TestUnshareMountNamespace: after unshare(CLONE_NEWNS) mounts on either
// side are invisible to the other; the copy goes with its last user.
func TestUnshareMountNamespace(t *testing.T) {
	e := newEnv(t)
	e.mkdirs("/m", "/n", "/shared")
	e.must("before", e.tmpfs(root, "/shared", vfs.MountFlags{}))
	e.write("/shared/f", "both")
	c := e.fsc.Fork()
	e.must("unshare", c.UnshareMountNamespace())
	p := c.PathOp(vfs.VirtualDentry{}, "/m", true)
	e.must("mount in copy", e.v.MountAt(root, p, e.v.VisibleFilesystem(e.fsc.Root(), "tmpfs"), "copy", vfs.MountFlags{}))
	p.Release()
	e.must("mount in original", e.tmpfs(root, "/n", vfs.MountFlags{}))
	rc, ro := c.Root(), e.fsc.Root()
	infoC, infoO := e.v.GenerateProcMountInfo(rc), e.v.GenerateProcMountInfo(ro)
	rc.DecRef()
	ro.DecRef()
	if !strings.Contains(infoC, " /m ") || strings.Contains(infoC, " /n ") || !strings.Contains(infoC, " /shared ") {
		t.Errorf("copy:\n%s", infoC)
	}
	if strings.Contains(infoO, " /m ") || !strings.Contains(infoO, " /n ") {
		t.Errorf("original:\n%s", infoO)
	}
	// The copy's /shared is its own mount: unmounting it there leaves
	// the original's.
	e.must("umount in copy", e.umount2(c, "/shared", 0))
	if got, _ := e.read(root, "/shared/f"); got != "both" {
		t.Fatalf("original /shared/f = %q", got)
	}
	c.DecRef()
	// /m is a mount point only in the copy; once the copy is gone it can
	// be removed.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := e.v.RmdirAt(root, e.pop("/m", false))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rmdir /m after the copy went: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
}
