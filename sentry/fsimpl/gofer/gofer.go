// Package gofer is the filesystem whose files live on the host and are
// reached through the pod's gofer process (package gofer/client).
//
// # The model
//
// vfs keeps the dentry tree above the inodes; this package keeps, per inode,
// the attributes the gofer last reported and a gofer handle (a client.File,
// an O_PATH descriptor in the gofer) obtained by Walk from its parent (or
// Attach for the root).
//
// # Handles are bounded (handle.go)
//
// A walk over a big tree must not make the gofer hold a descriptor per file
// ever seen, so an inode's handle can be released and found again: every
// inode records its location, the parent dirInode and the name it was
// found by, and a released handle is re-walked from the nearest ancestor
// that still has one, in one round trip (Walk takes several names). The
// re-walked file must have the recorded device and inode number, or the
// call fails with ESTALE; nobody but the sandbox changes the tree, so that
// only happens if the host does. Locations follow our own renames (a
// directory's rename moves its subtree, since children point to the parent
// inode, not a path) and links.
//
// Releasable handles (a location, not the root, not detached) are kept in
// an LRU bounded by Options.MaxHandles, counted in gofer descriptors (a
// directory that has been read costs two: the gofer keeps a descriptor to
// read it with). Going over the budget releases the least recently used
// idle ones; a handle being used by a call (get/put) is never released
// under it. vfs evicting a dentry (vfs.Evictor) releases the inode's handle
// at once. Only calls that need the host file take a handle: cached stats,
// cached symlink targets and reads and writes on open files (own host fds)
// do not.
//
// Unlink and rename-over make a victim's location invalid ("detached"). If
// the victim may still be used (open regular files, or other hard links
// per its cached link count) it gets its handle before the name goes and
// keeps it, outside the budget, until the last open file closes (no other
// links) or the inode is collected; otherwise its handle is closed then
// and there, and a later stat answers from the cache. A directory removed
// while open lists as empty. A lookup that finds a known regular file again
// (hard link table) anchors it at the new name and hands it the handle.
//
// A mapped file's Mappable holds its inode, so the page cache and its host
// descriptor live as long as any mapping, even after the dentry is evicted
// and the file closed.
//
// The sandbox is the only writer of its rootfs, so caching is aggressive
// by default: attributes come from Walk and are kept until one of our own
// mutations makes them stale (a write updates size and mtime in place;
// create, link, unlink and rename invalidate what they touch and the next
// Stat asks the gofer again), and nothing is revalidated against the host.
// Directories also remember names that were looked up and found missing (a
// small negative cache, cleared for a name as soon as we create it), which
// saves the round trips of PATH and library searches. Volumes, which others
// write too, are mounted with Options.Shared instead, which believes
// nothing cached without asking the host again (shared.go).
//
// Hard links of regular files found under different names share one inode
// (looked up by host device and inode number through weak pointers), so
// advisory locks and the page cache are per file, as in Linux.
//
// Regular files: each open file gets its own host fd from the gofer (Open
// donates it). Read and write go straight to that fd with preadv/pwritev
// on the caller's blocks, which alias application memory: no copy in the
// sentry. mmap goes through a page cache (memmap.Cache) kept per inode over
// a separate per-inode host fd, so all mappings of a file share pages; once
// that cache holds pages, read and write of every open file of the inode go
// through it (ReadAt/WriteAt) to stay coherent with shared mappings. The
// cache keeps its pages until the inode is garbage collected (no eviction
// yet).
//
// FIFOs and sockets on the gofer are sentry objects: a FIFO's pipe and a
// socket's bound endpoint live in the inode. Device nodes are opened by vfs
// through its device registry.
//
// When an inode becomes unreachable (its dentry evicted, unlinked or
// renamed over, no open file or mapping left), a runtime cleanup closes its
// gofer handle, its host fd and releases its cached pages.
//
// # Lock order
//
//	vfs locks (renameMu, Dentry.dirMu)
//	  regShared.ioMu (serialises O_APPEND writes and size changes of a file)
//	    memmap.Cache.mu
//	      inode.mu (attributes, negative names, symlink target; leaf)
//	  filesystem.locMu (RW: unlink and rename hold it for writing around
//	    their gofer call, re-walks for reading around theirs)
//	    filesystem.handleMu (handles and their LRU; leaf)
//	regShared.mu (page cache and backing fd of a file)
//	  filesystem.locMu ...
//	filesystem.inodesMu (the hard-link table)
//	  filesystem.handleMu
//
// In shared mode, attributes from the host (inode.setStat) may drop a
// file's page cache: setStat takes inode.mu and releases it, then
// regShared.mu, then memmap.Cache.mu; its callers hold no lock of this
// package but ioMu.
//
// No lock is held across a gofer round trip except the vfs ones, ioMu and
// locMu. Unlink and rename get every handle they need (which may re-walk,
// taking locMu for reading) before they take locMu for writing; a re-walk
// never takes locMu twice, so a waiting writer cannot deadlock it.
package gofer

