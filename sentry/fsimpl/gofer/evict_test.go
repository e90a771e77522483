package gofer

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// openFDs counts this process's descriptors: the in-process gofer's
// handles are among them.
func openFDs(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func (e *env) impl() *filesystem {
	return e.root.Mount.Filesystem().Impl().(*filesystem)
}

// makeTree creates top/sub/f<k> files, dirs x subs x files of them, on the
// host directly; file k of a directory is k bytes long (a sparse truncate).
func makeTree(t testing.TB, root string, dirs, subs, files int) {
	for d := 0; d < dirs; d++ {
		for s := 0; s < subs; s++ {
			dir := filepath.Join(root, "tree", fmt.Sprintf("d%d", d), fmt.Sprintf("s%d", s))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
			if err != nil {
				t.Fatal(err)
			}
			for k := 0; k < files; k++ {
				fd, err := unix.Openat(dfd, "f"+strconv.Itoa(k), unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
				if err != nil {
					t.Fatal(err)
				}
				unix.Ftruncate(fd, int64(k))
				unix.Close(fd)
			}
			unix.Close(dfd)
		}
	}
}

// memDir returns a temporary directory on tmpfs if there is one (creating
// 30,000 files on a busy disk takes long), else on disk.
func memDir(t testing.TB) string {
	var sfs unix.Statfs_t
	if unix.Statfs("/dev/shm", &sfs) == nil && sfs.Type == unix.TMPFS_MAGIC {
		if dir, err := os.MkdirTemp("/dev/shm", "gofer-evict-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

// walker walks a tree through vfs the way find(1) -size does: open each
// directory, read it, lstat every entry, recurse into directories.
type walker struct {
	e       *env
	sizes   bool // check that file k is k bytes long
	files   int
	dirs    int
	maxFDs  int
	checkFn func()
}

func (w *walker) walk(path string) {
	t := w.e.t
	t.Helper()
	fd, err := w.e.v.OpenAt(rootCtx, w.e.pop(path), vfs.OpenOptions{Flags: unix.O_RDONLY | unix.O_DIRECTORY})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer fd.DecRef(rootCtx)
	w.dirs++
	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := fd.Getdents(rootCtx, buf, false)
		if err != nil {
			t.Fatalf("getdents %s: %v", path, err)
		}
		if n == 0 {
			break
		}
		for b := buf[:n]; len(b) > 0; {
			reclen := binary.LittleEndian.Uint16(b[16:])
			name := string(b[19:reclen])
			name = name[:strings.IndexByte(name, 0)]
			if name != "." && name != ".." {
				names = append(names, name)
			}
			b = b[reclen:]
		}
	}
	for _, name := range names {
		p := path + "/" + name
		st, err := w.e.v.StatAt(rootCtx, &vfs.PathOperation{Root: w.e.root, Start: w.e.root, Path: p})
		if err != nil {
			t.Fatalf("lstat %s: %v", p, err)
		}
		switch st.Mode & linux.S_IFMT {
		case linux.S_IFDIR:
			w.walk(p)
		case linux.S_IFREG:
			w.files++
			if want, _ := strconv.Atoi(strings.TrimPrefix(name, "f")); w.sizes && uint64(want) != st.Size {
				t.Fatalf("%s: size %d, want %d", p, st.Size, want)
			}
		}
	}
	w.maxFDs = max(w.maxFDs, openFDs(t))
	if w.checkFn != nil {
		w.checkFn()
	}
}

// A tree far bigger than the handle budget, walked completely twice: the
// gofer's descriptors stay bounded and the dentry cache too.
func TestBoundedHandlesTreeWalk(t *testing.T) {
	const (
		dirs, subs, files = 30, 10, 100 // 30,000 files, 331 directories
		maxHandles        = 500
		maxDentries       = 2000
	)
	e := newEnvAt(t, memDir(t), Options{MaxHandles: maxHandles}, false)
	e.v.SetMaxCachedDentries(maxDentries)
	start := time.Now()
	makeTree(t, e.dir, dirs, subs, files)
	t.Logf("tree made in %v", time.Since(start))
	fs := e.impl()
	base := openFDs(t)
	w := &walker{e: e, sizes: true, checkFn: func() {
		fs.handleMu.Lock()
		cost := fs.lruCost
		fs.handleMu.Unlock()
		if cost > maxHandles {
			t.Fatalf("handle LRU costs %d > %d", cost, maxHandles)
		}
		if s := e.v.DentryCacheStats(); s.Cached > maxDentries+10 {
			t.Fatalf("dentry cache %+v", s)
		}
	}}
	for pass := 1; pass <= 2; pass++ {
		w.files, w.dirs = 0, 0
		start := time.Now()
		w.walk("/tree")
		t.Logf("pass %d: %v", pass, time.Since(start))
		if w.files != dirs*subs*files || w.dirs != 1+dirs+dirs*subs {
			t.Fatalf("pass %d: %d files, %d dirs", pass, w.files, w.dirs)
		}
	}
	// The handles in use: the budget, the root's two descriptors and the
	// directories open along the walk (depth 3, two descriptors each).
	if extra := w.maxFDs - base; extra > maxHandles+20 {
		t.Errorf("gofer descriptors grew by %d during the walk (budget %d)", extra, maxHandles)
	}
	s := e.v.DentryCacheStats()
	t.Logf("descriptors: base %d, peak %d; dentries %+v", base, w.maxFDs, s)
	if s.Evictions == 0 {
		t.Errorf("no dentry was evicted")
	}
}

// treeEnv is an env with a small tree, a tight handle budget and a small
// dentry cache; pressure() makes both turn over.
func treeEnv(t *testing.T) *env {
	e := newEnv(t, Options{MaxHandles: 40}, false)
	e.v.SetMaxCachedDentries(100)
	makeTree(t, e.dir, 2, 5, 40)
	return e
}

func (e *env) pressure() {
	e.t.Helper()
	w := &walker{e: e}
	w.walk("/tree")
	e.v.DropCachedDentries()
}

func (e *env) hostStat(path string) os.FileInfo {
	e.t.Helper()
	fi, err := os.Lstat(filepath.Join(e.dir, path))
	if err != nil {
		e.t.Fatal(err)
	}
	return fi
}

func TestOpenFilesSurviveEviction(t *testing.T) {
	e := treeEnv(t)
	const n = 30
	fds := make([]*vfs.FileDescription, n)
	for i := range fds {
		fds[i] = e.open(fmt.Sprintf("tree/d%d/s%d/f%d", i%2, i%5, i), unix.O_RDWR, 0)
		if _, err := fds[i].PWrite(rootCtx, [][]byte{[]byte(fmt.Sprintf("file %02d", i))}, 0); err != nil {
			t.Fatal(err)
		}
	}
	mapped, err := e.v.OpenAt(rootCtx, e.pop("tree/d1/s4/f39"), vfs.OpenOptions{Flags: unix.O_RDWR})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mapped.Mappable()
	if err != nil {
		t.Fatal(err)
	}
	mapped.DecRef(rootCtx) // the mapping outlives the file (as ld.so does)
	e.pressure()
	e.pressure()
	runtime.GC()
	for i, fd := range fds {
		buf := make([]byte, 7)
		if n, err := fd.PRead(rootCtx, [][]byte{buf}, 0); err != nil || string(buf[:n]) != fmt.Sprintf("file %02d", i) {
			t.Fatalf("read %d after eviction: %q %v", i, buf[:n], err)
		}
		// fchmod needs the gofer handle back.
		if err := fd.SetStat(rootCtx, &vfs.SetStatOptions{Mask: linux.STATX_MODE, Mode: 0o600}); err != nil {
			t.Fatalf("fchmod %d after eviction: %v", i, err)
		}
		if st, err := fd.Stat(rootCtx); err != nil || st.Mode&0o777 != 0o600 {
			t.Fatalf("fstat %d: %#o %v", i, st.Mode, err)
		}
	}
	if fi := e.hostStat("tree/d1/s3/f13"); fi.Mode().Perm() != 0o600 {
		t.Errorf("host mode %v", fi.Mode())
	}
	// The mapping still translates; a new open of the file shares its
	// page cache (the inode lived on without its dentry).
	rs, err := m.Translate(0, 4096, false)
	if err != nil {
		t.Fatalf("translate after eviction: %v", err)
	}
	e.mf.DecRef(rs[0])
	again := e.open("tree/d1/s4/f39", unix.O_RDONLY, 0)
	if m2, _ := again.Mappable(); m2 != m {
		t.Errorf("a mapped file got a second page cache after its dentry was evicted")
	}
}

func TestMutationsAfterEviction(t *testing.T) {
	e := treeEnv(t)
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// An open file in a directory that is renamed while the handles are
	// gone: its handle comes back through the new name.
	deep := e.open("tree/d0/s1/f5", unix.O_RDWR, 0)
	e.pressure()
	must("rename dir", e.v.RenameAt(rootCtx, e.pop("tree/d0"), e.pop("tree/moved"), 0))
	e.pressure()
	must("fchmod in renamed dir", deep.SetStat(rootCtx, &vfs.SetStatOptions{Mask: linux.STATX_MODE, Mode: 0o640}))
	if fi := e.hostStat("tree/moved/s1/f5"); fi.Mode().Perm() != 0o640 {
		t.Errorf("host mode %v", fi.Mode())
	}

	// Rename a file after eviction, then stat both names.
	must("rename", e.v.RenameAt(rootCtx, e.pop("tree/moved/s1/f6"), e.pop("tree/d1/s0/renamed"), 0))
	e.pressure()
	if _, err := e.v.StatAt(rootCtx, e.pop("tree/moved/s1/f6")); err != unix.ENOENT {
		t.Errorf("old name: %v", err)
	}
	if st, err := e.v.StatAt(rootCtx, e.pop("tree/d1/s0/renamed")); err != nil || st.Size != 6 {
		t.Errorf("new name: %+v %v", st.Size, err)
	}

	// Unlink an open file whose handle was released: it keeps working.
	open := e.open("tree/d1/s2/f7", unix.O_RDWR, 0)
	e.pressure()
	must("unlink open", e.v.UnlinkAt(rootCtx, e.pop("tree/d1/s2/f7")))
	e.pressure()
	must("ftruncate unlinked", open.SetStat(rootCtx, &vfs.SetStatOptions{Mask: linux.STATX_SIZE, Size: 3}))
	if st, err := open.Stat(rootCtx); err != nil || st.Size != 3 || st.Nlink != 0 {
		t.Errorf("fstat unlinked: size %d nlink %d %v", st.Size, st.Nlink, err)
	}

	// Rename over an open file: the replaced one keeps working.
	victim := e.open("tree/d1/s2/f8", unix.O_RDWR, 0)
	victim.PWrite(rootCtx, [][]byte{[]byte("victim")}, 0)
	e.pressure()
	must("rename over", e.v.RenameAt(rootCtx, e.pop("tree/d1/s2/f9"), e.pop("tree/d1/s2/f8"), 0))
	e.pressure()
	must("fchmod replaced", victim.SetStat(rootCtx, &vfs.SetStatOptions{Mask: linux.STATX_MODE, Mode: 0o604}))
	if st, err := e.v.StatAt(rootCtx, e.pop("tree/d1/s2/f8")); err != nil || st.Size != 9 || st.Mode&0o777 == 0o604 {
		t.Errorf("stat of the new f8: size %d mode %#o %v", st.Size, st.Mode, err)
	}

	// Hard links: link after eviction, evict, remove the first name, use
	// the second by path and open.
	must("link", e.v.LinkAt(rootCtx, e.pop("tree/d1/s3/f10"), e.pop("tree/d1/s4/link")))
	if linked, first := e.open("tree/d1/s4/link", unix.O_RDONLY, 0), e.open("tree/d1/s3/f10", unix.O_RDONLY, 0); linked.Inode() != first.Inode() {
		t.Errorf("hard links have two inodes")
	}
	e.pressure()
	must("unlink first name", e.v.UnlinkAt(rootCtx, e.pop("tree/d1/s3/f10")))
	e.pressure()
	if st, err := e.v.StatAt(rootCtx, e.pop("tree/d1/s4/link")); err != nil || st.Nlink != 1 || st.Size != 10 {
		t.Errorf("stat of the remaining link: nlink %d size %d %v", st.Nlink, st.Size, err)
	}
	e.open("tree/d1/s4/link", unix.O_RDONLY, 0)

	// A hard link whose first name goes while the second name's dentry
	// stays cached (held by an O_PATH file): the inode must still reach
	// its file.
	must("link2", e.v.LinkAt(rootCtx, e.pop("tree/d1/s3/f11"), e.pop("tree/d1/s4/link2")))
	held := e.open("tree/d1/s4/link2", unix.O_PATH, 0)
	e.v.StatAt(rootCtx, e.pop("tree/d1/s3/f11"))
	must("unlink f11", e.v.UnlinkAt(rootCtx, e.pop("tree/d1/s3/f11")))
	e.pressure()
	must("chmod link2", e.v.SetStatAt(rootCtx, e.pop("tree/d1/s4/link2"), &vfs.SetStatOptions{Mask: linux.STATX_MODE, Mode: 0o611}))
	if fi := e.hostStat("tree/d1/s4/link2"); fi.Mode().Perm() != 0o611 {
		t.Errorf("host mode of link2 %v", fi.Mode())
	}
	_ = held

	// Create, mkdir, rmdir and getdents after eviction.
	e.pressure()
	must("mkdir", e.v.MkdirAt(rootCtx, e.pop("tree/d1/s0/newdir"), 0o755))
	e.open("tree/d1/s0/newdir/x", unix.O_CREAT|unix.O_WRONLY, 0o644)
	e.pressure()
	if err := e.v.RmdirAt(rootCtx, e.pop("tree/d1/s0/newdir")); err != unix.ENOTEMPTY {
		t.Errorf("rmdir non-empty: %v", err)
	}
	must("unlink x", e.v.UnlinkAt(rootCtx, e.pop("tree/d1/s0/newdir/x")))
	e.pressure()
	must("rmdir", e.v.RmdirAt(rootCtx, e.pop("tree/d1/s0/newdir")))
	if _, err := os.Lstat(filepath.Join(e.dir, "tree/d1/s0/newdir")); !os.IsNotExist(err) {
		t.Errorf("host dir still there: %v", err)
	}
	w := &walker{e: e}
	w.walk("/tree")
	if want := 2*5*40 - 1 /* f7 */ - 1 /* f9 over f8 */ - 1 - 1 /* f10, f11 */ + 2; /* links */ w.files != want {
		t.Errorf("walk after mutations found %d files, want %d", w.files, want)
	}
}

// Concurrent walks, opens and renames with a handle budget of a few: the
// -race detector's test of handle.go.
func TestConcurrentEviction(t *testing.T) {
	e := newEnv(t, Options{MaxHandles: 8}, false)
	e.v.SetMaxCachedDentries(20)
	makeTree(t, e.dir, 2, 2, 30)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				p := fmt.Sprintf("tree/d%d/s%d/f%d", (g+i)%2, i%2, (i*7)%30)
				fd, err := e.v.OpenAt(rootCtx, e.pop(p), vfs.OpenOptions{Flags: unix.O_RDONLY})
				if err != nil {
					errs <- fmt.Errorf("open %s: %v", p, err)
					return
				}
				if st, err := fd.Stat(rootCtx); err != nil || st.Mode&linux.S_IFMT != linux.S_IFREG {
					errs <- fmt.Errorf("fstat %s: %v", p, err)
				}
				fd.DecRef(rootCtx)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 50; i++ {
			from, to := "tree/d0/s0/f29", "tree/d1/s1/moved"
			if i%2 == 1 {
				from, to = to, from
			}
			if err := e.v.RenameAt(rootCtx, e.pop(from), e.pop(to), 0); err != nil {
				errs <- fmt.Errorf("rename %s: %v", from, err)
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Unlinked files give their handles back at once (not when the garbage
// collector gets to their inodes), and an unlinked open file at its last
// close.
func TestUnlinkReleasesHandles(t *testing.T) {
	e := newEnv(t, Options{MaxHandles: 1000}, false)
	base := openFDs(t)
	for i := 0; i < 300; i++ {
		fd, err := e.v.OpenAt(rootCtx, e.pop(fmt.Sprintf("f%d", i)), vfs.OpenOptions{Flags: unix.O_CREAT | unix.O_WRONLY, Mode: 0o644})
		if err != nil {
			t.Fatal(err)
		}
		fd.DecRef(rootCtx)
	}
	if n := openFDs(t); n < base+300 {
		t.Fatalf("%d descriptors after creating 300 files (base %d): handles not held?", n, base)
	}
	for i := 0; i < 300; i++ {
		if err := e.v.UnlinkAt(rootCtx, e.pop(fmt.Sprintf("f%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	// The gofer closes asynchronously; give it a moment.
	deadline := time.Now().Add(5 * time.Second)
	for openFDs(t) > base+5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := openFDs(t); n > base+5 {
		t.Errorf("%d descriptors after unlinking them all (base %d)", n, base)
	}

	fd, err := e.v.OpenAt(rootCtx, e.pop("open"), vfs.OpenOptions{Flags: unix.O_CREAT | unix.O_RDWR, Mode: 0o644})
	if err != nil {
		t.Fatal(err)
	}
	h := fd.Inode().(*regInode).h
	if err := e.v.UnlinkAt(rootCtx, e.pop("open")); err != nil {
		t.Fatal(err)
	}
	if err := fd.SetStat(rootCtx, &vfs.SetStatOptions{Mask: linux.STATX_SIZE, Size: 7}); err != nil {
		t.Fatalf("ftruncate of the unlinked open file: %v", err)
	}
	fs := e.impl()
	fs.handleMu.Lock()
	held := h.file != nil
	fs.handleMu.Unlock()
	if !held {
		t.Fatal("an unlinked open file lost its handle")
	}
	fd.DecRef(rootCtx)
	fs.handleMu.Lock()
	held = h.file != nil
	fs.handleMu.Unlock()
	if held {
		t.Error("the last close of an unlinked file kept its handle")
	}
}
