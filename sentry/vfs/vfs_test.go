package vfs_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/tmpfs"
	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/memfile"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

type testCtx struct{ creds *auth.Credentials }

func (c testCtx) Credentials() *auth.Credentials { return c.creds }

var (
	root = testCtx{auth.NewCredentials(0, 0, nil, auth.AllCaps)}
	user = testCtx{auth.NewCredentials(1000, 1000, nil, auth.AllCaps)}
)

type env struct {
	t   *testing.T
	v   *vfs.VirtualFilesystem
	mf  *memfile.File
	fsc *vfs.FSContext
}

func newEnv(t *testing.T) *env {
	t.Helper()
	mf, err := memfile.New("vfs-test", 64<<20)
	if err != nil {
		t.Skipf("no memfd: %v", err)
	}
	t.Cleanup(func() { mf.Close() })
	v := vfs.New()
	fs := tmpfs.New(v, mf, tmpfs.Options{RootMode: 0o755})
	rootVD := v.MountRoot(fs, "none", vfs.MountFlags{})
	fsc := vfs.NewFSContext(rootVD, rootVD)
	rootVD.DecRef()
	return &env{t: t, v: v, mf: mf, fsc: fsc}
}

func (e *env) pop(path string, follow bool) *vfs.PathOperation {
	return e.fsc.PathOp(vfs.VirtualDentry{}, path, follow)
}

func (e *env) mkdir(ctx vfs.Context, path string, mode uint32) error {
	p := e.pop(path, false)
	defer p.Release()
	return e.v.MkdirAt(ctx, p, mode)
}

func (e *env) open(ctx vfs.Context, path string, flags, mode uint32) (*vfs.FileDescription, error) {
	p := e.pop(path, true)
	defer p.Release()
	return e.v.OpenAt(ctx, p, vfs.OpenOptions{Flags: flags, Mode: mode})
}

func (e *env) write(path string, data string) {
	e.t.Helper()
	fd, err := e.open(root, path, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, 0o644)
	if err != nil {
		e.t.Fatalf("open %s: %v", path, err)
	}
	defer fd.DecRef(root)
	if _, err := fd.Write(root, [][]byte{[]byte(data)}); err != nil {
		e.t.Fatalf("write %s: %v", path, err)
	}
}

func (e *env) read(ctx vfs.Context, path string) (string, error) {
	fd, err := e.open(ctx, path, unix.O_RDONLY, 0)
	if err != nil {
		return "", err
	}
	defer fd.DecRef(ctx)
	buf := make([]byte, 1<<16)
	n, err := fd.Read(ctx, [][]byte{buf})
	return string(buf[:n]), err
}

func (e *env) stat(path string, follow bool) (linux.Statx, error) {
	p := e.pop(path, follow)
	defer p.Release()
	return e.v.StatAt(root, p)
}

func (e *env) symlink(target, path string) {
	e.t.Helper()
	p := e.pop(path, false)
	defer p.Release()
	if err := e.v.SymlinkAt(root, p, target); err != nil {
		e.t.Fatalf("symlink %s -> %s: %v", path, target, err)
	}
}

