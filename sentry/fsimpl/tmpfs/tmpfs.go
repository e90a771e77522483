// Package tmpfs is a memory filesystem. Regular file data lives in pages of
// the sentry's memory file (sentry/memfile), so a file is directly a
// memmap.Mappable: mmap maps the very pages read(2) and write(2) use.
//
// Files are inodes of four Go types: *directory, *regularFile, *symlink and
// *special (FIFOs, sockets, device nodes); vfs keeps the dentry tree above
// them. Hard links share an inode; an inode's data is freed when its last
// link and its last open file are gone.
//
// Locking: each inode has its own mutex (inodeCommon.mu) guarding its
// metadata and contents (a directory's entries, a file's pages). At most
// one inode lock is held at a time, except in Rename, which vfs runs alone
// (it holds the rename lock exclusively) and which locks the two
// directories. Filesystem.mu guards only the usage counter.
package tmpfs

import (
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/pipe"
	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/memfile"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// Options configure a tmpfs instance.
type Options struct {
	// SizeLimit bounds the bytes of file data (0: no limit beyond the
	// memory file). Mount option size=.
	SizeLimit uint64
	// RootMode, RootUID, RootGID describe the root directory (mode 01777
	// if RootMode is 0, as Linux's tmpfs).
	RootMode uint32
	RootUID  auth.KUID
	RootGID  auth.KGID
	// TypeName is the name shown in /proc/mounts ("tmpfs" by default;
	// "devtmpfs" for /dev).
	TypeName string
}

// Filesystem is a tmpfs instance.
type Filesystem struct {
	mf      *memfile.File
	opts    Options
	vfsfs   *vfs.Filesystem
	nextIno atomic.Uint64

	// usedPages counts pages of file data.
	usedPages atomic.Int64
	// inodes counts live inodes.
	inodes atomic.Int64
}

// New creates a tmpfs instance whose file data lives in mf.
func New(v *vfs.VirtualFilesystem, mf *memfile.File, opts Options) *vfs.Filesystem {
	if opts.TypeName == "" {
		opts.TypeName = "tmpfs"
	}
	if opts.RootMode == 0 {
		opts.RootMode = 0o1777
	}
	fs := &Filesystem{mf: mf, opts: opts}
	root := fs.newDirectory(opts.RootMode, opts.RootUID, opts.RootGID, nil)
	fs.vfsfs = v.NewFilesystem(fs, root)
	return fs.vfsfs
}

// FromVFS returns the tmpfs behind a vfs filesystem, or nil.
func FromVFS(f *vfs.Filesystem) *Filesystem {
	fs, _ := f.Impl().(*Filesystem)
	return fs
}

// Name implements vfs.FilesystemImpl.
func (fs *Filesystem) Name() string { return fs.opts.TypeName }

// MountOptions implements vfs.FilesystemImpl.
func (fs *Filesystem) MountOptions() string {
	s := ""
	if fs.opts.SizeLimit != 0 {
		s = fmt.Sprintf("size=%dk,", fs.opts.SizeLimit/1024)
	}
	s += fmt.Sprintf("mode=%o", fs.opts.RootMode&0o7777)
	if fs.opts.RootUID != 0 {
		s += fmt.Sprintf(",uid=%d", fs.opts.RootUID)
	}
	if fs.opts.RootGID != 0 {
		s += fmt.Sprintf(",gid=%d", fs.opts.RootGID)
	}
	return s
}

// Statfs implements vfs.FilesystemImpl.
func (fs *Filesystem) Statfs(ctx vfs.Context) (vfs.StatFS, error) {
	limit := fs.opts.SizeLimit
	if limit == 0 && fs.mf != nil {
		limit = fs.mf.Size()
	}
	blocks := limit / memfile.PageSize
	used := uint64(fs.usedPages.Load())
	free := uint64(0)
	if blocks > used {
		free = blocks - used
	}
	return vfs.StatFS{
		Type: linux.TMPFS_MAGIC, BlockSize: memfile.PageSize, Blocks: blocks, BlocksFree: free,
		BlocksAvailable: free, Files: uint64(fs.inodes.Load()) + 1<<20, FilesFree: 1 << 20,
		NameLength: vfs.NameMax,
	}, nil
}

// reservePages accounts n more pages of data, failing with ENOSPC past the
// size limit.
func (fs *Filesystem) reservePages(n int64) error {
	if n <= 0 {
		fs.usedPages.Add(n)
		return nil
	}
	if fs.opts.SizeLimit == 0 {
		fs.usedPages.Add(n)
		return nil
	}
	limit := int64(fs.opts.SizeLimit / memfile.PageSize)
	for {
		u := fs.usedPages.Load()
		if u+n > limit {
			return unix.ENOSPC
		}
		if fs.usedPages.CompareAndSwap(u, u+n) {
			return nil
		}
	}
}

// inodeCommon is the part every inode has.
type inodeCommon struct {
	fs  *Filesystem
	ino uint64

	mu    sync.Mutex
	mode  uint32 // type and permission bits
	uid   auth.KUID
	gid   auth.KGID
	nlink uint32
	atime linux.StatxTimestamp
	mtime linux.StatxTimestamp
	ctime linux.StatxTimestamp
	btime linux.StatxTimestamp
}

func (fs *Filesystem) initCommon(c *inodeCommon, mode uint32, uid auth.KUID, gid auth.KGID) {
	now := vfs.NowTimestamp()
	c.fs = fs
	c.ino = fs.nextIno.Add(1)
	c.mode, c.uid, c.gid = mode, uid, gid
	c.nlink = 1
	c.atime, c.mtime, c.ctime, c.btime = now, now, now, now
	fs.inodes.Add(1)
}

// statLocked fills the common fields; c.mu must be held.
func (c *inodeCommon) statLocked() linux.Statx {
	return linux.Statx{
		Mask:    linux.STATX_BASIC_STATS | linux.STATX_BTIME,
		Blksize: memfile.PageSize,
		Nlink:   c.nlink,
		UID:     uint32(c.uid),
		GID:     uint32(c.gid),
		Mode:    uint16(c.mode),
		Ino:     c.ino,
		Atime:   c.atime,
		Mtime:   c.mtime,
		Ctime:   c.ctime,
		Btime:   c.btime,
	}
}

// setStatLocked applies the common attributes; c.mu must be held. Size is
// handled by regular files.
func (c *inodeCommon) setStatLocked(opts *vfs.SetStatOptions) {
	now := vfs.NowTimestamp()
	if opts.Mask&linux.STATX_MODE != 0 {
		c.mode = c.mode&linux.S_IFMT | opts.Mode&0o7777
	}
	if opts.Mask&linux.STATX_UID != 0 {
		c.uid = opts.UID
	}
	if opts.Mask&linux.STATX_GID != 0 {
		c.gid = opts.GID
	}
	if opts.Mask&linux.STATX_ATIME != 0 {
		c.atime = opts.Atime
	}
	if opts.Mask&linux.STATX_MTIME != 0 {
		c.mtime = opts.Mtime
	}
	c.ctime = now
}

func (c *inodeCommon) touchCtime() {
	c.mu.Lock()
	c.ctime = vfs.NowTimestamp()
	c.mu.Unlock()
}

// linkCount is implemented by every tmpfs inode.
type tmpfsInode interface {
	vfs.Inode
	common() *inodeCommon
	// dropLink is called when a link goes; the last one may free data.
	dropLink()
}

func (c *inodeCommon) common() *inodeCommon { return c }

func (c *inodeCommon) dropLink() {
	c.mu.Lock()
	if c.nlink > 0 {
		c.nlink--
	}
	c.ctime = vfs.NowTimestamp()
	gone := c.nlink == 0
	c.mu.Unlock()
	if gone {
		c.fs.inodes.Add(-1)
	}
}

// symlink is a symbolic link.
type symlink struct {
	inodeCommon
	target string
}

// Stat implements vfs.Inode.
func (s *symlink) Stat(ctx vfs.Context) (linux.Statx, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.statLocked()
	st.Size = uint64(len(s.target))
	return st, nil
}

// SetStat implements vfs.Inode.
func (s *symlink) SetStat(ctx vfs.Context, opts *vfs.SetStatOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setStatLocked(opts)
	return nil
}

// Readlink implements vfs.SymlinkInode.
func (s *symlink) Readlink(ctx vfs.Context) (string, error) { return s.target, nil }

// special is a FIFO, socket or device node.
type special struct {
	inodeCommon
	major, minor uint32
	pipe         *pipe.Pipe

	boundMu sync.Mutex
	bound   any
}

// Stat implements vfs.Inode.
func (s *special) Stat(ctx vfs.Context) (linux.Statx, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.statLocked()
	st.RdevMajor, st.RdevMinor = s.major, s.minor
	return st, nil
}

// SetStat implements vfs.Inode.
func (s *special) SetStat(ctx vfs.Context, opts *vfs.SetStatOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setStatLocked(opts)
	return nil
}

// Open implements vfs.Opener: FIFOs open their pipe; sockets cannot be
// opened (vfs answers ENXIO before asking); devices go through vfs's
// registry.
func (s *special) Open(ctx vfs.Context, vd vfs.VirtualDentry, flags uint32) (vfs.FileImpl, error) {
	if s.pipe == nil {
		return nil, unix.ENXIO
	}
	return s.pipe.Open(ctx, vd, flags)
}

// BoundEndpoint implements vfs.SocketInode.
func (s *special) BoundEndpoint() any {
	s.boundMu.Lock()
	defer s.boundMu.Unlock()
	return s.bound
}

// SetBoundEndpoint implements vfs.SocketInode.
func (s *special) SetBoundEndpoint(ep any) {
	s.boundMu.Lock()
	s.bound = ep
	s.boundMu.Unlock()
}
