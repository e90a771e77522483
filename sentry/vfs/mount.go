package vfs

import (
	"sort"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// Mount tree primitives. The operations of mount(2), umount2(2) and
// pivot_root(2) are in mount_ops.go and mountns.go; this file keeps the
// API boot builds the initial tree with.

// MaxMounts bounds the number of mounts of one sandbox (Linux's
// fs.mount-max is 100000): beyond it mount(2) fails with ENOSPC, so a
// loop of recursive bind mounts cannot exhaust the sentry's memory.
const MaxMounts = 10000

// Propagation is a mount's propagation type as mount(2) sets it. It is
// recorded, and checked where Linux checks it (pivot_root, MS_MOVE), but
// nothing propagates: each container (or unshared task) has its own mount
// tree and no mount event reaches another tree, so /proc/self/mountinfo
// shows no optional fields.
type Propagation int

// Propagation types.
const (
	PropPrivate Propagation = iota
	PropShared
	PropSlave
	PropUnbindable
)

// MountRoot makes fs the root of the mount tree and returns its root with a
// reference (the initial root and cwd of init's FSContext come from here).
func (v *VirtualFilesystem) MountRoot(fs *Filesystem, source string, flags MountFlags) VirtualDentry {
	v.renameMu.Lock()
	v.mountMu.Lock()
	m := v.newMountLocked(fs, fs.root, source, flags)
	m.attached = true
	v.mountList = append(v.mountList, m)
	v.root = m
	v.mountMu.Unlock()
	v.renameMu.Unlock()
	vd := VirtualDentry{m, m.root}
	vd.IncRef()
	return vd
}

// RootMount returns the root of the mount tree, with a reference.
func (v *VirtualFilesystem) RootMount() VirtualDentry {
	v.mountMu.RLock()
	defer v.mountMu.RUnlock()
	if v.root == nil {
		return VirtualDentry{}
	}
	vd := VirtualDentry{v.root, v.root.root}
	vd.IncRef()
	return vd
}

// MountAt mounts fs on the directory pop resolves to (following symlinks),
// on top of whatever is mounted there. The caller must have CAP_SYS_ADMIN
// (checked here); with a PathOperation from FSContext.PathOp the target
// must be in the caller's mount namespace (EINVAL otherwise).
func (v *VirtualFilesystem) MountAt(ctx Context, pop *PathOperation, fs *Filesystem, source string, flags MountFlags) error {
	vd, err := v.GetDentryAt(ctx, pop, GetDentryOptions{})
	if err != nil {
		return err
	}
	defer vd.DecRef()
	if !ctx.Credentials().HasCapability(capSysAdmin) {
		return unix.EPERM
	}
	if err := sameKind(ctx, vd.Dentry, fs.root); err != nil {
		return err
	}
	v.renameMu.Lock()
	defer v.endWrite()
	v.mountMu.Lock()
	defer v.mountMu.Unlock()
	if err := v.checkTargetLocked(pop.ns, vd); err != nil {
		return err
	}
	if len(v.mountList) >= MaxMounts {
		return unix.ENOSPC
	}
	m := v.newMountLocked(fs, fs.root, source, flags)
	m.locked = pop.ns == nil
	v.attachLocked(m, v.topLocked(vd))
	v.listLocked(m)
	return nil
}

// sameKind checks that a mount of src over dst puts a directory on a
// directory or a non-directory on a non-directory (file bind mounts such
// as /etc/hosts), as Linux requires (ENOTDIR either way).
func sameKind(ctx Context, dst, src *Dentry) error {
	dst1, err := dst.inode.Stat(ctx)
	if err != nil {
		return err
	}
	src1, err := src.inode.Stat(ctx)
	if err != nil {
		return err
	}
	if (fileType(&dst1) == linux.S_IFDIR) != (fileType(&src1) == linux.S_IFDIR) {
		return unix.ENOTDIR
	}
	return nil
}

// MountAtVD mounts fs on vd without permission checks (boot uses it).
// fs's root may be a file, to mount over a file. The mount is locked (see
// Mount.locked), as are those MountAt and BindMountAt make for a
// PathOperation not made by FSContext.PathOp (boot's).
func (v *VirtualFilesystem) MountAtVD(vd VirtualDentry, fs *Filesystem, source string, flags MountFlags) *Mount {
	v.renameMu.Lock()
	defer v.endWrite()
	v.mountMu.Lock()
	defer v.mountMu.Unlock()
	m := v.newMountLocked(fs, fs.root, source, flags)
	m.locked = true
	v.attachLocked(m, v.topLocked(vd))
	v.listLocked(m)
	return m
}

// BindMountAt makes src (a directory or a file, of any mount) also appear
// at the place pop names (mount --bind, not recursive), with its own flags
// (a read-only bind of a writable tree is allowed). The caller needs
// CAP_SYS_ADMIN. Boot uses it; mount(2)'s MS_BIND is BindMount.
func (v *VirtualFilesystem) BindMountAt(ctx Context, src VirtualDentry, pop *PathOperation, flags MountFlags) error {
	vd, err := v.GetDentryAt(ctx, pop, GetDentryOptions{})
	if err != nil {
		return err
	}
	defer vd.DecRef()
	if !ctx.Credentials().HasCapability(capSysAdmin) {
		return unix.EPERM
	}
	if src.Mount.anon {
		return unix.EINVAL
	}
	if err := sameKind(ctx, vd.Dentry, src.Dentry); err != nil {
		return err
	}
	v.renameMu.Lock()
	defer v.endWrite()
	v.mountMu.Lock()
	defer v.mountMu.Unlock()
	if err := v.checkTargetLocked(pop.ns, vd); err != nil {
		return err
	}
	if len(v.mountList) >= MaxMounts {
		return unix.ENOSPC
	}
	m := v.newMountLocked(src.Mount.fs, src.Dentry, src.Mount.source, flags)
	m.locked = pop.ns == nil
	v.attachLocked(m, v.topLocked(vd))
	v.listLocked(m)
	return nil
}

// checkTargetLocked checks that a mount may be placed at vd: in the
// caller's namespace (ns nil: boot, anywhere), not unmounted, not
// unlinked.
func (v *VirtualFilesystem) checkTargetLocked(ns *MountNamespace, vd VirtualDentry) error {
	if vd.Mount.anon || !ns.containsLocked(vd.Mount) {
		return unix.EINVAL
	}
	if vd.Dentry.dead.Load() || !vd.Mount.attached {
		// Linux: a lazily unmounted tree takes no new mounts (ENOENT).
		return unix.ENOENT
	}
	return nil
}

// newMountLocked makes an unattached mount of fs showing root. The root
// dentry keeps a reference for as long as the mount exists (until it is
// unmounted), so it is not evicted.
func (v *VirtualFilesystem) newMountLocked(fs *Filesystem, root *Dentry, source string, flags MountFlags) *Mount {
	v.nextMountID++
	m := &Mount{vfs: v, fs: fs, root: root, id: v.nextMountID, source: source}
	m.flags.Store(flags.bits())
	root.refs.Add(1)
	return m
}

// topLocked returns the topmost mount stacked on vd (vd itself if none),
// as Linux's lock_mount finds where a new mount goes.
func (v *VirtualFilesystem) topLocked(vd VirtualDentry) VirtualDentry {
	for {
		top := vd.Mount.submounts[vd.Dentry]
		if top == nil {
			return vd
		}
		vd = VirtualDentry{top, top.root}
	}
}

// attachLocked places m (not attached anywhere) on at, which nothing is
// mounted on.
func (v *VirtualFilesystem) attachLocked(m *Mount, at VirtualDentry) {
	if at.Mount.submounts == nil {
		at.Mount.submounts = map[*Dentry]*Mount{}
	}
	at.Mount.submounts[at.Dentry] = m
	at.Dentry.mounted.Add(1)
	m.parent, m.point = at.Mount, at.Dentry
}

// detachLocked takes m off its mount point (m keeps its submounts).
func (v *VirtualFilesystem) detachLocked(m *Mount) {
	if m.parent == nil {
		return
	}
	if m.parent.submounts[m.point] == m {
		delete(m.parent.submounts, m.point)
		m.point.mounted.Add(-1)
	}
	m.parent, m.point = nil, nil
}

// listLocked adds m and every mount above it to the mount list.
func (v *VirtualFilesystem) listLocked(m *Mount) {
	m.attached = true
	v.mountList = append(v.mountList, m)
	for _, c := range m.childrenLocked() {
		v.listLocked(c)
	}
}

// childrenLocked returns the mounts whose parent is m, in mount order.
func (m *Mount) childrenLocked() []*Mount {
	cs := make([]*Mount, 0, len(m.submounts))
	for _, c := range m.submounts {
		cs = append(cs, c)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].id < cs[j].id })
	return cs
}