import (
	"sync"
	"time"
	"weak"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/gofer/client"
	"github.com/runsc-cri/runsc-cri/sentry/memfile"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// Options configure a gofer filesystem.
type Options struct {
	// ReadOnly makes the filesystem refuse every change with EROFS (the
	// gofer serving it read-only would refuse them anyway; this saves the
	// round trips). Mount the filesystem read-only in vfs as well.
	ReadOnly bool
	// TypeName is the name shown in /proc/mounts ("9p" if empty, as gVisor
	// shows its gofer mounts).
	TypeName string
	// AttachPath is the directory below the gofer's root to serve ("" for
	// the root itself).
	AttachPath string
	// MaxHandles bounds the gofer handles kept for files that can be
	// walked to again (DefaultMaxHandles if 0). Each is a host fd in the
	// gofer (two for a directory being read).
	MaxHandles int
	// Shared says that others change the tree too (a volume: the host,
	// the kubelet, other containers with their own mount of it): nothing
	// cached is believed without asking the host again (shared.go). The
	// default is for a tree that only this sandbox writes (a rootfs).
	Shared bool
}

// filesystem is one mounted tree of a gofer.
type filesystem struct {
	client *client.Client
	mf     *memfile.File
	opts   Options
	root   *dirInode

	// inodesMu guards inodes: regular files by host (dev, ino), so hard
	// links share one inode.
	inodesMu sync.Mutex
	inodes   map[fileKey]weak.Pointer[regInode]

	// locMu is held for writing by unlink and rename around the gofer
	// call and the location updates, and for reading by re-walks
	// (handle.go), so a re-walk never sees a name half moved.
	locMu sync.RWMutex
	// handleMu guards every handle's mutable fields and the LRU of
	// releasable handles below. Never held across a gofer round trip.
	handleMu         sync.Mutex
	lruHead, lruTail *handle
	lruCost          int // sum of handle.cost on the LRU
	maxHandles       int
}

type fileKey struct{ dev, ino uint64 }

// New returns a filesystem serving the gofer's root (or opts.AttachPath)
// through c. File pages cached for mmap live in mf.
func New(v *vfs.VirtualFilesystem, c *client.Client, mf *memfile.File, opts Options) (*vfs.Filesystem, error) {
	if opts.TypeName == "" {
		opts.TypeName = "9p"
	}
	f, st, err := c.Attach(opts.AttachPath)
	if err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		f.Close()
		return nil, unix.ENOTDIR
	}
	if opts.MaxHandles <= 0 {
		opts.MaxHandles = DefaultMaxHandles
	}
	fs := &filesystem{client: c, mf: mf, opts: opts, inodes: map[fileKey]weak.Pointer[regInode]{}, maxHandles: opts.MaxHandles}
	root := fs.newInode(f, st, nil, "") // a sharedDir in shared mode
	fs.root = dirOf(root)
	return v.NewFilesystem(fs, root), nil
}

// Name implements vfs.FilesystemImpl.
func (fs *filesystem) Name() string { return fs.opts.TypeName }

// MountOptions implements vfs.FilesystemImpl.
func (fs *filesystem) MountOptions() string { return "" }

