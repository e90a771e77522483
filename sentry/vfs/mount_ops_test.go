package vfs_test

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/tmpfs"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// The expected errors below are those of Linux (checked natively by
// test/integration's TestMount cases, which run the same calls in the
// sandbox and in `unshare -m`).

func (e *env) mkdirs(paths ...string) {
	e.t.Helper()
	for _, p := range paths {
		if err := e.mkdir(root, p, 0o755); err != nil && err != unix.EEXIST {
			e.t.Fatalf("mkdir %s: %v", p, err)
		}
	}
}

func (e *env) bind(ctx vfs.Context, src, dst string, rec bool) error {
	s, d := e.pop(src, true), e.pop(dst, true)
	defer s.Release()
	defer d.Release()
	return e.v.BindMount(ctx, s, d, rec)
}

func (e *env) tmpfs(ctx vfs.Context, dst string, flags vfs.MountFlags) error {
	d := e.pop(dst, true)
	defer d.Release()
	return e.v.MountAt(ctx, d, tmpfs.New(e.v, e.mf, tmpfs.Options{}), "tmpfs", flags)
}

func (e *env) umount(ctx vfs.Context, path string, flags int) error {
	p := e.pop(path, true)
	defer p.Release()
	return e.v.UmountAt(ctx, p, flags)
}

func (e *env) mountinfo() string {
	r := e.fsc.Root()
	defer r.DecRef()
	return e.v.GenerateProcMountInfo(r)
}

func (e *env) must(what string, err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
}

func TestBindMountShowsSource(t *testing.T) {
	e := newEnv(t)
	e.mkdirs("/src", "/src/sub", "/dst", "/dst2")
	e.write("/src/f", "hello")
	e.write("/file", "one")
	e.write("/file2", "two")
	e.must("bind", e.bind(root, "/src", "/dst", false))
	if got, err := e.read(root, "/dst/f"); err != nil || got != "hello" {
		t.Fatalf("read through bind = %q, %v", got, err)
	}
	// Writes through the bind reach the same tree.
	e.write("/dst/g", "via bind")
	if got, _ := e.read(root, "/src/g"); got != "via bind" {
		t.Fatalf("source does not see the write: %q", got)
	}
	e.must("file bind", e.bind(root, "/file", "/file2", false))
	if got, _ := e.read(root, "/file2"); got != "one" {
		t.Fatalf("file bind shows %q", got)
	}
	wantErr(t, "dir over file", e.bind(root, "/src", "/file", false), unix.ENOTDIR)
	wantErr(t, "file over dir", e.bind(root, "/file", "/dst2", false), unix.ENOTDIR)
	wantErr(t, "missing source", e.bind(root, "/nosuch", "/dst2", false), unix.ENOENT)
	wantErr(t, "missing target", e.bind(root, "/src", "/nosuch", false), unix.ENOENT)
	wantErr(t, "unprivileged", e.bind(user, "/src", "/dst2", false), unix.EPERM)
	wantErr(t, "unprivileged umount", e.umount(user, "/dst", 0), unix.EPERM)
	info := e.mountinfo()
	if !strings.Contains(info, " /src /dst rw,relatime - tmpfs ") || !strings.Contains(info, " /file /file2 ") {
		t.Fatalf("mountinfo:\n%s", info)
	}
}

// A directory bound into itself, recursively or not, and again, stays a
// finite tree.
func TestBindIntoItself(t *testing.T) {
	e := newEnv(t)
	e.mkdirs("/a", "/a/b")
	e.write("/a/f", "x")
	e.must("bind /a /a/b", e.bind(root, "/a", "/a/b", false))
	if got, _ := e.read(root, "/a/b/f"); got != "x" {
		t.Fatalf("/a/b/f = %q", got)
	}
	if _, err := e.stat("/a/b/b/f", true); err != unix.ENOENT {
		t.Fatalf("/a/b/b is the plain directory, got %v", err)
	}
	for i := 0; i < 5; i++ {
		e.must("rbind /a /a/b", e.bind(root, "/a", "/a/b", true))
	}
	n := strings.Count(e.mountinfo(), "\n")
	if n < 7 || n > 200 {
		t.Fatalf("%d mounts after 5 rbinds:\n%s", n, e.mountinfo())
	}
}

