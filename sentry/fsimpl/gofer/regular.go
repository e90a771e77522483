package gofer

import (
	"errors"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"weak"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/gofer/client"
	"github.com/runsc-cri/runsc-cri/sentry/memfile"
	"github.com/runsc-cri/runsc-cri/sentry/memmap"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// regInode is a regular file.
type regInode struct {
	inode
	sh *regShared
}

// regShared is the part of a regular file its cleanup needs (it must not
// point back to the regInode, or the inode would never be collected). It is
// also the page cache's Backing.
type regShared struct {
	mf       *memfile.File
	readOnly bool
	shared   bool // Options.Shared
	fs       *filesystem
	key      fileKey

	// wrote is set by our writes and size changes (shared mode), so
	// hostChanged does not take them for someone else's.
	wrote atomic.Bool
	// invalidations counts page cache drops by hostChanged.
	invalidations atomic.Uint64

	// ioMu serialises O_APPEND writes and truncations.
	ioMu sync.Mutex

	// mu guards the fields below.
	mu        sync.Mutex
	cache     *memmap.Cache
	backingFD int // host fd the cache reads and writes, -1 until needed
	stashed   int // fd Create opened, for the first Open; -1 if none
	// seenSize and seenMtime are the last size and mtime the host
	// reported (shared mode), if seen.
	seen                bool
	seenSize, seenMtime int64
}

// regularInode returns the inode of the regular file f names (name in
// parent), sharing the existing one if the file is already known: under
// another name (a hard link), or under this name while the inode outlived
// its evicted dentry (open, or mapped). The existing inode takes f if it had
// released its handle.
func (fs *filesystem) regularInode(f *client.File, st client.Stat, parent *dirInode, name string) *regInode {
	key := fileKey{st.Dev, st.Ino}
	fs.inodesMu.Lock()
	if wp, ok := fs.inodes[key]; ok {
		if r := wp.Value(); r != nil {
			if !fs.adopt(r.h, f, parent, name) {
				f.Close()
			}
			fs.inodesMu.Unlock()
			if fs.opts.Shared {
				r.setStat(st)
			}
			return r
		}
	}
	defer fs.inodesMu.Unlock()
	r := &regInode{}
	r.init(fs, f, st, parent, name)
	r.sh = &regShared{mf: fs.mf, readOnly: fs.opts.ReadOnly, shared: fs.opts.Shared, fs: fs, key: key, backingFD: -1, stashed: -1,
		seen: true, seenSize: st.Size, seenMtime: st.Mtime}
	r.reg = r.sh
	fs.inodes[key] = weak.Make(r)
	runtime.AddCleanup(r, releaseShared, r.sh)
	closeOnCollect(r, r.h)
	return r
}

// Stat implements vfs.Inode.Stat. In shared mode a mapped file asks its
// host fd rather than the gofer.
func (r *regInode) Stat(ctx vfs.Context) (linux.Statx, error) {
	if r.fs.opts.Shared {
		r.mu.Lock()
		fresh := r.freshLocked()
		r.mu.Unlock()
		if !fresh {
			if fd := r.backing(); fd >= 0 {
				if st, ok := r.refreshFromFD(fd); ok {
					return toStatx(&st), nil
				}
			}
		}
	}
	return r.inode.Stat(ctx)
}

// forget drops r from the hard-link table (it was unlinked: its host inode
// number may be reused).
func (fs *filesystem) forget(r *regInode) {
	fs.inodesMu.Lock()
	defer fs.inodesMu.Unlock()
	if wp, ok := fs.inodes[r.sh.key]; ok && wp.Value() == r {
		delete(fs.inodes, r.sh.key)
	}
}

// releaseShared runs once the regInode is garbage.
func releaseShared(sh *regShared) {
	sh.fs.inodesMu.Lock()
	if wp, ok := sh.fs.inodes[sh.key]; ok && wp.Value() == nil {
		delete(sh.fs.inodes, sh.key)
	}
	sh.fs.inodesMu.Unlock()
	sh.mu.Lock()
	c := sh.cache
	sh.cache = nil
	sh.mu.Unlock()
	if c != nil {
		c.Drop()
	}
	sh.mu.Lock()
	for _, fd := range []int{sh.backingFD, sh.stashed} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	sh.backingFD, sh.stashed = -1, -1
	sh.mu.Unlock()
}

func (r *regInode) stashFD(fd int) {
	r.sh.mu.Lock()
	old := r.sh.stashed
	r.sh.stashed = fd
	r.sh.mu.Unlock()
	if old >= 0 {
		unix.Close(old)
	}
}

func (r *regInode) takeStashed() int {
	r.sh.mu.Lock()
	defer r.sh.mu.Unlock()
	fd := r.sh.stashed
	r.sh.stashed = -1
	return fd
}

// cacheWithPages returns the page cache if it holds pages (then I/O must go
// through it), or nil.
func (r *regInode) cacheWithPages() *memmap.Cache {
	r.sh.mu.Lock()
	c := r.sh.cache
	r.sh.mu.Unlock()
	if c == nil || !c.HasPages() {
		return nil
	}
	return c
}

// SetStat implements vfs.Inode.SetStat; a size change also trims the page
// cache.
func (r *regInode) SetStat(ctx vfs.Context, opts *vfs.SetStatOptions) error {
	if r.fs.opts.ReadOnly {
		return unix.EROFS
	}
	req := setattrRequest(opts)
	if req.Mask == 0 {
		return nil
	}
	if req.Mask&client.SetattrSize != 0 {
		r.sh.ioMu.Lock()
		defer r.sh.ioMu.Unlock()
		if r.sh.shared {
			r.sh.wrote.Store(true)
		}
	}
	f, err := r.fs.get(r.h)
	if err != nil {
		return err
	}
	defer r.fs.put(r.h)
	st, err := f.Setattr(req)
	if err != nil {
		return err
	}
	if req.Mask&client.SetattrSize != 0 {
		r.sh.mu.Lock()
		c := r.sh.cache
		r.sh.mu.Unlock()
		if c != nil {
			c.Truncate(uint64(st.Size))
		}
	}
	r.setStat(st)
	return nil
}

// Open implements vfs.Opener: the open file gets its own host fd.
func (r *regInode) Open(ctx vfs.Context, vd vfs.VirtualDentry, flags uint32) (vfs.FileImpl, error) {
	fd := r.takeStashed()
	if fd < 0 {
		gflags := int(flags)&(unix.O_ACCMODE|unix.O_NOATIME|unix.O_SYNC|unix.O_DSYNC) | unix.O_CLOEXEC
		f, err := r.fs.get(r.h)
		if err != nil {
			return nil, err
		}
		fd, err = f.Open(gflags)
		r.fs.put(r.h)
		if err != nil {
			return nil, err
		}
		if r.fs.opts.Shared {
			// Close-to-open: what the file is now, and whether the
			// page cache still matches it.
			r.refreshFromFD(fd)
		}
	}
	r.fs.opened(r.h)
	return &regularFile{r: r, fd: fd}, nil
}

// mappedFile is the Mappable handed to the memory manager: the inode's page
// cache, holding the inode so that it (and so the cache and its backing fd)
// lives as long as a mapping does, even after its dentry is evicted and its
// file closed (ld.so maps libraries and closes them).
type mappedFile struct {
	*memmap.Cache
	r *regInode
}

// Mappable returns the inode's page cache, creating it on first use.
func (r *regInode) mappable() (memmap.Mappable, error) {
	sh := r.sh
	if sh.shared {
		if fd := r.backing(); fd >= 0 {
			r.refreshFromFD(fd) // may drop stale pages before they are mapped
		}
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.cache != nil {
		return mappedFile{sh.cache, r}, nil
	}
	if sh.backingFD < 0 {
		f, err := r.fs.get(r.h)
		if err != nil {
			return nil, err
		}
		fd := -1
		if !sh.readOnly {
			fd, err = f.Open(unix.O_RDWR | unix.O_CLOEXEC)
		}
		if fd < 0 {
			fd, err = f.Open(unix.O_RDONLY | unix.O_CLOEXEC)
		}
		r.fs.put(r.h)
		if err != nil {
			return nil, err
		}
		sh.backingFD = fd
	}
	sh.cache = memmap.NewCache(sh.mf, sh)
	return mappedFile{sh.cache, r}, nil
}

// ReadAt implements memmap.Backing.
func (sh *regShared) ReadAt(p []byte, off int64) (int, error) {
	n, err := preadvAll(sh.backingFD, [][]byte{p}, off)
	if err == nil && int(n) < len(p) {
		err = io.EOF
	}
	return int(n), err
}

// WriteAt implements memmap.Backing.
func (sh *regShared) WriteAt(p []byte, off int64) (int, error) {
	if sh.shared {
		sh.wrote.Store(true)
	}
	n, err := pwritevAll(sh.backingFD, [][]byte{p}, off)
	return int(n), err
}

// Size implements memmap.Backing.
func (sh *regShared) Size() (uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(sh.backingFD, &st); err != nil {
		return 0, toErrno(err)
	}
	return uint64(st.Size), nil
}

// regularFile is an open regular file.
type regularFile struct {
	vfs.FileDefaults
	r  *regInode
	fd int
}

// Read implements vfs.FileImpl.Read: straight from the host fd into the
// caller's blocks, unless the page cache holds pages.
func (f *regularFile) Read(ctx vfs.Context, dst [][]byte, off int64) (int64, error) {
	if c := f.r.cacheWithPages(); c != nil {
		var done int64
		for _, b := range dst {
			n, err := c.ReadAt(b, off+done)
			done += int64(n)
			if err != nil {
				if errors.Is(err, io.EOF) {
					return done, nil
				}
				if done > 0 {
					return done, nil
				}
				return 0, toErrno(err)
			}
		}
		return done, nil
	}
	return preadvAll(f.fd, dst, off)
}

// Write implements vfs.FileImpl.Write.
func (f *regularFile) Write(ctx vfs.Context, src [][]byte, off int64, appendMode bool) (int64, int64, error) {
	if appendMode {
		f.r.sh.ioMu.Lock()
		defer f.r.sh.ioMu.Unlock()
		if f.r.sh.shared {
			// Others append too: the host's size, now.
			st, ok := f.r.refreshFromFD(f.fd)
			if !ok {
				var err error
				if st, err = f.r.stat(); err != nil {
					return 0, off, err
				}
			}
			off = st.Size
		} else {
			size, err := f.r.size()
			if err != nil {
				return 0, off, err
			}
			off = size
		}
	}
	if f.r.sh.shared {
		f.r.sh.wrote.Store(true)
	}
	var (
		n   int64
		err error
	)
	if c := f.r.cacheWithPages(); c != nil {
		for _, b := range src {
			m, werr := c.WriteAt(b, off+n)
			n += int64(m)
			if werr != nil {
				if n == 0 {
					err = toErrno(werr)
				}
				break
			}
		}
	} else {
		n, err = pwritevAll(f.fd, src, off)
	}
	if n > 0 {
		f.r.touch(off+n, false)
	}
	return n, off + n, err
}

// Seek implements vfs.FileImpl.Seek.
func (f *regularFile) Seek(ctx vfs.Context, off int64, whence int, cur int64) (int64, error) {
	if f.r.sh.shared && whence == unix.SEEK_END {
		if st, ok := f.r.refreshFromFD(f.fd); ok {
			return vfs.GenericSeek(off, whence, cur, st.Size)
		}
	}
	size, err := f.r.size()
	if err != nil {
		return 0, err
	}
	return vfs.GenericSeek(off, whence, cur, size)
}

// Mappable implements vfs.FileImpl.Mappable.
func (f *regularFile) Mappable() (memmap.Mappable, error) { return f.r.mappable() }

// Sync implements vfs.FileImpl.Sync: dirty mapped pages, then the host file.
func (f *regularFile) Sync(ctx vfs.Context) error {
	f.r.sh.mu.Lock()
	c := f.r.sh.cache
	f.r.sh.mu.Unlock()
	if c != nil {
		if err := c.Sync(0, ^uint64(0)); err != nil {
			return err
		}
	}
	return toErrno(unix.Fsync(f.fd))
}

// Allocate implements vfs.FileImpl.Allocate.
func (f *regularFile) Allocate(ctx vfs.Context, mode uint32, off, length int64) error {
	if f.r.sh.shared {
		f.r.sh.wrote.Store(true)
	}
	if err := unix.Fallocate(f.fd, mode, off, length); err != nil {
		return toErrno(err)
	}
	f.r.invalidate()
	return nil
}

// Release implements vfs.FileImpl.Release.
func (f *regularFile) Release(ctx vfs.Context) {
	unix.Close(f.fd)
	f.r.fs.closed(f.r.h)
}
