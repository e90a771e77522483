package vfs

import (
	"sync"
	"sync/atomic"
)

// Dentry is a name bound to an inode in one filesystem's tree. vfs creates
// dentries; filesystems see only their Inodes.
type Dentry struct {
	fs    *Filesystem
	inode Inode

	// parent and name change only under VirtualFilesystem.renameMu held
	// for writing (rename); they are atomic so PathOf can read them without
	// the lock. The root of a filesystem has no parent.
	parent atomic.Pointer[Dentry]
	name   atomic.Pointer[string]

	// dirMu serialises operations on this directory and guards children.
	dirMu    sync.Mutex
	children map[string]*Dentry

	// dead is set once the dentry is unlinked (or replaced by a rename).
	dead atomic.Bool
	// mounted counts mounts whose mount point is this dentry.
	mounted atomic.Int32
	refs    atomic.Int64

	// referenced is set when a lookup finds the dentry in the cache; the
	// eviction scan gives such a dentry a second chance (evict.go).
	referenced atomic.Bool
	// lruPrev, lruNext and onLRU link the dentry into
	// VirtualFilesystem's LRU of evictable dentries (guarded by
	// VirtualFilesystem.lruMu).
	lruPrev, lruNext *Dentry
	onLRU            bool
}

func newDentry(fs *Filesystem, inode Inode, parent *Dentry, name string) *Dentry {
	d := &Dentry{fs: fs, inode: inode}
	d.parent.Store(parent)
	d.name.Store(&name)
	return d
}

// Name returns the dentry's current name in its parent ("" for a root).
func (d *Dentry) Name() string { return *d.name.Load() }

// Parent returns the dentry's parent, or nil for a filesystem root.
func (d *Dentry) Parent() *Dentry { return d.parent.Load() }

// Inode returns the dentry's inode.
func (d *Dentry) Inode() Inode { return d.inode }

// Filesystem returns the filesystem the dentry belongs to.
func (d *Dentry) Filesystem() *Filesystem { return d.fs }

// IsDead reports whether the dentry was unlinked.
func (d *Dentry) IsDead() bool { return d.dead.Load() }

// isMountPoint reports whether something is mounted on d.
func (d *Dentry) isMountPoint() bool { return d.mounted.Load() > 0 }

// insertChildLocked caches c as a child of d (d.dirMu held). A dentry
// whose inode is an Evictor joins the LRU of evictable dentries.
func (d *Dentry) insertChildLocked(c *Dentry) {
	if d.children == nil {
		d.children = map[string]*Dentry{}
	}
	d.children[c.Name()] = c
	if _, ok := c.inode.(Evictor); ok {
		d.fs.vfs.lruAdd(c)
	}
}

// removeChildLocked drops the child called name from d's cache (d.dirMu
// held) and from the LRU.
func (d *Dentry) removeChildLocked(name string) {
	c := d.children[name]
	if c == nil {
		return
	}
	delete(d.children, name)
	d.fs.vfs.lruRemove(c)
}

// VirtualDentry names one place in the mount tree: a dentry seen through a
// mount. The zero value is "no dentry".
type VirtualDentry struct {
	Mount  *Mount
	Dentry *Dentry
}

// Ok reports whether vd names something.
func (vd VirtualDentry) Ok() bool { return vd.Mount != nil && vd.Dentry != nil }

// IncRef takes a reference on the mount and the dentry.
func (vd VirtualDentry) IncRef() {
	if vd.Mount != nil {
		vd.Mount.refs.Add(1)
	}
	if vd.Dentry != nil {
		vd.Dentry.refs.Add(1)
	}
}

// DecRef drops a reference taken by IncRef or handed out by vfs. Like
// Linux's mntput, it clears the mount's umount2(MNT_EXPIRE) mark: the
// mount was used.
func (vd VirtualDentry) DecRef() {
	if vd.Mount != nil {
		if vd.Mount.expiry.Load() {
			vd.Mount.expiry.Store(false)
		}
		vd.Mount.refs.Add(-1)
	}
	if vd.Dentry != nil {
		vd.Dentry.refs.Add(-1)
	}
}

// Inode returns the dentry's inode.
func (vd VirtualDentry) Inode() Inode { return vd.Dentry.inode }

