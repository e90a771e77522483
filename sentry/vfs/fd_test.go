package vfs_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/dev"
	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/tmpfs"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

func TestFDTable(t *testing.T) {
	e := newEnv(t)
	e.write("/f", "x")
	f, err := e.open(root, "/f", unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	tab := vfs.NewFDTable()
	for want := int32(0); want < 3; want++ {
		if fd, err := tab.NewFD(0, f, vfs.FDFlags{}, 100); fd != want || err != nil {
			t.Fatalf("NewFD = %d %v, want %d", fd, err, want)
		}
	}
	if fd, _ := tab.NewFD(10, f, vfs.FDFlags{CloseOnExec: true}, 100); fd != 10 {
		t.Errorf("NewFD(min 10) = %d", fd)
	}
	tab.Remove(1)
	if fd, _ := tab.NewFD(0, f, vfs.FDFlags{}, 100); fd != 1 {
		t.Errorf("lowest free = %d", fd)
	}
	if _, err := tab.NewFD(0, f, vfs.FDFlags{}, 3); err != unix.EMFILE {
		t.Errorf("past limit: %v", err)
	}
	if err := tab.NewFDAt(50, f, vfs.FDFlags{}, 50); err != unix.EBADF {
		t.Errorf("dup2 past limit: %v", err)
	}
	if err := tab.NewFDAt(2, f, vfs.FDFlags{CloseOnExec: true}, 100); err != nil {
		t.Errorf("dup2 over open fd: %v", err)
	}
	if fl, _ := tab.GetFlags(2); !fl.CloseOnExec {
		t.Errorf("dup2 flags lost")
	}
	if err := tab.Remove(99); err != unix.EBADF {
		t.Errorf("close unopened: %v", err)
	}
	forked := tab.Fork()
	tab.CloseOnExec()
	if got := tab.FDs(); fmt.Sprint(got) != "[0 1]" {
		t.Errorf("after CloseOnExec: %v", got)
	}
	if got := forked.FDs(); fmt.Sprint(got) != "[0 1 2 10]" {
		t.Errorf("fork: %v", got)
	}
	forked.CloseRange(1, 5, unix.CLOSE_RANGE_CLOEXEC)
	if fl, _ := forked.GetFlags(1); !fl.CloseOnExec {
		t.Errorf("CLOSE_RANGE_CLOEXEC not applied")
	}
	forked.CloseRange(1, ^uint32(0), 0)
	if forked.Count() != 1 {
		t.Errorf("CloseRange left %v", forked.FDs())
	}
	var seen []int32
	forked.ForEach(func(fd int32, f *vfs.FileDescription, fl vfs.FDFlags) bool {
		seen = append(seen, fd)
		return true
	})
	if len(seen) != 1 || seen[0] != 0 {
		t.Errorf("ForEach saw %v", seen)
	}
	got, _ := tab.Get(0)
	if got != f {
		t.Errorf("Get returned another file")
	}
	got.DecRef(root)
	forked.DecRef()
	tab.DecRef()
	// Only our own reference remains.
	f.DecRef(root)
	if f.TryIncRef() {
		t.Errorf("file still alive after the last reference")
	}
}

func TestFSContext(t *testing.T) {
	e := newEnv(t)
	e.mkdir(root, "/d", 0o755)
	p := e.pop("/d", true)
	d, err := e.v.GetDentryAt(root, p, vfs.GetDentryOptions{CheckSearchable: true})
	p.Release()
	if err != nil {
		t.Fatal(err)
	}
	child := e.fsc.Fork()
	child.SetCwd(d)
	d.DecRef()
	e.write("/d/f", "in d")
	p = child.PathOp(vfs.VirtualDentry{}, "f", true)
	fd, err := e.v.OpenAt(root, p, vfs.OpenOptions{Flags: unix.O_RDONLY})
	p.Release()
	if err != nil {
		t.Fatalf("relative open from new cwd: %v", err)
	}
	fd.DecRef(root)
	if old := child.SwapUmask(0o077); old != 0o22 {
		t.Errorf("umask = %o", old)
	}
	if e.fsc.Umask() != 0o22 {
		t.Errorf("forked umask shared")
	}
	child.DecRef()
}

func TestLocks(t *testing.T) {
	e := newEnv(t)
	e.write("/f", "0123456789")
	f1, _ := e.open(root, "/f", unix.O_RDWR, 0)
	f2, _ := e.open(root, "/f", unix.O_RDWR, 0)
	defer f2.DecRef(root)
	ownerA, ownerB := "a", "b"
	if err := f1.LockRecord(ownerA, 1, vfs.WriteLock, 0, 5); err != nil {
		t.Fatal(err)
	}
	if err := f2.LockRecord(ownerB, 2, vfs.ReadLock, 4, 6); err != unix.EAGAIN {
		t.Errorf("overlapping lock: %v", err)
	}
	if err := f2.LockRecord(ownerB, 2, vfs.WriteLock, 5, vfs.LockEOF); err != nil {
		t.Errorf("adjacent lock: %v", err)
	}
	c := f2.TestRecord(ownerB, vfs.ReadLock, 0, 1)
	if c == nil || c.PID != 1 || c.Type != vfs.WriteLock || c.End != 5 {
		t.Errorf("F_GETLK = %+v", c)
	}
	// Unlock the middle of A's lock: [0,2) and [3,5) remain.
	f1.LockRecord(ownerA, 1, vfs.UnlockOp, 2, 3)
	if f2.TestRecord(ownerB, vfs.WriteLock, 2, 3) != nil {
		t.Errorf("hole still locked")
	}
	if f2.TestRecord(ownerB, vfs.WriteLock, 3, 4) == nil {
		t.Errorf("split lost the tail")
	}
	// Read locks share.
	f1.LockRecord(ownerA, 1, vfs.UnlockOp, 0, vfs.LockEOF)
	f2.LockRecord(ownerB, 2, vfs.UnlockOp, 0, vfs.LockEOF)
	if err := f1.LockRecord(ownerA, 1, vfs.ReadLock, 0, 10); err != nil {
		t.Error(err)
	}
	if err := f2.LockRecord(ownerB, 2, vfs.ReadLock, 0, 10); err != nil {
		t.Errorf("shared read locks: %v", err)
	}
	// flock: per open file; closing releases.
	if err := f1.Flock(unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if err := f2.Flock(unix.LOCK_SH); err != unix.EWOULDBLOCK {
		t.Errorf("flock conflict: %v", err)
	}
	f1.DecRef(root)
	if err := f2.Flock(unix.LOCK_EX); err != nil {
		t.Errorf("flock after close: %v", err)
	}
	ro, _ := e.open(root, "/f", unix.O_RDONLY, 0)
	if err := ro.LockRecord(ownerA, 1, vfs.WriteLock, 0, 1); err != unix.EBADF {
		t.Errorf("write lock on read-only file: %v", err)
	}
	ro.DecRef(root)
}

func TestDevAndFIFO(t *testing.T) {
	e := newEnv(t)
	e.mkdir(root, "/dev", 0o755)
	devfs, err := dev.New(e.v, e.mf)
	if err != nil {
		t.Fatal(err)
	}
	p := e.pop("/dev", true)
	e.v.MountAt(root, p, devfs, "dev", vfs.MountFlags{})
	p.Release()
	buf := []byte("xxxx")
	z, err := e.open(root, "/dev/zero", unix.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := z.Read(root, [][]byte{buf}); n != 4 || string(buf) != "\x00\x00\x00\x00" {
		t.Errorf("zero read %q", buf)
	}
	z.DecRef(root)
	n, _ := e.open(root, "/dev/null", unix.O_RDWR, 0)
	if c, _ := n.Write(root, [][]byte{buf}); c != 4 {
		t.Errorf("null write %d", c)
	}
	if c, err := n.Read(root, [][]byte{buf}); c != 0 || err != nil {
		t.Errorf("null read %d %v", c, err)
	}
	n.DecRef(root)
	full, _ := e.open(root, "/dev/full", unix.O_WRONLY, 0)
	if _, err := full.Write(root, [][]byte{buf}); err != unix.ENOSPC {
		t.Errorf("full write: %v", err)
	}
	full.DecRef(root)
	_, err = e.open(root, "/dev/tty", unix.O_RDWR, 0)
	wantErr(t, "tty without terminal", err, unix.ENXIO)
	st, _ := e.stat("/dev/null", true)
	if st.RdevMajor != 1 || st.RdevMinor != 3 || st.Mode&linux.S_IFMT != linux.S_IFCHR {
		t.Errorf("/dev/null stat %+v", st)
	}
	p = e.pop("/dev/fd", false)
	if target, _ := e.v.ReadlinkAt(root, p); target != "/proc/self/fd" {
		t.Errorf("/dev/fd -> %q", target)
	}
	p.Release()
	// mknod a device node elsewhere: it opens the same device; without
	// CAP_MKNOD it is refused; nodev mounts refuse to open it.
	p = e.pop("/mynull", false)
	if err := e.v.MknodAt(root, p, linux.S_IFCHR|0o666, 1, 3); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "mknod as user", e.v.MknodAt(user, p, linux.S_IFCHR|0o666, 1, 3), unix.EPERM)
	p.Release()
	f, err := e.open(root, "/mynull", unix.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("open mknod'ed null: %v", err)
	}
	f.DecRef(root)
	// A FIFO in tmpfs.
	p = e.pop("/fifo", false)
	if err := e.v.MknodAt(root, p, linux.S_IFIFO|0o644, 0, 0); err != nil {
		t.Fatal(err)
	}
	p.Release()
	_, err = e.open(root, "/fifo", unix.O_WRONLY|unix.O_NONBLOCK, 0)
	wantErr(t, "fifo writer without reader", err, unix.ENXIO)
	r, err := e.open(root, "/fifo", unix.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	w, err := e.open(root, "/fifo", unix.O_WRONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(root, [][]byte{[]byte("via fifo")})
	got := make([]byte, 20)
	if c, _ := r.Read(root, [][]byte{got}); string(got[:c]) != "via fifo" {
		t.Errorf("fifo read %q", got[:c])
	}
	r.DecRef(root)
	w.DecRef(root)
	// Sockets cannot be opened.
	p = e.pop("/sock", false)
	e.v.MknodAt(root, p, linux.S_IFSOCK|0o644, 0, 0)
	p.Release()
	_, err = e.open(root, "/sock", unix.O_RDONLY, 0)
	wantErr(t, "open socket", err, unix.ENXIO)
	// Unix-socket binding.
	p = e.pop("/bound", false)
	if err := e.v.BindAt(root, p, 0o777, "endpoint"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "bind twice", e.v.BindAt(root, p, 0o777, "x"), unix.EADDRINUSE)
	if ep, err := e.v.BoundEndpointAt(root, p); ep != "endpoint" || err != nil {
		t.Errorf("BoundEndpointAt = %v %v", ep, err)
	}
	p.Release()
	p = e.pop("/sock", false)
	if _, err := e.v.BoundEndpointAt(root, p); err != unix.ECONNREFUSED {
		t.Errorf("connect to unbound socket file: %v", err)
	}
	p.Release()
	// O_PATH works on anything and reads nothing.
	op, err := e.open(root, "/sock", unix.O_PATH, 0)
	if err != nil {
		t.Fatalf("O_PATH: %v", err)
	}
	if _, err := op.Read(root, [][]byte{got}); err != unix.EBADF {
		t.Errorf("read O_PATH: %v", err)
	}
	op.DecRef(root)
}

// TestConcurrentTree runs creates, renames, lookups and unlinks in parallel
// (meaningful under -race).
func TestConcurrentTree(t *testing.T) {
	e := newEnv(t)
	e.mkdir(root, "/a", 0o777)
	e.mkdir(root, "/b", 0o777)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				name := fmt.Sprintf("/a/f%d-%d", g, i)
				f, err := e.open(root, name, unix.O_CREAT|unix.O_RDWR, 0o644)
				if err != nil {
					t.Error(err)
					return
				}
				f.Write(root, [][]byte{[]byte(name)})
				f.DecRef(root)
				op, np := e.pop(name, false), e.pop(strings.Replace(name, "/a/", "/b/", 1), false)
				if err := e.v.RenameAt(root, op, np, 0); err != nil {
					t.Error(err)
				}
				op.Release()
				np.Release()
				e.stat("/b/../a/.", true)
				if i%2 == 0 {
					p := e.pop(strings.Replace(name, "/a/", "/b/", 1), false)
					e.v.UnlinkAt(root, p)
					p.Release()
				}
			}
		}(g)
	}
	wg.Wait()
	dir, _ := e.open(root, "/b", unix.O_RDONLY, 0)
	defer dir.DecRef(root)
	buf := make([]byte, 1<<16)
	n, _ := dir.Getdents(root, buf, false)
	if n == 0 {
		t.Errorf("no entries")
	}
	_ = tmpfs.Options{}
}
