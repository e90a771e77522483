package proc

import (
	"hash/fnv"
	"sort"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/vfs"
	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

// attrs are the attributes every proc inode reports. Inode numbers are a
// hash of the file's path in /proc, so they are stable across lookups.
type attrs struct {
	vfs.NoSetStat
	ino   uint64
	mode  uint32
	uid   uint32
	gid   uint32
	nlink uint32
	ctime time.Time
	// owner, if set, gives the owners at each stat (a process's files
	// follow its effective ids, as Linux's task_dump_owner).
	owner func() (uid, gid uint32)
}

// setOwner makes the inode's owners follow fn.
func (a *attrs) setOwner(fn func() (uid, gid uint32)) { a.owner = fn }

// ownable is every inode type embedding attrs.
type ownable interface {
	setOwner(func() (uid, gid uint32))
}

func newAttrs(path string, mode uint32) attrs {
	h := fnv.New64a()
	h.Write([]byte(path))
	nlink := uint32(1)
	if mode&linux.S_IFMT == linux.S_IFDIR {
		nlink = 2
	}
	return attrs{ino: h.Sum64()&(1<<40-1) | 1, mode: mode, nlink: nlink, ctime: time.Now()}
}

// Stat implements vfs.Inode.
func (a *attrs) Stat(ctx vfs.Context) (linux.Statx, error) {
	ts := linux.StatxTimestamp{Sec: a.ctime.Unix(), Nsec: uint32(a.ctime.Nanosecond())}
	uid, gid := a.uid, a.gid
	if a.owner != nil {
		uid, gid = a.owner()
	}
	return linux.Statx{
		Mask:    linux.STATX_BASIC_STATS,
		Blksize: 1024,
		Nlink:   a.nlink,
		UID:     uid,
		GID:     gid,
		Mode:    uint16(a.mode),
		Ino:     a.ino,
		Atime:   ts,
		Mtime:   ts,
		Ctime:   ts,
	}, nil
}

// genFunc generates a file's contents.
type genFunc func(ctx vfs.Context) ([]byte, error)

// writeFunc handles data written to a file.
type writeFunc func(ctx vfs.Context, data []byte) error

// dataFile is a file whose contents are generated: at open, and again
// whenever it is read from offset 0 (so top-like readers that rewind see
// fresh data), as seq_file does in Linux.
type dataFile struct {
	attrs
	gen   genFunc
	write writeFunc // nil: read-only
}

// SetStat implements vfs.Inode: a writable file takes (and ignores) a
// size change, so open with O_TRUNC works as on Linux (`echo 1 > f`);
// the mode and owners never change.
func (f *dataFile) SetStat(ctx vfs.Context, opts *vfs.SetStatOptions) error {
	if f.write != nil && opts.Mask&^linux.STATX_SIZE == 0 {
		return nil
	}
	return unix.EPERM
}

func (fs *filesystem) newFile(path string, mode uint32, gen genFunc, write writeFunc) *dataFile {
	return &dataFile{attrs: fs.attrs(path, linux.S_IFREG|mode), gen: gen, write: write}
}

// Open implements vfs.Opener.
func (f *dataFile) Open(ctx vfs.Context, vd vfs.VirtualDentry, flags uint32) (vfs.FileImpl, error) {
	acc := flags & unix.O_ACCMODE
	if acc != unix.O_RDONLY && f.write == nil {
		return nil, unix.EACCES
	}
	return &dataFD{f: f}, nil
}

// dataFD is an open dataFile.
type dataFD struct {
	vfs.FileDefaults
	f *dataFile

	// mu guards data and have (preads may run concurrently).
	mu   sync.Mutex
	data []byte
	have bool
}

// snapshot returns the contents, generating them if fresh is set or none
// were generated yet.
func (d *dataFD) snapshot(ctx vfs.Context, fresh bool) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if fresh || !d.have {
		b, err := d.f.gen(ctx)
		if err != nil {
			return nil, err
		}
		d.data, d.have = b, true
	}
	return d.data, nil
}

// Read implements vfs.FileImpl. Reads are serialised by vfs (offset lock)
// except pread, which may race with another pread only over the snapshot.
func (d *dataFD) Read(ctx vfs.Context, dst [][]byte, off int64) (int64, error) {
	data, err := d.snapshot(ctx, off == 0)
	if err != nil {
		return 0, err
	}
	if off >= int64(len(data)) {
		return 0, nil
	}
	var n int64
	for _, b := range dst {
		c := copy(b, data[off+n:])
		n += int64(c)
		if off+n >= int64(len(data)) {
			break
		}
	}
	return n, nil
}

// Write implements vfs.FileImpl.
func (d *dataFD) Write(ctx vfs.Context, src [][]byte, off int64, appendMode bool) (int64, int64, error) {
	if d.f.write == nil {
		return 0, off, unix.EIO
	}
	var buf []byte
	for _, b := range src {
		buf = append(buf, b...)
	}
	if err := d.f.write(ctx, buf); err != nil {
		return 0, off, err
	}
	return int64(len(buf)), off + int64(len(buf)), nil
}

// Seek implements vfs.FileImpl.
func (d *dataFD) Seek(ctx vfs.Context, off int64, whence int, cur int64) (int64, error) {
	switch whence {
	case unix.SEEK_SET:
	case unix.SEEK_CUR:
		off += cur
	case unix.SEEK_END:
		data, err := d.snapshot(ctx, false)
		if err != nil {
			return 0, err
		}
		off += int64(len(data))
	default:
		return 0, unix.EINVAL
	}
	if off < 0 {
		return 0, unix.EINVAL
	}
	return off, nil
}