// Statfs implements vfs.FilesystemImpl with the host's statfs of the root.
func (fs *filesystem) Statfs(ctx vfs.Context) (vfs.StatFS, error) {
	s, err := fs.root.h.file.Statfs() // the root's handle is never released
	if err != nil {
		return vfs.StatFS{}, err
	}
	return vfs.StatFS{
		Type:            s.Type,
		BlockSize:       int64(s.Bsize),
		Blocks:          s.Blocks,
		BlocksFree:      s.Bfree,
		BlocksAvailable: s.Bavail,
		Files:           s.Files,
		FilesFree:       s.Ffree,
		NameLength:      s.Namelen,
	}, nil
}

// inode is what every file of the filesystem has.
type inode struct {
	fs   *filesystem
	h    *handle // immutable pointer; see handle.go
	kind uint32  // S_IFMT bits; immutable

	// mu guards the fields below.
	mu sync.Mutex
	// st is the cached attributes; valid says whether they may be used.
	st    client.Stat
	valid bool
	// fetched is when st last came from the host (nanotime); in shared
	// mode st is believed for sharedAttrValidity after that.
	fetched int64
	// reg is the regular file's shared part (nil for other kinds):
	// attributes from the host are checked against its page cache.
	reg *regShared
}

// fileInode is implemented by every inode type of the package.
type fileInode interface {
	vfs.Inode
	common() *inode
}

func (i *inode) common() *inode { return i }

// newInode wraps a handle the gofer just gave us for name in parent (nil
// for the root). A regular file that is already known (a hard link, or a
// name looked up again after its dentry was evicted) gets its existing
// inode, which takes f or closes it.
func (fs *filesystem) newInode(f *client.File, st client.Stat, parent *dirInode, name string) fileInode {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		return fs.regularInode(f, st, parent, name)
	case unix.S_IFDIR:
		if fs.opts.Shared {
			d := &sharedDir{}
			d.init(fs, f, st, parent, name)
			closeOnCollect(d, d.h)
			return d
		}
		d := &dirInode{}
		d.init(fs, f, st, parent, name)
		closeOnCollect(d, d.h)
		return d
	case unix.S_IFLNK:
		s := &symlinkInode{}
		s.init(fs, f, st, parent, name)
		closeOnCollect(s, s.h)
		return s
	default:
		s := &specialInode{}
		s.init(fs, f, st, parent, name)
		closeOnCollect(s, s.h)
		return s
	}
}

func (i *inode) init(fs *filesystem, f *client.File, st client.Stat, parent *dirInode, name string) {
	i.fs, i.kind, i.st, i.valid, i.fetched = fs, st.Mode&unix.S_IFMT, st, true, nanotime()
	i.h = fs.newHandle(f, st, parent, name)
}

// Evict implements vfs.Evictor: vfs dropped a dentry of the inode, so its
// handle goes now rather than when the budget or the garbage collector
// gets to it. A later use walks to the file again.
func (i *inode) Evict() bool {
	i.fs.releaseIdle(i.h)
	return true
}

// Stat implements vfs.Inode.Stat from the cache, asking the gofer if our
// own changes made it stale (or, in shared mode, if it is not fresh).
func (i *inode) Stat(ctx vfs.Context) (linux.Statx, error) {
	st, err := i.stat()
	if err != nil {
		return linux.Statx{}, err
	}
	return toStatx(&st), nil
}

func (i *inode) stat() (client.Stat, error) {
	i.mu.Lock()
	if i.freshLocked() {
		st := i.st
		i.mu.Unlock()
		return st, nil
	}
	i.mu.Unlock()
	f, err := i.fs.get(i.h)
	if err != nil {
		if err == unix.ENOENT {
			// Unlinked and no handle kept: nobody changes the
			// file any more, the cached attributes are right.
			i.mu.Lock()
			defer i.mu.Unlock()
			return i.st, nil
		}
		return client.Stat{}, err
	}
	defer i.fs.put(i.h)
	st, err := f.Stat()
	if err != nil {
		return client.Stat{}, err
	}
	i.setStat(st)
	return st, nil
}

// setStat installs attributes that came from the host.
func (i *inode) setStat(st client.Stat) {
	i.mu.Lock()
	i.st, i.valid, i.fetched = st, true, nanotime()
	i.mu.Unlock()
	if i.reg != nil && i.fs.opts.Shared {
		i.reg.hostChanged(st)
	}
}

// invalidate makes the next Stat ask the gofer.
func (i *inode) invalidate() {
	i.mu.Lock()
	i.valid = false
	i.mu.Unlock()
}