func TestRecursiveBind(t *testing.T) {
	e := newEnv(t)
	e.mkdirs("/src", "/src/m", "/r", "/nr")
	e.must("tmpfs", e.tmpfs(root, "/src/m", vfs.MountFlags{}))
	e.write("/src/m/inner", "in")
	e.must("bind", e.bind(root, "/src", "/nr", false))
	e.must("rbind", e.bind(root, "/src", "/r", true))
	if _, err := e.stat("/nr/m/inner", true); err != unix.ENOENT {
		t.Fatalf("non-recursive bind shows the submount: %v", err)
	}
	if got, _ := e.read(root, "/r/m/inner"); got != "in" {
		t.Fatalf("recursive bind lacks the submount: %q", got)
	}
	// The copy is a mount of its own: unmounting it leaves the original.
	e.must("umount /r/m", e.umount(root, "/r/m", 0))
	if got, _ := e.read(root, "/src/m/inner"); got != "in" {
		t.Fatalf("original submount gone: %q", got)
	}
}

// TestRemountReadOnlyPerMount: a read-only bind-remount affects only that
// mount.
func TestRemountReadOnlyPerMount(t *testing.T) {
	e := newEnv(t)
	e.mkdirs("/src", "/ro")
	e.must("bind", e.bind(root, "/src", "/ro", false))
	p := e.pop("/ro", true)
	e.must("remount ro", e.v.Remount(root, p, vfs.RemountOptions{Flags: vfs.MountFlags{ReadOnly: true}, Bind: true, KeepAtime: true}))
	p.Release()
	_, err := e.open(root, "/ro/f", unix.O_WRONLY|unix.O_CREAT, 0o644)
	wantErr(t, "create through ro bind", err, unix.EROFS)
	wantErr(t, "mkdir through ro bind", e.mkdir(root, "/ro/d", 0o755), unix.EROFS)
	e.write("/src/f", "writable")
	if got, _ := e.read(root, "/ro/f"); got != "writable" {
		t.Fatalf("ro bind shows %q", got)
	}
	if !strings.Contains(e.mountinfo(), " /src /ro ro,relatime ") {
		t.Fatalf("mountinfo:\n%s", e.mountinfo())
	}
	// Remount needs a mount's root.
	e.mkdirs("/src/d")
	p = e.pop("/ro/d", true)
	wantErr(t, "remount of a non-root", e.v.Remount(root, p, vfs.RemountOptions{Bind: true}), unix.EINVAL)
	p.Release()
	// Back to rw.
	p = e.pop("/ro", true)
	e.must("remount rw", e.v.Remount(root, p, vfs.RemountOptions{Bind: true, KeepAtime: true}))
	p.Release()
	e.write("/ro/g", "ok")
}

func TestUmountBusy(t *testing.T) {
	e := newEnv(t)
	e.mkdirs("/m", "/n", "/x")
	e.must("tmpfs", e.tmpfs(root, "/m", vfs.MountFlags{}))
	e.mkdirs("/m/d")
	wantErr(t, "not a mount point", e.umount(root, "/m/d", 0), unix.EINVAL)
	wantErr(t, "missing", e.umount(root, "/nosuch", 0), unix.ENOENT)
	wantErr(t, "bad flags", e.umount(root, "/m", 0x100), unix.EINVAL)

	// An open file.
	e.write("/m/f", "x")
	fd, err := e.open(root, "/m/f", unix.O_RDONLY, 0)
	e.must("open", err)
	wantErr(t, "open file inside", e.umount(root, "/m", 0), unix.EBUSY)
	fd.DecRef(root)

	// A working directory.
	p := e.pop("/m/d", true)
	cwd, err := e.v.GetDentryAt(root, p, vfs.GetDentryOptions{})
	p.Release()
	e.must("cwd", err)
	e.fsc.SetCwd(cwd)
	cwd.DecRef()
	wantErr(t, "cwd inside", e.umount(root, "/m", 0), unix.EBUSY)
	rootVD := e.fsc.Root()
	e.fsc.SetCwd(rootVD)
	rootVD.DecRef()

	// A submount.
	e.must("submount", e.tmpfs(root, "/m/d", vfs.MountFlags{}))
	wantErr(t, "submount", e.umount(root, "/m", 0), unix.EBUSY)
	e.must("umount child", e.umount(root, "/m/d", 0))
	e.must("umount", e.umount(root, "/m", 0))
	if _, err := e.stat("/m/f", true); err != unix.ENOENT {
		t.Fatalf("after umount /m/f: %v", err)
	}
	wantErr(t, "second umount", e.umount(root, "/m", 0), unix.EINVAL)

	// The root of the tree.
	wantErr(t, "umount /", e.umount(root, "/", 0), unix.EBUSY)

	// MNT_EXPIRE: EAGAIN, then unmounted if unused in between.
	e.must("tmpfs", e.tmpfs(root, "/x", vfs.MountFlags{}))
	wantErr(t, "expire|detach", e.umount(root, "/x", unix.MNT_EXPIRE|unix.MNT_DETACH), unix.EINVAL)
	wantErr(t, "expire 1", e.umount(root, "/x", unix.MNT_EXPIRE), unix.EAGAIN)
	e.must("expire 2", e.umount(root, "/x", unix.MNT_EXPIRE))
}

