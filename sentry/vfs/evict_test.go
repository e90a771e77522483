package vfs_test

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/tmpfs"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// remoteFS is a filesystem like the gofer's: the tree lives elsewhere (in
// rnodes, standing for host files), every Lookup returns a fresh inode
// object, and inodes are Evictors that count their evictions.
type remoteFS struct {
	mu      sync.Mutex // guards the rnode tree
	nextIno uint64
	lookups atomic.Int64
	evicts  atomic.Int64
}

type rnode struct {
	mode     uint32
	ino      uint64
	nlink    uint32
	children map[string]*rnode
}

type rinode struct {
	vfs.NoSetStat
	fs      *remoteFS
	n       *rnode
	keep    bool // veto eviction
	evicted atomic.Int32
}

func (fs *remoteFS) Name() string                               { return "remote" }
func (fs *remoteFS) MountOptions() string                       { return "" }
func (fs *remoteFS) Statfs(ctx vfs.Context) (vfs.StatFS, error) { return vfs.StatFS{}, nil }

func (fs *remoteFS) newNode(mode uint32) *rnode {
	fs.nextIno++
	n := &rnode{mode: mode, ino: fs.nextIno, nlink: 1}
	if mode&linux.S_IFMT == linux.S_IFDIR {
		n.children = map[string]*rnode{}
		n.nlink = 2
	}
	return n
}

func (i *rinode) Stat(ctx vfs.Context) (linux.Statx, error) {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	return linux.Statx{Mask: linux.STATX_BASIC_STATS, Mode: uint16(i.n.mode), Ino: i.n.ino, Nlink: i.n.nlink}, nil
}

func (i *rinode) Evict() bool {
	if i.keep {
		return false
	}
	i.evicted.Add(1)
	i.fs.evicts.Add(1)
	return true
}

func (i *rinode) Lookup(ctx vfs.Context, name string) (vfs.Inode, error) {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	c := i.n.children[name]
	if c == nil {
		return nil, unix.ENOENT
	}
	i.fs.lookups.Add(1)
	return &rinode{fs: i.fs, n: c, keep: c.mode&linux.S_IFMT == linux.S_IFSOCK}, nil
}

func (i *rinode) Create(ctx vfs.Context, name string, opts vfs.CreateOptions) (vfs.Inode, error) {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	if i.n.children[name] != nil {
		return nil, unix.EEXIST
	}
	c := i.fs.newNode(opts.Mode)
	i.n.children[name] = c
	return &rinode{fs: i.fs, n: c, keep: c.mode&linux.S_IFMT == linux.S_IFSOCK}, nil
}

func (i *rinode) Link(ctx vfs.Context, name string, target vfs.Inode) error {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	t := target.(*rinode)
	i.n.children[name] = t.n
	t.n.nlink++
	return nil
}

func (i *rinode) Unlink(ctx vfs.Context, name string, child vfs.Inode) error {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	c := i.n.children[name]
	delete(i.n.children, name)
	c.nlink--
	return nil
}

func (i *rinode) Rmdir(ctx vfs.Context, name string, child vfs.Inode) error {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	if len(i.n.children[name].children) > 0 {
		return unix.ENOTEMPTY
	}
	delete(i.n.children, name)
	return nil
}

func (i *rinode) Rename(ctx vfs.Context, oldName string, child vfs.Inode, newDir vfs.DirInode, newName string, replaced vfs.Inode, flags uint32) error {
	i.fs.mu.Lock()
	defer i.fs.mu.Unlock()
	nd := newDir.(*rinode)
	c := i.n.children[oldName]
	delete(i.n.children, oldName)
	nd.n.children[newName] = c
	return nil
}

func (i *rinode) IterDirents(ctx vfs.Context, cookie int64, emit func(vfs.Dirent) bool) error {
	i.fs.mu.Lock()
	names := make([]string, 0, len(i.n.children))
	for n := range i.n.children {
		names = append(names, n)
	}
	i.fs.mu.Unlock()
	sort.Strings(names)
	for k := int(cookie); k < len(names); k++ {
		if !emit(vfs.Dirent{Name: names[k], Ino: 1, Type: linux.DT_UNKNOWN, NextCookie: int64(k + 1)}) {
			break
		}
	}
	return nil
}