func wantErr(t *testing.T, what string, got, want error) {
	t.Helper()
	if !errors.Is(got, want) && got != want {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

func TestCreateReadWrite(t *testing.T) {
	e := newEnv(t)
	e.write("/f", "hello")
	got, err := e.read(root, "/f")
	if err != nil || got != "hello" {
		t.Fatalf("read = %q, %v", got, err)
	}
	st, err := e.stat("/f", true)
	if err != nil || st.Size != 5 || st.Mode&0o777 != 0o644 || st.Mode&linux.S_IFMT != linux.S_IFREG {
		t.Fatalf("stat = %+v, %v", st, err)
	}
	_, err = e.open(root, "/f", unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0o644)
	wantErr(t, "O_EXCL on existing", err, unix.EEXIST)
	_, err = e.open(root, "/missing", unix.O_RDONLY, 0)
	wantErr(t, "missing", err, unix.ENOENT)
	_, err = e.open(root, "/f/x", unix.O_RDONLY, 0)
	wantErr(t, "through file", err, unix.ENOTDIR)
	_, err = e.open(root, "/f/", unix.O_RDONLY, 0)
	wantErr(t, "trailing slash on file", err, unix.ENOTDIR)
	_, err = e.open(root, "/", unix.O_WRONLY, 0)
	wantErr(t, "write dir", err, unix.EISDIR)
	_, err = e.open(root, "/new/", unix.O_CREAT|unix.O_WRONLY, 0o644)
	wantErr(t, "create with slash", err, unix.EISDIR)
	_, err = e.open(root, "/f", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	wantErr(t, "O_DIRECTORY on file", err, unix.ENOTDIR)
	_, err = e.open(root, strings.Repeat("a", 256), unix.O_RDONLY, 0)
	wantErr(t, "long name", err, unix.ENAMETOOLONG)
	_, err = e.open(root, strings.Repeat("a/", 2100), unix.O_RDONLY, 0)
	wantErr(t, "long path", err, unix.ENAMETOOLONG)

	// O_APPEND and pwrite.
	fd, err := e.open(root, "/f", unix.O_RDWR|unix.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	fd.Write(root, [][]byte{[]byte(" world")})
	if off, _ := fd.Seek(root, 0, unix.SEEK_CUR); off != 11 {
		t.Errorf("offset after append = %d", off)
	}
	buf := make([]byte, 5)
	if n, err := fd.PRead(root, [][]byte{buf[:2], buf[2:]}, 6); n != 5 || string(buf) != "world" {
		t.Errorf("pread = %d %q %v", n, buf, err)
	}
	if off, err := fd.Seek(root, -1, unix.SEEK_SET); err != unix.EINVAL {
		t.Errorf("seek -1 = %d, %v", off, err)
	}
	fd.DecRef(root)
	// O_TRUNC.
	fd, _ = e.open(root, "/f", unix.O_WRONLY|unix.O_TRUNC, 0)
	fd.DecRef(root)
	if st, _ := e.stat("/f", true); st.Size != 0 {
		t.Errorf("size after O_TRUNC = %d", st.Size)
	}
}

func TestSymlinks(t *testing.T) {
	e := newEnv(t)
	e.mkdir(root, "/d", 0o755)
	e.write("/d/f", "data")
	e.symlink("d/f", "/rel")
	e.symlink("/d", "/abs")
	e.symlink("loop", "/loop")
	e.symlink("dangling-target", "/dangling")
	e.symlink("../d/f", "/d/up")
	if got, err := e.read(root, "/rel"); got != "data" {
		t.Errorf("read via relative link = %q, %v", got, err)
	}
	if got, err := e.read(root, "/abs/f"); got != "data" {
		t.Errorf("read via dir link = %q, %v", got, err)
	}
	if got, err := e.read(root, "/d/up"); got != "data" {
		t.Errorf("read via ../ link = %q, %v", got, err)
	}
	_, err := e.open(root, "/loop", unix.O_RDONLY, 0)
	wantErr(t, "loop", err, unix.ELOOP)
	_, err = e.open(root, "/rel", unix.O_RDONLY|unix.O_NOFOLLOW, 0)
	wantErr(t, "O_NOFOLLOW", err, unix.ELOOP)
	st, err := e.stat("/rel", false)
	if err != nil || st.Mode&linux.S_IFMT != linux.S_IFLNK || st.Size != 3 {
		t.Errorf("lstat = %+v %v", st, err)
	}
	p := e.pop("/rel", false)
	if s, err := e.v.ReadlinkAt(root, p); s != "d/f" || err != nil {
		t.Errorf("readlink = %q %v", s, err)
	}
	p.Release()
	p = e.pop("/d/f", false)
	_, err = e.v.ReadlinkAt(root, p)
	wantErr(t, "readlink of file", err, unix.EINVAL)
	p.Release()
	// O_CREAT through a dangling symlink creates its target.
	fd, err := e.open(root, "/dangling", unix.O_CREAT|unix.O_WRONLY, 0o600)
	if err != nil {
		t.Fatalf("create through dangling: %v", err)
	}
	fd.DecRef(root)
	if _, err := e.stat("/dangling-target", false); err != nil {
		t.Errorf("dangling target not created: %v", err)
	}
	_, err = e.open(root, "/abs", unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0o600)
	wantErr(t, "O_EXCL on symlink", err, unix.EEXIST)
	// A chain of 41 links fails, 40 works.
	e.write("/target", "x")
	prev := "/target"
	for i := 0; i < 41; i++ {
		name := "/l" + string(rune('A'+i/26)) + string(rune('a'+i%26))
		e.symlink(prev, name)
		prev = name
		_, err := e.read(root, name)
		if i < 40 && err != nil {
			t.Fatalf("chain of %d: %v", i+1, err)
		}
		if i == 40 {
			wantErr(t, "chain of 41", err, unix.ELOOP)
		}
	}
}

func TestDotDotAndMounts(t *testing.T) {
	e := newEnv(t)
	e.mkdir(root, "/a", 0o755)
	e.mkdir(root, "/a/b", 0o755)
	e.mkdir(root, "/mnt", 0o755)
	e.write("/a/b/f", "ab")
	if got, _ := e.read(root, "/a/b/../b/./f"); got != "ab" {
		t.Errorf("dot dot = %q", got)
	}
	if got, _ := e.read(root, "/../../a/b/f"); got != "ab" {
		t.Errorf(".. at root = %q", got)
	}
	fs2 := tmpfs.New(e.v, e.mf, tmpfs.Options{SizeLimit: 8192})
	p := e.pop("/mnt", true)
	if err := e.v.MountAt(root, p, fs2, "tmp2", vfs.MountFlags{}); err != nil {
		t.Fatal(err)
	}
	p.Release()
	e.write("/mnt/inner", "in")
	if got, _ := e.read(root, "/mnt/../a/b/f"); got != "ab" {
		t.Errorf(".. out of mount = %q", got)
	}
	// ENOSPC past the size limit.
	fd, _ := e.open(root, "/mnt/big", unix.O_CREAT|unix.O_WRONLY, 0o644)
	if n, err := fd.Write(root, [][]byte{make([]byte, 3*4096)}); n != 4096 || err != nil { // "inner" holds the other page
		t.Errorf("write past size limit: %d, %v (want a short write)", n, err)
	}
	if _, err := fd.Write(root, [][]byte{make([]byte, 1)}); err != unix.ENOSPC {
		t.Errorf("write when full: %v", err)
	}
	fd.DecRef(root)
	st1, _ := e.stat("/mnt/inner", true)
	st2, _ := e.stat("/a/b/f", true)
	if st1.DevMinor == st2.DevMinor {
		t.Errorf("mounts share a device number")
	}
	// Cross-mount rename and link: EXDEV.
	op, np := e.pop("/mnt/inner", false), e.pop("/a/inner", false)
	wantErr(t, "rename across mounts", e.v.RenameAt(root, op, np, 0), unix.EXDEV)
	wantErr(t, "link across mounts", e.v.LinkAt(root, op, np), unix.EXDEV)
	op.Release()
	np.Release()
	// Mount point: EBUSY for rmdir.
	p = e.pop("/mnt", false)
	wantErr(t, "rmdir mount point", e.v.RmdirAt(root, p), unix.EBUSY)
	p.Release()
	// Read-only mount.
	e.mkdir(root, "/ro", 0o755)
	fs3 := tmpfs.New(e.v, e.mf, tmpfs.Options{})
	p = e.pop("/ro", true)
	e.v.MountAt(root, p, fs3, "ro", vfs.MountFlags{ReadOnly: true})
	p.Release()
	_, err := e.open(root, "/ro/x", unix.O_CREAT|unix.O_WRONLY, 0o644)
	wantErr(t, "create on ro", err, unix.EROFS)
	wantErr(t, "mkdir on ro", e.mkdir(root, "/ro/d", 0o755), unix.EROFS)
	mounts := e.v.GenerateProcMounts(e.fsc.Root())
	if !strings.Contains(mounts, "tmp2 /mnt tmpfs rw,relatime,size=8k") || !strings.Contains(mounts, "ro /ro tmpfs ro,") {
		t.Errorf("mounts:\n%s", mounts)
	}
	// Bind mounts: a directory and a single file, read-only.
	e.mkdir(root, "/bindsrc", 0o755)
	e.write("/bindsrc/file", "bound")
	e.mkdir(root, "/bindtgt", 0o755)
	e.write("/hosts", "original")
	p = e.pop("/bindsrc", true)
	src, _ := e.v.GetDentryAt(root, p, vfs.GetDentryOptions{})
	p.Release()
	p = e.pop("/bindtgt", true)
	if err := e.v.BindMountAt(root, src, p, vfs.MountFlags{ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	p.Release()
	if got, _ := e.read(root, "/bindtgt/file"); got != "bound" {
		t.Errorf("bind mount read = %q", got)
	}
	_, err = e.open(root, "/bindtgt/file", unix.O_WRONLY, 0)
	wantErr(t, "write through ro bind", err, unix.EROFS)
	p = e.pop("/bindsrc/file", true)
	fsrc, _ := e.v.GetDentryAt(root, p, vfs.GetDentryOptions{})
	p.Release()
	p = e.pop("/hosts", true)
	if err := e.v.BindMountAt(root, fsrc, p, vfs.MountFlags{}); err != nil {
		t.Fatal(err)
	}
	p.Release()
	if got, _ := e.read(root, "/hosts"); got != "bound" {
		t.Errorf("file bind mount read = %q", got)
	}
	p = e.pop("/bindtgt", true)
	wantErr(t, "file over dir", e.v.BindMountAt(root, fsrc, p, vfs.MountFlags{}), unix.ENOTDIR)
	p.Release()
	src.DecRef()
	fsrc.DecRef()
	if info := e.v.GenerateProcMountInfo(e.fsc.Root()); !strings.Contains(info, " /bindsrc/file /hosts rw") {
		t.Errorf("mountinfo:\n%s", info)
	}

	// chroot: ".." stops at the new root; PathOf is relative to it.
	p = e.pop("/a", true)
	a, err := e.v.GetDentryAt(root, p, vfs.GetDentryOptions{CheckSearchable: true})
	p.Release()
	if err != nil {
		t.Fatal(err)
	}
	fsc := vfs.NewFSContext(a, a)
	p = fsc.PathOp(vfs.VirtualDentry{}, "../../b/f", true)
	fd, err = e.v.OpenAt(root, p, vfs.OpenOptions{Flags: unix.O_RDONLY})
	p.Release()
	if err != nil {
		t.Fatalf("open in chroot: %v", err)
	}
	if path, _ := e.v.PathOf(fsc.Root(), fd.VirtualDentry()); path != "/b/f" {
		t.Errorf("PathOf in chroot = %q", path)
	}
	if path, _ := e.v.PathOf(e.fsc.Root(), fd.VirtualDentry()); path != "/a/b/f" {
		t.Errorf("PathOf = %q", path)
	}
	fd.DecRef(root)
	a.DecRef()
}

func TestRename(t *testing.T) {
	e := newEnv(t)
	e.mkdir(root, "/d1", 0o755)
	e.mkdir(root, "/d2", 0o755)
	e.mkdir(root, "/d2/sub", 0o755)
	e.write("/d1/a", "A")
	e.write("/d1/b", "B")
	rename := func(from, to string, flags uint32) error {
		op, np := e.pop(from, false), e.pop(to, false)
		defer op.Release()
		defer np.Release()
		return e.v.RenameAt(root, op, np, flags)
	}
	if err := rename("/d1/a", "/d2/a2", 0); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.read(root, "/d2/a2"); got != "A" {
		t.Errorf("after rename = %q", got)
	}
	wantErr(t, "old gone", func() error { _, err := e.stat("/d1/a", false); return err }(), unix.ENOENT)
	// Replace.
	if err := rename("/d1/b", "/d2/a2", 0); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.read(root, "/d2/a2"); got != "B" {
		t.Errorf("after replace = %q", got)
	}
	e.write("/d1/c", "C")
	wantErr(t, "NOREPLACE", rename("/d1/c", "/d2/a2", linux.RENAME_NOREPLACE), unix.EEXIST)
	if err := rename("/d1/c", "/d2/a2", linux.RENAME_EXCHANGE); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.read(root, "/d1/c"); got != "B" {
		t.Errorf("exchange: /d1/c = %q", got)
	}
	if got, _ := e.read(root, "/d2/a2"); got != "C" {
		t.Errorf("exchange: /d2/a2 = %q", got)
	}
	wantErr(t, "EXCHANGE missing", rename("/d1/c", "/d2/nope", linux.RENAME_EXCHANGE), unix.ENOENT)
	wantErr(t, "dir into itself", rename("/d2", "/d2/sub/x", 0), unix.EINVAL)
	wantErr(t, "file over dir", rename("/d1/c", "/d2/sub", 0), unix.EISDIR)
	wantErr(t, "dir over file", rename("/d2/sub", "/d1/c", 0), unix.ENOTDIR)
	e.write("/d2/sub/f", "")
	e.mkdir(root, "/d3", 0o755)
	wantErr(t, "dir over non-empty", rename("/d3", "/d2/sub", 0), unix.ENOTEMPTY)
	wantErr(t, "rename dot", rename("/d1/.", "/d4", 0), unix.EBUSY)
	wantErr(t, "bad flags", rename("/d1/c", "/x", 1<<5), unix.EINVAL)
	if err := rename("/d2", "/d1/moved", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.stat("/d1/moved/sub/f", false); err != nil {
		t.Errorf("moved tree: %v", err)
	}
	// Directory renamed over an empty directory.
	if err := rename("/d3", "/d1/moved/sub2", 0); err != nil {
		t.Fatal(err)
	}
	e.mkdir(root, "/d5", 0o755)
	if err := rename("/d5", "/d1/moved/sub2", 0); err != nil {
		t.Errorf("dir over empty dir: %v", err)
	}
	if err := rename("/d1/c", "/d1/c", 0); err != nil {
		t.Errorf("rename to itself: %v", err)
	}
}

func TestLinksAndUnlink(t *testing.T) {
	e := newEnv(t)
	e.write("/f", "data")
	op, np := e.pop("/f", false), e.pop("/g", false)
	if err := e.v.LinkAt(root, op, np); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "link exists", e.v.LinkAt(root, op, np), unix.EEXIST)
	op.Release()
	np.Release()
	st, _ := e.stat("/g", false)
	if st.Nlink != 2 {
		t.Errorf("nlink = %d", st.Nlink)
	}
	fd, err := e.open(root, "/f", unix.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"/f", "/g"} {
		p := e.pop(name, false)
		if err := e.v.UnlinkAt(root, p); err != nil {
			t.Fatal(err)
		}
		p.Release()
	}
	// The open file still works after its last link is gone.
	fd.PWrite(root, [][]byte{[]byte("DATA")}, 0)
	buf := make([]byte, 4)
	if n, _ := fd.PRead(root, [][]byte{buf}, 0); n != 4 || string(buf) != "DATA" {
		t.Errorf("read unlinked = %q", buf)
	}
	if st, _ := fd.Stat(root); st.Nlink != 0 {
		t.Errorf("unlinked nlink = %d", st.Nlink)
	}
	used := e.mf.Used()
	fd.DecRef(root)
	if e.mf.Used() >= used {
		t.Errorf("pages not freed on last close: %d -> %d", used, e.mf.Used())
	}
	e.mkdir(root, "/dir", 0o755)
	p := e.pop("/dir", false)
	wantErr(t, "unlink dir", e.v.UnlinkAt(root, p), unix.EISDIR)
	p.Release()
	e.write("/dir/x", "")
	p = e.pop("/dir", false)
	wantErr(t, "rmdir non-empty", e.v.RmdirAt(root, p), unix.ENOTEMPTY)
	p.Release()
	p = e.pop("/dir/x", false)
	wantErr(t, "rmdir file", e.v.RmdirAt(root, p), unix.ENOTDIR)
	p.Release()
	p = e.pop("/dir/.", false)
	wantErr(t, "rmdir dot", e.v.RmdirAt(root, p), unix.EINVAL)
	p.Release()
	p = e.pop("/dir/x/", false)
	wantErr(t, "unlink file/", e.v.UnlinkAt(root, p), unix.ENOTDIR)
	p.Release()
	p = e.pop("/dir", false)
	wantErr(t, "link dir", e.v.LinkAt(root, p, e.pop("/dir2", false)), unix.EPERM)
	p.Release()
	wantErr(t, "mkdir exists", e.mkdir(root, "/dir", 0o755), unix.EEXIST)
	wantErr(t, "mkdir missing parent", e.mkdir(root, "/nope/x", 0o755), unix.ENOENT)
}

func TestPermissions(t *testing.T) {
	e := newEnv(t)
	e.mkdir(root, "/private", 0o700)
	e.write("/private/f", "secret")
	e.write("/ro", "r")
	e.mkdir(root, "/tmp", 0o1777)
	_, err := e.read(user, "/private/f")
	wantErr(t, "search denied", err, unix.EACCES)
	_, err = e.open(user, "/ro", unix.O_WRONLY, 0)
	wantErr(t, "write denied", err, unix.EACCES)
	if got, err := e.read(user, "/ro"); got != "r" || err != nil {
		t.Errorf("read allowed: %q %v", got, err)
	}
	_, err = e.open(user, "/newfile", unix.O_CREAT|unix.O_WRONLY, 0o644)
	wantErr(t, "create in root dir", err, unix.EACCES)
	// Sticky /tmp: a user can create but not remove root's files.
	fd, err := e.open(user, "/tmp/mine", unix.O_CREAT|unix.O_WRONLY, 0o400)
	if err != nil {
		t.Fatalf("create in /tmp: %v", err)
	}
	fd.DecRef(user)
	if st, _ := e.stat("/tmp/mine", false); st.UID != 1000 || st.GID != 1000 {
		t.Errorf("owner = %d:%d", st.UID, st.GID)
	}
	e.write("/tmp/roots", "")
	p := e.pop("/tmp/roots", false)
	wantErr(t, "sticky unlink", e.v.UnlinkAt(user, p), unix.EPERM)
	wantErr(t, "chmod not owner", e.v.SetStatAt(user, p, &vfs.SetStatOptions{Mask: linux.STATX_MODE, Mode: 0o777}), unix.EPERM)
	wantErr(t, "chown", e.v.SetStatAt(user, p, &vfs.SetStatOptions{Mask: linux.STATX_UID, UID: 1000}), unix.EPERM)
	wantErr(t, "utimes not owner", e.v.SetStatAt(user, p, &vfs.SetStatOptions{Mask: linux.STATX_MTIME, Mtime: linux.StatxTimestamp{Sec: 5}}), unix.EPERM)
	wantErr(t, "access W", e.v.AccessAt(user, p, unix.W_OK), unix.EACCES)
	if err := e.v.AccessAt(user, p, unix.R_OK); err != nil {
		t.Errorf("access R: %v", err)
	}
	p.Release()
	p = e.pop("/tmp/mine", false)
	if err := e.v.SetStatAt(user, p, &vfs.SetStatOptions{Mask: linux.STATX_MODE, Mode: 0o600}); err != nil {
		t.Errorf("chmod own file: %v", err)
	}
	if err := e.v.UnlinkAt(user, p); err != nil {
		t.Errorf("unlink own file in sticky dir: %v", err)
	}
	p.Release()
	// Root (CAP_DAC_OVERRIDE) can read a 000 file but not exec it.
	e.write("/zero", "z")
	p = e.pop("/zero", false)
	e.v.SetStatAt(root, p, &vfs.SetStatOptions{Mask: linux.STATX_MODE, Mode: 0})
	p.Release()
	if _, err := e.read(root, "/zero"); err != nil {
		t.Errorf("root read 000: %v", err)
	}
	p = e.pop("/zero", true)
	_, err = e.v.OpenAt(root, p, vfs.OpenOptions{Flags: unix.O_RDONLY, MayExec: true})
	p.Release()
	wantErr(t, "exec 000", err, unix.EACCES)
}

func TestGetdents(t *testing.T) {
	e := newEnv(t)
	e.mkdir(root, "/d", 0o755)
	want := map[string]bool{".": true, "..": true}
	for i := 0; i < 50; i++ {
		name := "/d/file" + strings.Repeat("x", i)
		e.write(name, "")
		want[name[3:]] = true
	}
	fd, err := e.open(root, "/d", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.DecRef(root)
	got := map[string]bool{}
	buf := make([]byte, 256) // small: forces many calls
	for {
		n, err := fd.Getdents(root, buf, false)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		for off := 0; off < n; {
			reclen := int(buf[off+16]) | int(buf[off+17])<<8
			name := buf[off+19 : off+reclen]
			name = name[:bytes.IndexByte(name, 0)]
			if got[string(name)] {
				t.Errorf("duplicate %q", name)
			}
			got[string(name)] = true
			off += reclen
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d entries, want %d", len(got), len(want))
	}
	if _, err := fd.Getdents(root, make([]byte, 10), false); err != nil && err != unix.EINVAL {
		t.Errorf("tiny buffer: %v", err)
	}
	fd.Seek(root, 0, unix.SEEK_SET)
	if n, _ := fd.Getdents(root, make([]byte, 10), false); n != 0 {
		t.Errorf("tiny buffer returned %d", n)
	}
}

// TestGetdentsWhileRemoving removes entries between getdents calls: no
// entry is seen twice and every survivor is seen.
func TestGetdentsWhileRemoving(t *testing.T) {
	e := newEnv(t)
	e.mkdir(root, "/d", 0o755)
	for i := 0; i < 200; i++ {
		e.write(fmt.Sprintf("/d/%03d", i), "")
	}
	fd, _ := e.open(root, "/d", unix.O_RDONLY, 0)
	defer fd.DecRef(root)
	seen := map[string]bool{}
	buf := make([]byte, 512)
	removed := false
	for {
		n, err := fd.Getdents(root, buf, false)
		if err != nil || n == 0 {
			break
		}
		for off := 0; off < n; {
			reclen := int(buf[off+16]) | int(buf[off+17])<<8
			name := string(bytes.TrimRight(buf[off+19:off+reclen], "\x00"))
			if seen[name] {
				t.Errorf("%q seen twice", name)
			}
			seen[name] = true
			off += reclen
		}
		if !removed {
			removed = true
			for i := 50; i < 200; i++ {
				p := e.pop(fmt.Sprintf("/d/%03d", i), false)
				e.v.UnlinkAt(root, p)
				p.Release()
			}
			e.write("/d/new", "")
		}
	}
	for i := 0; i < 50; i++ {
		if !seen[fmt.Sprintf("%03d", i)] {
			t.Errorf("%03d not seen", i)
		}
	}
	if !seen["new"] {
		t.Errorf("entry added during iteration not seen")
	}
}