func TestUmountDetach(t *testing.T) {
	e := newEnv(t)
	e.mkdirs("/m")
	e.must("tmpfs", e.tmpfs(root, "/m", vfs.MountFlags{}))
	e.mkdirs("/m/sub")
	e.must("sub", e.tmpfs(root, "/m/sub", vfs.MountFlags{}))
	e.write("/m/f", "kept")
	fd, err := e.open(root, "/m/f", unix.O_RDONLY, 0)
	e.must("open", err)
	defer fd.DecRef(root)
	e.must("umount -l", e.umount(root, "/m", unix.MNT_DETACH|unix.MNT_FORCE))
	if _, err := e.stat("/m/f", true); err != unix.ENOENT {
		t.Fatalf("/m/f after lazy umount: %v", err)
	}
	buf := make([]byte, 8)
	if n, err := fd.PRead(root, [][]byte{buf}, 0); err != nil || string(buf[:n]) != "kept" {
		t.Fatalf("open file after lazy umount: %q %v", buf[:n], err)
	}
	if strings.Contains(e.mountinfo(), "/m") {
		t.Fatalf("mountinfo still lists /m:\n%s", e.mountinfo())
	}
	// The mount point is a plain directory again.
	e.must("rmdir", e.v.RmdirAt(root, e.pop("/m", false)))
}

func TestStackedMounts(t *testing.T) {
	e := newEnv(t)
	e.mkdirs("/m")
	for i := 0; i < 3; i++ {
		e.must("tmpfs", e.tmpfs(root, "/m", vfs.MountFlags{}))
		e.write("/m/f", fmt.Sprint(i))
	}
	for i := 2; i >= 0; i-- {
		if got, _ := e.read(root, "/m/f"); got != fmt.Sprint(i) {
			t.Fatalf("layer %d shows %q", i, got)
		}
		e.must("umount", e.umount(root, "/m", 0))
	}
	wantErr(t, "umount past the stack", e.umount(root, "/m", 0), unix.EINVAL)
}

func TestMoveMount(t *testing.T) {
	e := newEnv(t)
	e.mkdirs("/a", "/b", "/c")
	e.must("tmpfs", e.tmpfs(root, "/a", vfs.MountFlags{}))
	e.write("/a/f", "moved")
	e.mkdirs("/a/in")
	mv := func(src, dst string) error {
		s, d := e.pop(src, true), e.pop(dst, true)
		defer s.Release()
		defer d.Release()
		return e.v.MoveMount(root, s, d)
	}
	wantErr(t, "into itself", mv("/a", "/a/in"), unix.ELOOP)
	wantErr(t, "not a mount", mv("/c", "/b"), unix.EINVAL)
	wantErr(t, "the root", mv("/", "/b"), unix.EINVAL)
	e.must("move", mv("/a", "/b"))
	if got, _ := e.read(root, "/b/f"); got != "moved" {
		t.Fatalf("/b/f = %q", got)
	}
	if _, err := e.stat("/a/f", true); err != unix.ENOENT {
		t.Fatalf("/a/f after move: %v", err)
	}
}

