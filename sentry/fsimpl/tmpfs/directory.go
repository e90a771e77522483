package tmpfs

import (
	"sort"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/pipe"
	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

type dirEntry struct {
	inode  tmpfsInode
	serial int64
}

type orderEntry struct {
	name   string
	serial int64
	inode  tmpfsInode // nil once removed
}

// directory is a tmpfs directory.
type directory struct {
	inodeCommon
	// entries and nextSerial are guarded by mu. serial orders entries for
	// getdents: it only grows, so a cookie stays valid across changes.
	entries    map[string]dirEntry
	nextSerial int64
	// order lists entries by serial for getdents; removed entries stay
	// (with a nil inode) until compaction.
	order          []orderEntry
	removedInOrder int
	subdirs        uint32
	// removed is set by rmdir.
	removed bool
}

// bogoDirentSize is the size tmpfs reports per directory entry.
const bogoDirentSize = 20

func (fs *Filesystem) newDirectory(mode uint32, uid auth.KUID, gid auth.KGID, parent *directory) *directory {
	d := &directory{entries: map[string]dirEntry{}}
	fs.initCommon(&d.inodeCommon, linux.S_IFDIR|mode&0o7777, uid, gid)
	d.nlink = 2
	return d
}

// Stat implements vfs.Inode.
func (d *directory) Stat(ctx vfs.Context) (linux.Statx, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.statLocked()
	st.Nlink = 2 + d.subdirs
	if d.removed {
		st.Nlink = 0
	}
	// Like Linux's tmpfs: a bogus 20 bytes per entry, "." and ".."
	// included, and no blocks.
	st.Size = uint64(len(d.entries)+2) * bogoDirentSize
	st.Blocks = 0
	return st, nil
}

// SetStat implements vfs.Inode.
func (d *directory) SetStat(ctx vfs.Context, opts *vfs.SetStatOptions) error {
	if opts.Mask&linux.STATX_SIZE != 0 {
		return unix.EISDIR
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.setStatLocked(opts)
	return nil
}

// Lookup implements vfs.DirInode.
func (d *directory) Lookup(ctx vfs.Context, name string) (vfs.Inode, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.entries[name]
	if !ok {
		return nil, unix.ENOENT
	}
	return e.inode, nil
}

// addLocked inserts a child; d.mu must be held.
func (d *directory) addLocked(name string, child tmpfsInode) {
	d.nextSerial++
	d.entries[name] = dirEntry{child, d.nextSerial}
	d.order = append(d.order, orderEntry{name, d.nextSerial, child})
	if _, ok := child.(*directory); ok {
		d.subdirs++
	}
	now := vfs.NowTimestamp()
	d.mtime, d.ctime = now, now
}

func (d *directory) removeLocked(name string) {
	e, ok := d.entries[name]
	if !ok {
		return
	}
	delete(d.entries, name)
	if _, ok := e.inode.(*directory); ok {
		d.subdirs--
	}
	i := sort.Search(len(d.order), func(i int) bool { return d.order[i].serial >= e.serial })
	if i < len(d.order) && d.order[i].serial == e.serial {
		d.order[i].inode = nil
		d.removedInOrder++
	}
	if d.removedInOrder > 32 && d.removedInOrder > len(d.order)/2 {
		live := d.order[:0]
		for _, o := range d.order {
			if o.inode != nil {
				live = append(live, o)
			}
		}
		clear(d.order[len(live):])
		d.order = live
		d.removedInOrder = 0
	}
	now := vfs.NowTimestamp()
	d.mtime, d.ctime = now, now
}

// Create implements vfs.DirInode.
func (d *directory) Create(ctx vfs.Context, name string, opts vfs.CreateOptions) (vfs.Inode, error) {
	fs := d.fs
	var child tmpfsInode
	switch opts.Mode & linux.S_IFMT {
	case linux.S_IFREG:
		child = fs.newRegularFile(opts.Mode, opts.UID, opts.GID)
	case linux.S_IFDIR:
		child = fs.newDirectory(opts.Mode, opts.UID, opts.GID, d)
	case linux.S_IFLNK:
		s := &symlink{target: opts.Target}
		fs.initCommon(&s.inodeCommon, linux.S_IFLNK|0o777, opts.UID, opts.GID)
		child = s
	case linux.S_IFIFO, linux.S_IFSOCK, linux.S_IFCHR, linux.S_IFBLK:
		s := &special{major: opts.DevMajor, minor: opts.DevMinor}
		fs.initCommon(&s.inodeCommon, opts.Mode&(linux.S_IFMT|0o7777), opts.UID, opts.GID)
		if opts.Mode&linux.S_IFMT == linux.S_IFIFO {
			s.pipe = pipe.New()
		}
		child = s
	default:
		return nil, unix.EINVAL
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.removed {
		return nil, unix.ENOENT
	}
	if _, ok := d.entries[name]; ok {
		return nil, unix.EEXIST
	}
	d.addLocked(name, child)
	return child, nil
}

// Link implements vfs.DirInode.
func (d *directory) Link(ctx vfs.Context, name string, target vfs.Inode) error {
	t, ok := target.(tmpfsInode)
	if !ok || t.common().fs != d.fs {
		return unix.EXDEV
	}
	if _, ok := t.(*directory); ok {
		return unix.EPERM
	}
	c := t.common()
	c.mu.Lock()
	if c.nlink == 0 {
		c.mu.Unlock()
		return unix.ENOENT
	}
	c.nlink++
	c.ctime = vfs.NowTimestamp()
	c.mu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.entries[name]; ok {
		c.mu.Lock()
		c.nlink--
		c.mu.Unlock()
		return unix.EEXIST
	}
	d.addLocked(name, t)
	return nil
}

// Unlink implements vfs.DirInode.
func (d *directory) Unlink(ctx vfs.Context, name string, child vfs.Inode) error {
	d.mu.Lock()
	e, ok := d.entries[name]
	if !ok || vfs.Inode(e.inode) != child {
		d.mu.Unlock()
		return unix.ENOENT
	}
	if _, isDir := e.inode.(*directory); isDir {
		d.mu.Unlock()
		return unix.EISDIR
	}
	d.removeLocked(name)
	d.mu.Unlock()
	e.inode.dropLink()
	return nil
}

// Rmdir implements vfs.DirInode.
func (d *directory) Rmdir(ctx vfs.Context, name string, child vfs.Inode) error {
	cd, ok := child.(*directory)
	if !ok {
		return unix.ENOTDIR
	}
	cd.mu.Lock()
	if len(cd.entries) != 0 {
		cd.mu.Unlock()
		return unix.ENOTEMPTY
	}
	cd.removed = true
	cd.nlink = 0
	cd.mu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.entries[name]; !ok || e.inode != tmpfsInode(cd) {
		return unix.ENOENT
	}
	d.removeLocked(name)
	d.fs.inodes.Add(-1)
	return nil
}

// Rename implements vfs.DirInode.
func (d *directory) Rename(ctx vfs.Context, oldName string, child vfs.Inode, newDir vfs.DirInode, newName string, replaced vfs.Inode, flags uint32) error {
	nd, ok := newDir.(*directory)
	if !ok || nd.fs != d.fs {
		return unix.EXDEV
	}
	// vfs runs renames alone; lock both directories (d first).
	d.mu.Lock()
	if nd != d {
		nd.mu.Lock()
	}
	unlock := func() {
		if nd != d {
			nd.mu.Unlock()
		}
		d.mu.Unlock()
	}
	oe, ok := d.entries[oldName]
	if !ok || vfs.Inode(oe.inode) != child {
		unlock()
		return unix.ENOENT
	}
	ne, hasNew := nd.entries[newName]
	if flags&linux.RENAME_EXCHANGE != 0 {
		if !hasNew {
			unlock()
			return unix.ENOENT
		}
		d.removeLocked(oldName)
		nd.removeLocked(newName)
		nd.addLocked(newName, oe.inode)
		d.addLocked(oldName, ne.inode)
		unlock()
		oe.inode.common().touchCtime()
		ne.inode.common().touchCtime()
		return nil
	}
	if hasNew {
		if rd, ok := ne.inode.(*directory); ok {
			rd.mu.Lock()
			empty := len(rd.entries) == 0
			if empty {
				rd.removed = true
				rd.nlink = 0
			}
			rd.mu.Unlock()
			if !empty {
				unlock()
				return unix.ENOTEMPTY
			}
		}
		nd.removeLocked(newName)
	}
	d.removeLocked(oldName)
	nd.addLocked(newName, oe.inode)
	unlock()
	if hasNew {
		if _, ok := ne.inode.(*directory); ok {
			d.fs.inodes.Add(-1)
		} else {
			ne.inode.dropLink()
		}
	}
	oe.inode.common().touchCtime()
	return nil
}

// IterDirents implements vfs.DirInode.
func (d *directory) IterDirents(ctx vfs.Context, cookie int64, emit func(vfs.Dirent) bool) error {
	const batch = 128
	for {
		d.mu.Lock()
		i := sort.Search(len(d.order), func(i int) bool { return d.order[i].serial > cookie })
		var list []orderEntry
		for ; i < len(d.order) && len(list) < batch; i++ {
			if d.order[i].inode != nil {
				list = append(list, d.order[i])
			}
		}
		d.mu.Unlock()
		if len(list) == 0 {
			return nil
		}
		for _, x := range list {
			c := x.inode.common()
			c.mu.Lock()
			mode, ino := c.mode, c.ino
			c.mu.Unlock()
			if !emit(vfs.Dirent{Name: x.name, Ino: ino, Type: vfs.DirentType(mode), NextCookie: x.serial}) {
				return nil
			}
			cookie = x.serial
		}
	}
}