// newRemoteEnv returns an env whose root is a remoteFS.
func newRemoteEnv(t *testing.T) (*env, *remoteFS) {
	e := newEnv(t)
	rfs := &remoteFS{}
	rootNode := rfs.newNode(linux.S_IFDIR | 0o755)
	v := vfs.New()
	fs := v.NewFilesystem(rfs, &rinode{fs: rfs, n: rootNode})
	rootVD := v.MountRoot(fs, "remote", vfs.MountFlags{})
	e.fsc.DecRef()
	e.v = v
	e.fsc = vfs.NewFSContext(rootVD, rootVD)
	rootVD.DecRef()
	return e, rfs
}

// populate makes dirs directories of files files each under /t.
func (e *env) populate(dirs, files int) {
	e.t.Helper()
	e.mkdir(root, "/t", 0o755)
	for d := 0; d < dirs; d++ {
		if err := e.mkdir(root, fmt.Sprintf("/t/d%d", d), 0o755); err != nil {
			e.t.Fatal(err)
		}
		for f := 0; f < files; f++ {
			p := e.pop(fmt.Sprintf("/t/d%d/f%d", d, f), false)
			err := e.v.MknodAt(root, p, linux.S_IFREG|0o644, 0, 0)
			p.Release()
			if err != nil {
				e.t.Fatal(err)
			}
		}
	}
}

func (e *env) mustStat(path string) linux.Statx {
	e.t.Helper()
	st, err := e.stat(path, false)
	if err != nil {
		e.t.Fatalf("stat %s: %v", path, err)
	}
	return st
}

func (e *env) dentry(path string) *vfs.Dentry {
	e.t.Helper()
	p := e.pop(path, false)
	defer p.Release()
	vd, err := e.v.GetDentryAt(root, p, vfs.GetDentryOptions{})
	if err != nil {
		e.t.Fatalf("%s: %v", path, err)
	}
	vd.DecRef()
	return vd.Dentry
}

func TestEvictBoundsCache(t *testing.T) {
	e, rfs := newRemoteEnv(t)
	const limit = 200
	e.v.SetMaxCachedDentries(limit)
	e.populate(20, 100)
	peak := 0
	for pass := 0; pass < 2; pass++ {
		for d := 0; d < 20; d++ {
			for f := 0; f < 100; f++ {
				if st := e.mustStat(fmt.Sprintf("/t/d%d/f%d", d, f)); st.Mode&linux.S_IFMT != linux.S_IFREG {
					t.Fatalf("mode %#o", st.Mode)
				}
				peak = max(peak, e.v.DentryCacheStats().Cached)
			}
		}
	}
	s := e.v.DentryCacheStats()
	if peak > limit+1 || s.Evictions == 0 {
		t.Errorf("peak cached %d (max %d), stats %+v", peak, limit, s)
	}
	if rfs.evicts.Load() != int64(s.Evictions) {
		t.Errorf("Evict called %d times, vfs counts %d evictions", rfs.evicts.Load(), s.Evictions)
	}
	// The second pass had to look names up again.
	if got := rfs.lookups.Load(); got < 2000 {
		t.Errorf("lookups = %d, want >= 2000 (re-lookup after eviction)", got)
	}
}

func TestEvictSecondChance(t *testing.T) {
	e, _ := newRemoteEnv(t)
	e.v.SetMaxCachedDentries(100)
	e.populate(1, 300)
	hot := e.dentry("/t/d0/f0")
	for f := 1; f < 300; f++ {
		e.mustStat(fmt.Sprintf("/t/d0/f%d", f))
		e.mustStat("/t/d0/f0") // keeps being used
	}
	if e.dentry("/t/d0/f0") != hot {
		t.Errorf("a dentry used all along was evicted")
	}
}

