package vfs

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// MountRoot makes fs the root of the mount tree and returns its root with a
// reference (the initial root and cwd of init's FSContext come from here).
func (v *VirtualFilesystem) MountRoot(fs *Filesystem, source string, flags MountFlags) VirtualDentry {
	v.mountMu.Lock()
	defer v.mountMu.Unlock()
	v.nextMountID++
	m := &Mount{vfs: v, fs: fs, root: fs.root, id: v.nextMountID, flags: flags, source: source}
	v.root = m
	v.mountList = append(v.mountList, m)
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

// MountAt mounts fs on the directory pop resolves to (following symlinks).
// The caller must have CAP_SYS_ADMIN (checked here).
func (v *VirtualFilesystem) MountAt(ctx Context, pop *PathOperation, fs *Filesystem, source string, flags MountFlags) error {
	if !ctx.Credentials().HasCapability(capSysAdmin) {
		return unix.EPERM
	}
	vd, err := v.GetDentryAt(ctx, pop, GetDentryOptions{})
	if err != nil {
		return err
	}
	defer vd.DecRef()
	if err := sameKind(ctx, vd.Dentry, fs.root); err != nil {
		return err
	}
	v.mountAt(vd, fs, fs.root, source, flags)
	return nil
}

// sameKind checks that a mount of src over dst puts a directory on a
// directory or a non-directory on a non-directory (file bind mounts such
// as /etc/hosts), as Linux requires.
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
// fs's root may be a file, to mount over a file.
func (v *VirtualFilesystem) MountAtVD(vd VirtualDentry, fs *Filesystem, source string, flags MountFlags) *Mount {
	return v.mountAt(vd, fs, fs.root, source, flags)
}

// BindMountAt makes src (a directory or a file, of any mount) also appear
// at the place pop names (mount --bind), with its own flags (a read-only
// bind of a writable tree is allowed). The caller needs CAP_SYS_ADMIN.
func (v *VirtualFilesystem) BindMountAt(ctx Context, src VirtualDentry, pop *PathOperation, flags MountFlags) error {
	if !ctx.Credentials().HasCapability(capSysAdmin) {
		return unix.EPERM
	}
	if src.Mount.anon {
		return unix.EINVAL
	}
	vd, err := v.GetDentryAt(ctx, pop, GetDentryOptions{})
	if err != nil {
		return err
	}
	defer vd.DecRef()
	if err := sameKind(ctx, vd.Dentry, src.Dentry); err != nil {
		return err
	}
	v.mountAt(vd, src.Mount.fs, src.Dentry, src.Mount.source, flags)
	return nil
}

func (v *VirtualFilesystem) mountAt(vd VirtualDentry, fs *Filesystem, root *Dentry, source string, flags MountFlags) *Mount {
	v.mountMu.Lock()
	defer v.mountMu.Unlock()
	// Mount on top of whatever is already mounted there.
	for {
		top, ok := v.mounts[mountKey{vd.Mount, vd.Dentry}]
		if !ok {
			break
		}
		vd = VirtualDentry{top, top.root}
	}
	v.nextMountID++
	m := &Mount{vfs: v, fs: fs, root: root, id: v.nextMountID, parent: vd.Mount, point: vd.Dentry, flags: flags, source: source}
	v.mounts[mountKey{vd.Mount, vd.Dentry}] = m
	vd.Dentry.mounted.Add(1)
	// The mount's root (a bind mount's may be any dentry) must not be
	// evicted while mounted.
	root.refs.Add(1)
	v.mountList = append(v.mountList, m)
	return m
}

// UmountAt unmounts the mount whose root pop names. Without MNT_DETACH a
// mount in use (open files, cwds, submounts) gives EBUSY.
func (v *VirtualFilesystem) UmountAt(ctx Context, pop *PathOperation, flags int) error {
	if !ctx.Credentials().HasCapability(capSysAdmin) {
		return unix.EPERM
	}
	if flags&^(unix.MNT_FORCE|unix.MNT_DETACH|unix.MNT_EXPIRE|unix.UMOUNT_NOFOLLOW) != 0 {
		return unix.EINVAL
	}
	p := *pop
	p.FollowFinalSymlink = flags&unix.UMOUNT_NOFOLLOW == 0
	vd, err := v.GetDentryAt(ctx, &p, GetDentryOptions{})
	if err != nil {
		return err
	}
	vd.DecRef()
	m := vd.Mount
	if vd.Dentry != m.root || m.parent == nil {
		return unix.EINVAL
	}
	v.mountMu.Lock()
	defer v.mountMu.Unlock()
	if flags&unix.MNT_DETACH == 0 {
		for _, o := range v.mountList {
			if o.parent == m {
				return unix.EBUSY
			}
		}
		if m.refs.Load() > 0 {
			return unix.EBUSY
		}
	}
	v.removeMountLocked(m)
	return nil
}

func (v *VirtualFilesystem) removeMountLocked(m *Mount) {
	// Detach children first.
	for _, o := range append([]*Mount(nil), v.mountList...) {
		if o.parent == m {
			v.removeMountLocked(o)
		}
	}
	key := mountKey{m.parent, m.point}
	if v.mounts[key] == m {
		delete(v.mounts, key)
		m.point.mounted.Add(-1)
		m.root.refs.Add(-1)
	}
	for i, o := range v.mountList {
		if o == m {
			v.mountList = append(v.mountList[:i], v.mountList[i+1:]...)
			break
		}
	}
}

// mountedOn returns the mount on top of (m, d), or nil.
func (v *VirtualFilesystem) mountedOn(m *Mount, d *Dentry) *Mount {
	if !d.isMountPoint() {
		return nil
	}
	v.mountMu.RLock()
	defer v.mountMu.RUnlock()
	return v.mounts[mountKey{m, d}]
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