// dissolveLocked unmounts m and everything above it: each mount is
// detached from its mount point, dropped from the mount list and gives
// back its root's reference. Processes still inside keep their files and
// directories (a lazy unmount), but no longer see the submounts. With
// keepLocked (an application's unmount) locked mounts above m are only
// dropped from the list: they stay on their (unmounted) parents, as Linux
// keeps MNT_LOCKED mounts connected, so what they cover stays hidden.
func (v *VirtualFilesystem) dissolveLocked(m *Mount, keepLocked bool) {
	for _, c := range m.childrenLocked() {
		if keepLocked && c.locked {
			v.unlistTreeLocked(c)
			continue
		}
		v.dissolveLocked(c, keepLocked)
	}
	v.detachLocked(m)
	if !m.attached {
		return
	}
	v.unlistLocked(m)
	m.root.refs.Add(-1)
}

// unlistLocked drops m from the mount list.
func (v *VirtualFilesystem) unlistLocked(m *Mount) {
	m.attached = false
	for i, o := range v.mountList {
		if o == m {
			v.mountList = append(v.mountList[:i], v.mountList[i+1:]...)
			break
		}
	}
}

// unlistTreeLocked drops m and the mounts above it from the list, keeping
// them connected.
func (v *VirtualFilesystem) unlistTreeLocked(m *Mount) {
	if m.attached {
		v.unlistLocked(m)
	}
	for _, c := range m.submounts {
		v.unlistTreeLocked(c)
	}
}

