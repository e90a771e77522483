package gofer

import (
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/gofer/client"
	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/pipe"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// maxNegative bounds a directory's negative cache; it is cleared when full.
const maxNegative = 512

// dirInode is a directory. vfs serialises calls for one directory (its
// Dentry.dirMu), so the methods below do not race with each other on the
// same directory.
type dirInode struct {
	inode
	// negative holds names known not to exist (guarded by inode.mu;
	// always empty in shared mode).
	negative map[string]struct{}
	// pending is a revalidation walk for the Lookup that follows it
	// (shared mode; guarded by the vfs Dentry.dirMu).
	pending *pendingWalk
}

func (d *dirInode) isNegative(name string) bool {
	if d.fs.opts.Shared {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.negative[name]
	return ok
}

func (d *dirInode) setNegative(name string, neg bool) {
	if d.fs.opts.Shared {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !neg {
		delete(d.negative, name)
		return
	}
	if d.negative == nil || len(d.negative) >= maxNegative {
		d.negative = map[string]struct{}{}
	}
	d.negative[name] = struct{}{}
}

// changed records that we added or removed an entry: the directory's
// mtime and link count are stale, and name's negative entry is.
func (d *dirInode) changed(name string) {
	d.mu.Lock()
	d.valid = false
	delete(d.negative, name)
	d.mu.Unlock()
}

// Lookup implements vfs.DirInode.
func (d *dirInode) Lookup(ctx vfs.Context, name string) (vfs.Inode, error) {
	var (
		files []*client.File
		stats []client.Stat
		err   error
	)
	if p := d.takePending(name); p != nil {
		files, stats, err = p.files, p.stats, p.err
	} else {
		if d.isNegative(name) {
			return nil, unix.ENOENT
		}
		df, gerr := d.fs.get(d.h)
		if gerr != nil {
			return nil, gerr
		}
		files, stats, err = df.Walk(name)
		d.fs.put(d.h)
	}
	if err != nil {
		d.fs.client.CloseFiles(files...)
		if err == unix.ENOENT {
			d.setNegative(name, true)
		}
		return nil, err
	}
	if len(files) != 1 {
		d.fs.client.CloseFiles(files...)
		return nil, unix.EIO
	}
	return d.fs.newInode(files[0], stats[0], d, name), nil
}

func (d *dirInode) writable() error {
	if d.fs.opts.ReadOnly {
		return unix.EROFS
	}
	return nil
}

// Create implements vfs.DirInode.
func (d *dirInode) Create(ctx vfs.Context, name string, opts vfs.CreateOptions) (vfs.Inode, error) {
	if err := d.writable(); err != nil {
		return nil, err
	}
	uid, gid := uint32(opts.UID), uint32(opts.GID)
	perm := opts.Mode & 0o7777
	var (
		f   *client.File
		st  client.Stat
		err error
	)
	hostFD := -1
	switch opts.Mode & linux.S_IFMT {
	case linux.S_IFREG, linux.S_IFDIR, linux.S_IFLNK, linux.S_IFIFO, linux.S_IFSOCK:
	case linux.S_IFCHR, linux.S_IFBLK:
		// The gofer makes no device nodes on the host.
		return nil, unix.EPERM
	default:
		return nil, unix.EINVAL
	}
	df, err := d.fs.get(d.h)
	if err != nil {
		return nil, err
	}
	switch opts.Mode & linux.S_IFMT {
	case linux.S_IFREG:
		f, hostFD, st, err = df.Create(name, unix.O_RDWR|unix.O_EXCL|unix.O_CLOEXEC, perm, uid, gid)
	case linux.S_IFDIR:
		f, st, err = df.Mkdir(name, perm, uid, gid)
	case linux.S_IFLNK:
		f, st, err = df.Symlink(name, opts.Target, uid, gid)
	case linux.S_IFIFO:
		f, st, err = df.Mknod(name, linux.S_IFIFO|perm, uid, gid)
	case linux.S_IFSOCK:
		f, st, err = df.Bind(name, perm, uid, gid)
	}
	d.fs.put(d.h)
	if err != nil {
		return nil, err
	}
	d.changed(name)
	ino := d.fs.newInode(f, st, d, name)
	if r, ok := ino.(*regInode); ok && hostFD >= 0 {
		// The first Open of the new file uses the descriptor Create
		// already opened, saving a round trip.
		r.stashFD(hostFD)
	} else if hostFD >= 0 {
		unix.Close(hostFD)
	}
	if s, ok := ino.(*symlinkInode); ok {
		s.mu.Lock()
		s.target, s.haveTarget = opts.Target, true
		s.mu.Unlock()
	}
	return ino, nil
}

// Link implements vfs.DirInode.
func (d *dirInode) Link(ctx vfs.Context, name string, target vfs.Inode) error {
	if err := d.writable(); err != nil {
		return err
	}
	t, ok := target.(fileInode)
	if !ok || t.common().fs != d.fs {
		return unix.EXDEV
	}
	ti := t.common()
	tf, err := d.fs.get(ti.h)
	if err != nil {
		return err
	}
	defer d.fs.put(ti.h)
	df, err := d.fs.get(d.h)
	if err != nil {
		return err
	}
	f, st, err := df.Link(tf, name)
	d.fs.put(d.h)
	if err != nil {
		return err
	}
	// The new name is a place to find the file again (and anchors it if
	// its old name was unlinked).
	if !d.fs.adopt(ti.h, f, d, name) {
		f.Close()
	}
	d.changed(name)
	ti.setStat(st)
	return nil
}

// Unlink implements vfs.DirInode.
func (d *dirInode) Unlink(ctx vfs.Context, name string, child vfs.Inode) error {
	return d.remove(name, child, 0)
}

// Rmdir implements vfs.DirInode.
func (d *dirInode) Rmdir(ctx vfs.Context, name string, child vfs.Inode) error {
	return d.remove(name, child, unix.AT_REMOVEDIR)
}

func (d *dirInode) remove(name string, child vfs.Inode, flags int) error {
	if err := d.writable(); err != nil {
		return err
	}
	c, ok := child.(fileInode)
	if !ok {
		return unix.EXDEV
	}
	ci := c.common()
	// A file that stays reachable (open, or by another name) must hold
	// its handle before it loses the name it can be found by.
	keep, linked := d.fs.removal(ci)
	if keep {
		if _, err := d.fs.get(ci.h); err == nil {
			defer d.fs.put(ci.h)
		} // else lost already; the name goes anyway
	}
	df, err := d.fs.get(d.h)
	if err != nil {
		return err
	}
	defer d.fs.put(d.h)
	d.fs.locMu.Lock()
	err = df.Unlink(name, flags)
	if err == nil {
		d.fs.detach(ci.h, d, name, linked)
	}
	d.fs.locMu.Unlock()
	if err != nil {
		return err
	}
	d.changed(name)
	d.setNegative(name, true)
	d.fs.gone(child)
	return nil
}

// Rename implements vfs.DirInode.
func (d *dirInode) Rename(ctx vfs.Context, oldName string, child vfs.Inode, newDir vfs.DirInode, newName string, replaced vfs.Inode, flags uint32) error {
	if err := d.writable(); err != nil {
		return err
	}
	nd := dirOf(newDir)
	if nd == nil || nd.fs != d.fs {
		return unix.EXDEV
	}
	c, ok := child.(fileInode)
	if !ok {
		return unix.EXDEV
	}
	ci := c.common()
	exchange := flags&linux.RENAME_EXCHANGE != 0
	var (
		ri     *inode
		linked bool
	)
	if replaced != nil {
		r, ok := replaced.(fileInode)
		if !ok {
			return unix.EXDEV
		}
		ri = r.common()
		if !exchange {
			var keep bool
			keep, linked = d.fs.removal(ri)
			if keep {
				if _, err := d.fs.get(ri.h); err == nil {
					defer d.fs.put(ri.h)
				}
			}
		}
	}
	df, err := d.fs.get(d.h)
	if err != nil {
		return err
	}
	defer d.fs.put(d.h)
	ndf, err := d.fs.get(nd.h)
	if err != nil {
		return err
	}
	defer d.fs.put(nd.h)
	d.fs.locMu.Lock()
	err = df.Rename(ndf, oldName, newName, flags)
	if err == nil {
		if ri != nil && !exchange {
			d.fs.detach(ri.h, nd, newName, linked)
		}
		d.fs.moved(ci.h, d, oldName, nd, newName)
		if ri != nil && exchange {
			d.fs.moved(ri.h, nd, newName, d, oldName)
		}
	}
	d.fs.locMu.Unlock()
	if err != nil {
		return err
	}
	d.changed(oldName)
	nd.changed(newName)
	if flags&linux.RENAME_EXCHANGE == 0 {
		d.setNegative(oldName, true)
	}
	if c, ok := child.(fileInode); ok {
		c.common().invalidate()
	}
	if replaced != nil {
		if flags&linux.RENAME_EXCHANGE != 0 {
			replaced.(fileInode).common().invalidate()
		} else {
			d.fs.gone(replaced)
		}
	}
	return nil
}

// gone records that a name of child was removed. The cached link count
// drops too, for an unlinked file that kept no handle to ask with.
func (fs *filesystem) gone(child vfs.Inode) {
	c, ok := child.(fileInode)
	if !ok {
		return
	}
	i := c.common()
	i.mu.Lock()
	if i.kind == linux.S_IFDIR {
		i.st.Nlink = 0
	} else if i.st.Nlink > 0 {
		i.st.Nlink--
	}
	i.st.Ctime = time.Now().UnixNano()
	i.valid = false
	i.mu.Unlock()
	if r, ok := child.(*regInode); ok {
		fs.forget(r)
	}
}

// IterDirents implements vfs.DirInode: one gofer round trip per page.
func (d *dirInode) IterDirents(ctx vfs.Context, cookie int64, emit func(vfs.Dirent) bool) error {
	df, err := d.fs.get(d.h)
	if err == unix.ENOENT {
		return nil // removed, and empty
	}
	if err != nil {
		return err
	}
	defer d.fs.put(d.h)
	d.fs.markRead(d.h, df)
	c := uint64(cookie)
	for {
		ents, err := df.Getdents(c)
		if err != nil {
			return err
		}
		if len(ents) == 0 {
			return nil
		}
		for _, e := range ents {
			if !emit(vfs.Dirent{Name: e.Name, Ino: e.Ino, Type: e.Type, NextCookie: int64(e.Next)}) {
				return nil
			}
			c = e.Next
		}
	}
}

// specialInode is a FIFO, socket or device node.
type specialInode struct {
	inode

	pipeOnce sync.Once
	pipe     *pipe.Pipe

	boundMu sync.Mutex
	bound   any
}

// Open implements vfs.Opener: a FIFO opens a pipe kept in the sentry
// (processes of the sandbox talk through it; the host FIFO is not used).
func (s *specialInode) Open(ctx vfs.Context, vd vfs.VirtualDentry, flags uint32) (vfs.FileImpl, error) {
	if s.kind != linux.S_IFIFO {
		return nil, unix.ENXIO
	}
	s.pipeOnce.Do(func() { s.pipe = pipe.New() })
	return s.pipe.Open(ctx, vd, flags)
}

// Evict implements vfs.Evictor: a socket file with a bound endpoint stays
// cached, since the endpoint lives only here.
func (s *specialInode) Evict() bool {
	if s.BoundEndpoint() != nil {
		return false
	}
	return s.inode.Evict()
}

// BoundEndpoint implements vfs.SocketInode.
func (s *specialInode) BoundEndpoint() any {
	s.boundMu.Lock()
	defer s.boundMu.Unlock()
	return s.bound
}

// SetBoundEndpoint stores the endpoint of a unix socket bound here.
func (s *specialInode) SetBoundEndpoint(ep any) {
	s.boundMu.Lock()
	s.bound = ep
	s.boundMu.Unlock()
}

// closeOnCollect releases the gofer handle h once ino is garbage.
func closeOnCollect[T any](ino *T, h *handle) {
	runtime.AddCleanup(ino, collectHandle, h)
}