// Mount is a filesystem placed somewhere in the tree.
//
// The tree links (parent, point, submounts, attached) are written with
// VirtualFilesystem.renameMu and mountMu both held for writing, and may be
// read with either one held (path walks hold renameMu for reading,
// /proc/self/mounts and PathOf hold mountMu for reading).
type Mount struct {
	vfs *VirtualFilesystem
	fs  *Filesystem
	// root is the dentry of fs shown at the mount point: fs's root, or any
	// dentry of it for a bind mount.
	root *Dentry
	id   int

	parent *Mount  // nil for a root mount, detached and anonymous mounts
	point  *Dentry // the dentry of parent this mount covers
	// submounts maps a dentry of this mount to the mount stacked
	// directly on it (one per dentry: a later mount there stacks on the
	// earlier one's root).
	submounts map[*Dentry]*Mount
	// attached: the mount is in the mount list (not unmounted).
	attached bool
	// locked: made by the sandbox itself (boot), not by an application:
	// like Linux's MNT_LOCKED, it cannot be unmounted or moved on its own
	// and a non-recursive bind cannot show what it covers (what lies
	// below /proc of a rootfs served from the host, say). The root of a
	// namespace is not locked.
	locked bool
	// prop is the recorded propagation type (guarded by mountMu).
	prop Propagation

	flags  atomic.Uint32 // mountFlag* bits
	source string
	anon   bool
	refs   atomic.Int64
	// expiry is umount2(MNT_EXPIRE)'s mark, cleared when the mount is
	// used (DecRef).
	expiry atomic.Bool
}

// MountFlags are per-mount options.
type MountFlags struct {
	ReadOnly bool
	NoExec   bool
	NoSuid   bool
	NoDev    bool
	NoAtime  bool
	// NoDirAtime and StrictAtime are MS_NODIRATIME and MS_STRICTATIME
	// (without NoAtime or StrictAtime a mount is "relatime", Linux's
	// default).
	NoDirAtime  bool
	StrictAtime bool
}

const (
	mountFlagReadOnly = 1 << iota
	mountFlagNoExec
	mountFlagNoSuid
	mountFlagNoDev
	mountFlagNoAtime
	mountFlagNoDirAtime
	mountFlagStrictAtime
)

func (f MountFlags) bits() uint32 {
	var b uint32
	for _, x := range []struct {
		on  bool
		bit uint32
	}{{f.ReadOnly, mountFlagReadOnly}, {f.NoExec, mountFlagNoExec}, {f.NoSuid, mountFlagNoSuid},
		{f.NoDev, mountFlagNoDev}, {f.NoAtime, mountFlagNoAtime}, {f.NoDirAtime, mountFlagNoDirAtime},
		{f.StrictAtime, mountFlagStrictAtime}} {
		if x.on {
			b |= x.bit
		}
	}
	return b
}

func mountFlagsOf(b uint32) MountFlags {
	return MountFlags{
		ReadOnly:    b&mountFlagReadOnly != 0,
		NoExec:      b&mountFlagNoExec != 0,
		NoSuid:      b&mountFlagNoSuid != 0,
		NoDev:       b&mountFlagNoDev != 0,
		NoAtime:     b&mountFlagNoAtime != 0,
		NoDirAtime:  b&mountFlagNoDirAtime != 0,
		StrictAtime: b&mountFlagStrictAtime != 0,
	}
}

// Filesystem returns the mounted filesystem.
func (m *Mount) Filesystem() *Filesystem { return m.fs }

// ID returns the mount id (statx's stx_mnt_id, mountinfo).
func (m *Mount) ID() int { return m.id }

// ReadOnly reports whether the mount is read-only.
func (m *Mount) ReadOnly() bool { return m.flags.Load()&mountFlagReadOnly != 0 }

// Flags returns the mount flags (remount may change them at any time).
func (m *Mount) Flags() MountFlags { return mountFlagsOf(m.flags.Load()) }

// Root returns the mount's root as a VirtualDentry (no reference taken).
func (m *Mount) Root() VirtualDentry { return VirtualDentry{m, m.root} }

// flagString is the per-mount part of the options in /proc/mounts, in
// Linux's order.
func (m *Mount) flagString() string {
	f := m.Flags()
	s := "rw"
	if f.ReadOnly {
		s = "ro"
	}
	if f.NoSuid {
		s += ",nosuid"
	}
	if f.NoDev {
		s += ",nodev"
	}
	if f.NoExec {
		s += ",noexec"
	}
	if f.NoAtime {
		s += ",noatime"
	}
	if f.NoDirAtime {
		s += ",nodiratime"
	}
	if !f.NoAtime && !f.StrictAtime {
		s += ",relatime"
	}
	return s
}

func (m *Mount) optionString() string {
	s := m.flagString()
	if o := m.fs.impl.MountOptions(); o != "" {
		s += "," + o
	}
	return s
}