// touch records a change of the file's data made by us: size at least end
// (or exactly size if exact), mtime and ctime now.
func (i *inode) touch(end int64, exact bool) {
	now := time.Now().UnixNano()
	i.mu.Lock()
	if exact || end > i.st.Size {
		i.st.Size = end
		i.st.Blocks = (end + 511) / 512
	}
	i.st.Mtime, i.st.Ctime = now, now
	i.mu.Unlock()
}

// size returns the cached size.
func (i *inode) size() (int64, error) {
	st, err := i.stat()
	return st.Size, err
}

// SetStat implements vfs.Inode.SetStat through the gofer.
func (i *inode) SetStat(ctx vfs.Context, opts *vfs.SetStatOptions) error {
	if i.fs.opts.ReadOnly {
		return unix.EROFS
	}
	req := setattrRequest(opts)
	if req.Mask == 0 {
		return nil
	}
	f, err := i.fs.get(i.h)
	if err != nil {
		return err
	}
	defer i.fs.put(i.h)
	st, err := f.Setattr(req)
	if err != nil {
		return err
	}
	i.setStat(st)
	return nil
}

// setattrRequest translates vfs's SetStatOptions.
func setattrRequest(opts *vfs.SetStatOptions) client.SetattrRequest {
	req := client.SetattrRequest{Mode: opts.Mode & 0o7777, UID: uint32(opts.UID), GID: uint32(opts.GID), Size: opts.Size}
	if opts.Mask&linux.STATX_MODE != 0 {
		req.Mask |= client.SetattrMode
	}
	if opts.Mask&linux.STATX_UID != 0 {
		req.Mask |= client.SetattrUID
	}
	if opts.Mask&linux.STATX_GID != 0 {
		req.Mask |= client.SetattrGID
	}
	if opts.Mask&linux.STATX_SIZE != 0 {
		req.Mask |= client.SetattrSize
	}
	if opts.Mask&linux.STATX_ATIME != 0 {
		req.Mask |= client.SetattrAtime
		req.Atime = client.Timespec{Sec: opts.Atime.Sec, Nsec: int64(opts.Atime.Nsec)}
	}
	if opts.Mask&linux.STATX_MTIME != 0 {
		req.Mask |= client.SetattrMtime
		req.Mtime = client.Timespec{Sec: opts.Mtime.Sec, Nsec: int64(opts.Mtime.Nsec)}
	}
	return req
}

// toStatx converts the gofer's attributes.
func toStatx(s *client.Stat) linux.Statx {
	return linux.Statx{
		Mask:      linux.STATX_BASIC_STATS,
		Blksize:   uint32(s.Blksize),
		Nlink:     uint32(s.Nlink),
		UID:       s.UID,
		GID:       s.GID,
		Mode:      uint16(s.Mode),
		Ino:       s.Ino,
		Size:      uint64(s.Size),
		Blocks:    uint64(s.Blocks),
		Atime:     nsToStatx(s.Atime),
		Mtime:     nsToStatx(s.Mtime),
		Ctime:     nsToStatx(s.Ctime),
		RdevMajor: unix.Major(s.Rdev),
		RdevMinor: unix.Minor(s.Rdev),
	}
}

func nsToStatx(ns int64) linux.StatxTimestamp {
	sec, nsec := ns/1e9, ns%1e9
	if nsec < 0 {
		sec--
		nsec += 1e9
	}
	return linux.StatxTimestamp{Sec: sec, Nsec: uint32(nsec)}
}

// symlinkInode is a symbolic link; its target never changes.
type symlinkInode struct {
	inode
	target     string // guarded by inode.mu
	haveTarget bool   // guarded by inode.mu
}

// Readlink implements vfs.SymlinkInode.
func (s *symlinkInode) Readlink(ctx vfs.Context) (string, error) {
	s.mu.Lock()
	if s.haveTarget {
		t := s.target
		s.mu.Unlock()
		return t, nil
	}
	s.mu.Unlock()
	f, err := s.fs.get(s.h)
	if err != nil {
		return "", err
	}
	t, err := f.Readlink()
	s.fs.put(s.h)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	s.target, s.haveTarget = t, true
	s.mu.Unlock()
	return t, nil
}