func TestEvictNeverPinned(t *testing.T) {
	e, rfs := newRemoteEnv(t)
	e.populate(4, 10)
	// An open file, a cwd, a mount point and a bind mount's root, and a
	// socket file whose inode vetoes eviction.
	fd, err := e.open(root, "/t/d0/f0", unix.O_PATH, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.DecRef(root)
	cwdFSC := func() *vfs.FSContext {
		p := e.pop("/t/d1", true)
		defer p.Release()
		vd, err := e.v.GetDentryAt(root, p, vfs.GetDentryOptions{CheckSearchable: true})
		if err != nil {
			t.Fatal(err)
		}
		defer vd.DecRef()
		return vfs.NewFSContext(vd, vd)
	}()
	defer cwdFSC.DecRef()
	mp := e.pop("/t/d2", true)
	if err := e.v.MountAt(root, mp, tmpfs.New(e.v, e.mf, tmpfs.Options{}), "tmpfs", vfs.MountFlags{}); err != nil {
		t.Fatal(err)
	}
	mp.Release()
	e.write("/t/d2/inside", "tmpfs data")
	src := e.dentry("/t/d3/f1")
	func() {
		p := e.pop("/t/d3/f1", false)
		defer p.Release()
		svd, err := e.v.GetDentryAt(root, p, vfs.GetDentryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer svd.DecRef()
		dp := e.pop("/t/d3/f2", false)
		defer dp.Release()
		if err := e.v.BindMountAt(root, svd, dp, vfs.MountFlags{}); err != nil {
			t.Fatal(err)
		}
	}()
	sp := e.pop("/t/sock", false)
	if err := e.v.MknodAt(root, sp, linux.S_IFSOCK|0o755, 0, 0); err != nil {
		t.Fatal(err)
	}
	sp.Release()
	sock := e.dentry("/t/sock")
	fdDentry := fd.VirtualDentry().Dentry
	cwd := cwdFSC.Cwd()
	defer cwd.DecRef()
	mountPoint := e.dentry("/t/d2/..") // resolves to /t
	_ = mountPoint

	n := e.v.DropCachedDentries()
	if n == 0 {
		t.Fatalf("nothing evicted")
	}
	if fdDentry.Parent() == nil || e.dentry("/t/d0/f0") != fdDentry {
		t.Errorf("the dentry of an open file was evicted")
	}
	if e.dentry("/t/d1") != cwd.Dentry {
		t.Errorf("the cwd was evicted")
	}
	if e.dentry("/t/sock") != sock {
		t.Errorf("a dentry whose inode vetoed eviction was evicted")
	}
	if got, err := e.read(root, "/t/d2/inside"); got != "tmpfs data" {
		t.Errorf("file in a mount on an evictable dentry = %q, %v (mount lost)", got, err)
	}
	if got := e.dentry("/t/d3/f1"); got != src {
		t.Errorf("a bind mount's root was evicted")
	}
	// Everything else went: d0's f1..f9 and so on were evicted.
	if rfs.evicts.Load() < 30 {
		t.Errorf("only %d evictions", rfs.evicts.Load())
	}
	// And comes back on lookup.
	for d := 0; d < 4; d++ {
		for f := 0; f < 10; f++ {
			path := fmt.Sprintf("/t/d%d/f%d", d, f)
			if d == 2 {
				continue // covered by the tmpfs mount
			}
			e.mustStat(path)
		}
	}
}

func TestEvictThenMutate(t *testing.T) {
	e, _ := newRemoteEnv(t)
	e.populate(2, 3)
	e.v.DropCachedDentries()
	rename := func(from, to string) error {
		op, np := e.pop(from, false), e.pop(to, false)
		defer op.Release()
		defer np.Release()
		return e.v.RenameAt(root, op, np, 0)
	}
	if err := rename("/t/d0/f0", "/t/d1/moved"); err != nil {
		t.Fatal(err)
	}
	e.v.DropCachedDentries()
	if _, err := e.stat("/t/d0/f0", false); err != unix.ENOENT {
		t.Errorf("old name after rename: %v", err)
	}
	e.mustStat("/t/d1/moved")
	// Rename over a cached target, then evict, then link and unlink.
	e.mustStat("/t/d1/f1")
	if err := rename("/t/d1/moved", "/t/d1/f1"); err != nil {
		t.Fatal(err)
	}
	before := e.v.DentryCacheStats().Cached
	e.v.DropCachedDentries()
	lp, np := e.pop("/t/d1/f1", false), e.pop("/t/d0/link", false)
	if err := e.v.LinkAt(root, lp, np); err != nil {
		t.Fatal(err)
	}
	lp.Release()
	np.Release()
	e.v.DropCachedDentries()
	if st := e.mustStat("/t/d0/link"); st.Nlink != 2 {
		t.Errorf("nlink = %d", st.Nlink)
	}
	up := e.pop("/t/d1/f1", false)
	if err := e.v.UnlinkAt(root, up); err != nil {
		t.Fatal(err)
	}
	up.Release()
	if st := e.mustStat("/t/d0/link"); st.Nlink != 1 {
		t.Errorf("nlink after unlink = %d", st.Nlink)
	}
	rp := e.pop("/t/d1", false)
	if err := e.v.RmdirAt(root, rp); err != unix.ENOTEMPTY {
		t.Errorf("rmdir non-empty: %v", err)
	}
	rp.Release()
	e.v.DropCachedDentries()
	if s := e.v.DentryCacheStats(); s.Cached > before {
		t.Errorf("cache holds %d dentries after drop (had %d)", s.Cached, before)
	}
	// Every dentry left is reachable: no unlinked one stays on the LRU.
	e.v.SetMaxCachedDentries(1)
	for _, p := range []string{"/t/d0/link", "/t/d1/f2", "/t/d0/f1"} {
		e.mustStat(p)
	}
	if s := e.v.DentryCacheStats(); s.Cached > 4 {
		t.Errorf("cached %d with max 1 and nothing pinned", s.Cached)
	}
}

func TestEvictConcurrent(t *testing.T) {
	e, _ := newRemoteEnv(t)
	e.v.SetMaxCachedDentries(50)
	e.populate(8, 40)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 400; i++ {
				path := fmt.Sprintf("/t/d%d/f%d", (w+i)%8, (i*7)%40)
				fd, err := e.open(root, path, unix.O_PATH, 0)
				if err != nil {
					errs <- fmt.Errorf("%s: %v", path, err)
					return
				}
				if st, err := fd.Stat(root); err != nil || st.Mode&linux.S_IFMT != linux.S_IFREG {
					errs <- fmt.Errorf("fstat %s: %v", path, err)
				}
				fd.DecRef(root)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if s := e.v.DentryCacheStats(); s.Evictions == 0 {
		t.Errorf("no evictions: %+v", s)
	}
}

// tmpfs dentries are the tree itself: eviction pressure must never touch
// them.
func TestTmpfsNotEvicted(t *testing.T) {
	e := newEnv(t)
	e.v.SetMaxCachedDentries(10)
	e.mkdir(root, "/d", 0o755)
	for i := 0; i < 200; i++ {
		e.write(fmt.Sprintf("/d/f%d", i), fmt.Sprintf("data %d", i))
	}
	if n := e.v.DropCachedDentries(); n != 0 {
		t.Errorf("evicted %d tmpfs dentries", n)
	}
	for i := 0; i < 200; i++ {
		if got, err := e.read(root, fmt.Sprintf("/d/f%d", i)); err != nil || got != fmt.Sprintf("data %d", i) {
			t.Fatalf("f%d = %q, %v", i, got, err)
		}
	}
	if s := e.v.DentryCacheStats(); s.Cached != 0 || s.Evictions != 0 {
		t.Errorf("tmpfs dentries on the LRU: %+v", s)
	}
}