// mountedOn returns the mount on top of (m, d), or nil.
func (v *VirtualFilesystem) mountedOn(m *Mount, d *Dentry) *Mount {
	if !d.isMountPoint() {
		return nil
	}
	v.mountMu.RLock()
	defer v.mountMu.RUnlock()
	return m.submounts[d]
}

// Mounts returns every mount (for /proc and debugging), in mount order.
func (v *VirtualFilesystem) Mounts() []*Mount { return v.sortedMounts() }

// anonFilesystem is the filesystem of pipes, sockets, eventfds...
type anonFilesystem struct{}

func (anonFilesystem) Name() string { return "anon_inodefs" }
func (anonFilesystem) Statfs(ctx Context) (StatFS, error) {
	return StatFS{Type: 0x09041934, BlockSize: 4096, NameLength: NameMax}, nil
}
func (anonFilesystem) MountOptions() string { return "" }

type anonRoot struct{ NoSetStat }

func (anonRoot) Stat(ctx Context) (linux.Statx, error) {
	return linux.Statx{Mask: linux.STATX_BASIC_STATS, Mode: linux.S_IFDIR | 0o500, Nlink: 2, Ino: 1, Blksize: 4096}, nil
}

// NewAnonVirtualDentry returns a VirtualDentry (with a reference) for an
// inode that lives in no directory: a pipe from pipe(2), a socket, an
// eventfd. name is what /proc/self/fd/N links to ("pipe:[12]", or
// "anon_inode:[eventfd]"). Anonymous inodes can use NextAnonIno for st_ino.
func (v *VirtualFilesystem) NewAnonVirtualDentry(name string, inode Inode) VirtualDentry {
	v.anonOnce.Do(func() {
		v.anonFS = v.NewFilesystem(anonFilesystem{}, anonRoot{})
		v.mountMu.Lock()
		v.nextMountID++
		v.anonMnt = &Mount{vfs: v, fs: v.anonFS, root: v.anonFS.root, id: v.nextMountID, anon: true}
		v.mountMu.Unlock()
	})
	d := newDentry(v.anonFS, inode, nil, name)
	vd := VirtualDentry{v.anonMnt, d}
	vd.IncRef()
	return vd
}

// NextAnonIno returns a fresh inode number for anonymous inodes.
func (v *VirtualFilesystem) NextAnonIno() uint64 { return v.nextAnonIno.Add(1) + 1000 }

// IsAnonymous reports whether m is the mount of anonymous inodes.
func (m *Mount) IsAnonymous() bool { return m.anon }