// Readiness implements waiter.Waitable.
func (d *dataFD) Readiness(mask waiter.EventMask) waiter.EventMask {
	return mask & (waiter.ReadableEvents | waiter.WritableEvents)
}

// symlink is a link whose target text is computed.
type symlink struct {
	attrs
	target func(ctx vfs.Context) (string, error)
}

// Readlink implements vfs.SymlinkInode.
func (s *symlink) Readlink(ctx vfs.Context) (string, error) { return s.target(ctx) }

func (fs *filesystem) newSymlink(path string, target func(ctx vfs.Context) (string, error)) *symlink {
	return &symlink{attrs: fs.attrs(path, linux.S_IFLNK|0o777), target: target}
}

// jumpLink is a link to a place (a file, a cwd) rather than a path.
type jumpLink struct {
	symlink
	jump func(ctx vfs.Context) (vfs.VirtualDentry, error)
}

// Jump implements vfs.Jumper.
func (j *jumpLink) Jump(ctx vfs.Context) (vfs.VirtualDentry, error) { return j.jump(ctx) }

// entry is a child of a directory: its name, type and how to make it.
type entry struct {
	name string
	typ  uint8
	make func() vfs.Inode
}

// dir is a read-only directory with a fixed list of children and an
// optional dynamic part (processes, fds, tasks).
type dir struct {
	attrs
	fixed []entry
	// dynamic lists the dynamic children; lookup finds one (ENOENT if
	// absent); revalidate says whether a cached dynamic child still
	// stands. All three may be nil.
	dynamic    func(ctx vfs.Context) []entry
	lookup     func(ctx vfs.Context, name string) (vfs.Inode, error)
	revalidate func(ctx vfs.Context, name string, child vfs.Inode) bool
}

func (fs *filesystem) newDir(path string, mode uint32, fixed []entry) *dir {
	sort.Slice(fixed, func(i, j int) bool { return fixed[i].name < fixed[j].name })
	return &dir{attrs: fs.attrs(path, linux.S_IFDIR|mode), fixed: fixed}
}

func (d *dir) fixedEntry(name string) *entry {
	i := sort.Search(len(d.fixed), func(i int) bool { return d.fixed[i].name >= name })
	if i < len(d.fixed) && d.fixed[i].name == name {
		return &d.fixed[i]
	}
	return nil
}

// Lookup implements vfs.DirInode.
func (d *dir) Lookup(ctx vfs.Context, name string) (vfs.Inode, error) {
	if e := d.fixedEntry(name); e != nil {
		return e.make(), nil
	}
	if d.lookup != nil {
		return d.lookup(ctx, name)
	}
	return nil, unix.ENOENT
}

// Revalidate implements vfs.Revalidator.
func (d *dir) Revalidate(ctx vfs.Context, name string, child vfs.Inode) bool {
	if d.fixedEntry(name) != nil {
		return true
	}
	if d.revalidate != nil {
		return d.revalidate(ctx, name, child)
	}
	return false
}

// IterDirents implements vfs.DirInode: the fixed entries, then the dynamic
// ones; the cookie is the index in that list.
func (d *dir) IterDirents(ctx vfs.Context, cookie int64, emit func(vfs.Dirent) bool) error {
	all := d.fixed
	if d.dynamic != nil {
		all = append(append([]entry(nil), d.fixed...), d.dynamic(ctx)...)
	}
	for i := int(cookie); i >= 0 && i < len(all); i++ {
		e := all[i]
		h := fnv.New64a()
		h.Write([]byte(e.name))
		if !emit(vfs.Dirent{Name: e.name, Ino: h.Sum64()&(1<<40-1) | 1, Type: e.typ, NextCookie: int64(i + 1)}) {
			return nil
		}
	}
	return nil
}

// Create implements vfs.DirInode.
func (d *dir) Create(ctx vfs.Context, name string, opts vfs.CreateOptions) (vfs.Inode, error) {
	return nil, unix.EACCES
}

// Link implements vfs.DirInode.
func (d *dir) Link(ctx vfs.Context, name string, target vfs.Inode) error { return unix.EACCES }

// Unlink implements vfs.DirInode.
func (d *dir) Unlink(ctx vfs.Context, name string, child vfs.Inode) error { return unix.EACCES }

// Rmdir implements vfs.DirInode.
func (d *dir) Rmdir(ctx vfs.Context, name string, child vfs.Inode) error { return unix.EACCES }

// Rename implements vfs.DirInode.
func (d *dir) Rename(ctx vfs.Context, oldName string, child vfs.Inode, newDir vfs.DirInode, newName string, replaced vfs.Inode, flags uint32) error {
	return unix.EACCES
}

// Helpers to declare entries.

func fileEntry(name string, make func() vfs.Inode) entry {
	return entry{name: name, typ: linux.DT_REG, make: make}
}

func dirEntry(name string, make func() vfs.Inode) entry {
	return entry{name: name, typ: linux.DT_DIR, make: make}
}

func linkEntry(name string, make func() vfs.Inode) entry {
	return entry{name: name, typ: linux.DT_LNK, make: make}
}

// static returns a generator of fixed text.
func static(s string) genFunc {
	return func(vfs.Context) ([]byte, error) { return []byte(s), nil }
}