func TestPropagationRecorded(t *testing.T) {
	e := newEnv(t)
	e.mkdirs("/m", "/n", "/new", "/new/old")
	e.must("tmpfs", e.tmpfs(root, "/m", vfs.MountFlags{}))
	set := func(path string, prop vfs.Propagation, rec bool) error {
		p := e.pop(path, true)
		defer p.Release()
		return e.v.SetPropagation(root, p, prop, rec)
	}
	e.must("unbindable", set("/m", vfs.PropUnbindable, false))
	wantErr(t, "bind of unbindable", e.bind(root, "/m", "/n", false), unix.EINVAL)
	e.must("private", set("/", vfs.PropPrivate, true))
	e.must("bind", e.bind(root, "/m", "/n", false))
	e.mkdirs("/m/d")
	wantErr(t, "not a mount root", set("/m/d", vfs.PropShared, false), unix.EINVAL)
	// pivot_root refuses shared mounts, as Linux.
	e.must("new root", e.tmpfs(root, "/new", vfs.MountFlags{}))
	e.mkdirs("/new/old")
	e.must("shared", set("/new", vfs.PropShared, false))
	np, op := e.pop("/new", true), e.pop("/new/old", true)
	defer np.Release()
	defer op.Release()
	wantErr(t, "pivot with a shared mount", e.v.PivotRoot(root, e.fsc, np, op), unix.EINVAL)
}

func TestMountLimit(t *testing.T) {
	e := newEnv(t)
	e.mkdirs("/a", "/a/b")
	var err error
	for i := 0; i < 20 && err == nil; i++ {
		err = e.bind(root, "/a", "/a/b", true) // doubles each time
	}
	wantErr(t, "rbind until the limit", err, unix.ENOSPC)
	if n := len(e.v.Mounts()); n > vfs.MaxMounts {
		t.Fatalf("%d mounts", n)
	}
}

// TestMountConcurrent: path walks, /proc/self/mountinfo and PathOf run
// while mounts come and go (run with -race).
func TestMountConcurrent(t *testing.T) {
	e := newEnv(t)
	e.mkdirs("/m", "/src", "/src/d")
	e.write("/src/d/f", "x")
	done := make(chan struct{})
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func(i int) {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				switch i {
				case 0:
					e.stat("/m/d/f", true)
				case 1:
					e.mountinfo()
				case 2:
					p := e.pop("/m/d", true)
					if vd, err := e.v.GetDentryAt(root, p, vfs.GetDentryOptions{}); err == nil {
						r := e.fsc.Root()
						e.v.PathOf(r, vd)
						r.DecRef()
						vd.DecRef()
					}
					p.Release()
				}
			}
		}(i)
	}
	for i := 0; i < 300; i++ {
		switch i % 3 {
		case 0:
			e.bind(root, "/src", "/m", i%2 == 0)
		case 1:
			e.tmpfs(root, "/m", vfs.MountFlags{})
		case 2:
			for e.umount(root, "/m", unix.MNT_DETACH) == nil {
			}
		}
	}
	close(done)
	for i := 0; i < 3; i++ {
		<-errs
	}
}

// TestLockedMounts: mounts the sandbox made (boot: a PathOperation not
// from FSContext.PathOp) cannot be taken away by an application, so what
// they cover (a host directory under /proc of a host-served rootfs) stays
// hidden, as with Linux's MNT_LOCKED.
func TestLockedMounts(t *testing.T) {
	e := newEnv(t)
	e.mkdirs("/ctr")
	rootVD := e.fsc.Root()
	defer rootVD.DecRef()
	bootPop := func(path string) *vfs.PathOperation {
		return &vfs.PathOperation{Root: rootVD, Start: rootVD, Path: path, FollowFinalSymlink: true}
	}
	e.must("boot mount /ctr", e.v.MountAt(root, bootPop("/ctr"), e.v.VisibleFilesystem(rootVD, "tmpfs"), "ctr", vfs.MountFlags{}))
	e.mkdirs("/ctr/proc")
	e.write("/ctr/proc/secret", "covered")
	e.must("boot mount /ctr/proc", e.v.MountAt(root, bootPop("/ctr/proc"), tmpfs.New(e.v, e.mf, tmpfs.Options{}), "proc", vfs.MountFlags{}))
	// A container rooted at /ctr: its root is not locked, /proc is.
	p := e.pop("/ctr", true)
	cvd, err := e.v.GetDentryAt(root, p, vfs.GetDentryOptions{})
	p.Release()
	e.must("ctr", err)
	c := vfs.NewFSContext(cvd, cvd)
	cvd.DecRef()
	defer c.DecRef()
	cpop := func(path string) *vfs.PathOperation { return c.PathOp(vfs.VirtualDentry{}, path, true) }
	op := func(f func(a, b *vfs.PathOperation) error, a, b string) error {
		pa, pb := cpop(a), cpop(b)
		defer pa.Release()
		defer pb.Release()
		return f(pa, pb)
	}
	umount := func(path string, flags int) error {
		p := cpop(path)
		defer p.Release()
		return e.v.UmountAt(root, p, flags)
	}
	wantErr(t, "umount locked", umount("/proc", 0), unix.EINVAL)
	wantErr(t, "umount -l locked", umount("/proc", unix.MNT_DETACH), unix.EINVAL)
	wantErr(t, "move locked", op(func(a, b *vfs.PathOperation) error { return e.v.MoveMount(root, a, b) }, "/proc", "/"), unix.EINVAL)
	e.mkdirs("/ctr/b", "/ctr/rb")
	wantErr(t, "bind showing what a locked mount covers",
		op(func(a, b *vfs.PathOperation) error { return e.v.BindMount(root, a, b, false) }, "/", "/b"), unix.EINVAL)
	e.must("rbind", op(func(a, b *vfs.PathOperation) error { return e.v.BindMount(root, a, b, true) }, "/", "/rb"))
	if _, err := e.read(root, "/ctr/rb/proc/secret"); err != unix.ENOENT {
		t.Fatalf("rbind copy shows the covered file: %v", err)
	}
	wantErr(t, "umount the copy of a locked mount", umount("/rb/proc", 0), unix.EINVAL)
	e.must("umount the rbind", umount("/rb", unix.MNT_DETACH))
	// The container's own root goes lazily; its locked /proc stays on it.
	e.must("umount -l /", umount("/", unix.MNT_DETACH))
	if _, err := e.read(root, "/ctr/proc/secret"); err != unix.ENOENT {
		t.Fatalf("the global view shows %v", err)
	}
	cr := c.Root()
	defer cr.DecRef()
	p = c.PathOp(vfs.VirtualDentry{}, "/proc/secret", true)
	defer p.Release()
	if _, err := e.v.StatAt(root, p); err != unix.ENOENT {
		t.Fatalf("after umount -l / the container sees the covered file: %v", err)
	}
}

// remountFS is a filesystem whose options change on remount.
type remountFS struct {
	vfs.FilesystemImpl
	data string
}

func (r *remountFS) Remount(ctx vfs.Context, data string) error {
	if data == "bad" {
		return unix.EINVAL
	}
	r.data = data
	return nil
}

func TestRemountData(t *testing.T) {
	e := newEnv(t)
	e.mkdirs("/m")
	inner := tmpfs.New(e.v, e.mf, tmpfs.Options{})
	rfs := &remountFS{FilesystemImpl: inner.Impl()}
	fs := e.v.NewFilesystem(rfs, inner.Root().Inode())
	p := e.pop("/m", true)
	defer p.Release()
	e.must("mount", e.v.MountAt(root, p, fs, "r", vfs.MountFlags{}))
	e.must("remount", e.v.Remount(root, p, vfs.RemountOptions{Data: "size=2m", KeepAtime: true}))
	if rfs.data != "size=2m" {
		t.Fatalf("filesystem got %q", rfs.data)
	}
	wantErr(t, "bad data", e.v.Remount(root, p, vfs.RemountOptions{Data: "bad", Flags: vfs.MountFlags{ReadOnly: true}}), unix.EINVAL)
	if strings.Contains(e.mountinfo(), " /m ro") {
		t.Fatalf("a failed remount changed the flags:\n%s", e.mountinfo())
	}
	e.must("bind remount ignores data", e.v.Remount(root, p, vfs.RemountOptions{Data: "other", Bind: true}))
	if rfs.data != "size=2m" {
		t.Fatalf("bind remount reconfigured the filesystem: %q", rfs.data)
	}
}
