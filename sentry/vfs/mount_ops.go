package vfs

import (
	"golang.org/x/sys/unix"
)

// The operations behind mount(2) and umount2(2), with Linux's checks and
// errors. Each resolves its paths first (holding renameMu for reading, as
// every path operation), then takes renameMu and mountMu for writing to
// change the tree; filesystem callbacks (Stat) run before that, never
// under the write locks. A PathOperation made by FSContext.PathOp carries
// the caller's mount namespace: mounts outside it are not the caller's to
// change (EINVAL, like Linux's check_mnt).

// BindMount implements mount(2)'s MS_BIND: the file or directory src
// names also appears at dst, as a new mount of the same filesystem (no
// new instance: a gofer-backed tree stays served by its gofer). The new
// mount has src's mount flags. With recursive (MS_REC) the mounts below
// src are copied too, except unbindable ones.
func (v *VirtualFilesystem) BindMount(ctx Context, src, dst *PathOperation, recursive bool) error {
	dvd, err := v.GetDentryAt(ctx, dst, GetDentryOptions{})
	if err != nil {
		return err
	}
	defer dvd.DecRef()
	if !ctx.Credentials().HasCapability(capSysAdmin) {
		return unix.EPERM
	}
	svd, err := v.GetDentryAt(ctx, src, GetDentryOptions{})
	if err != nil {
		return err
	}
	defer svd.DecRef()
	if svd.Mount.anon {
		return unix.EINVAL
	}
	if err := sameKind(ctx, dvd.Dentry, svd.Dentry); err != nil {
		return err
	}
	v.renameMu.Lock()
	defer v.endWrite()
	v.mountMu.Lock()
	defer v.mountMu.Unlock()
	if err := v.checkTargetLocked(dst.ns, dvd); err != nil {
		return err
	}
	sm := svd.Mount
	if sm.prop == PropUnbindable || !sm.attached || !src.ns.containsLocked(sm) {
		return unix.EINVAL
	}
	n := 1
	if recursive {
		n = countCopyLocked(sm, svd.Dentry)
	}
	if len(v.mountList)+n > MaxMounts {
		return unix.ENOSPC
	}
	var m *Mount
	if recursive {
		m = v.copyTreeLocked(sm, svd.Dentry, nil)
	} else {
		if src.ns != nil && hasLockedChildrenLocked(sm, svd.Dentry) {
			return unix.EINVAL // it would show what they cover
		}
		m = v.cloneLocked(sm, svd.Dentry)
	}
	m.locked = false
	v.attachLocked(m, v.topLocked(dvd))
	v.listLocked(m)
	return nil
}

// cloneLocked returns a new unattached mount of sm's filesystem showing
// root, with sm's flags; a clone of a shared mount is shared (its peer),
// of any other private.
func (v *VirtualFilesystem) cloneLocked(sm *Mount, root *Dentry) *Mount {
	m := v.newMountLocked(sm.fs, root, sm.source, sm.Flags())
	if sm.prop == PropShared {
		m.prop = PropShared
	}
	return m
}

// copyTreeLocked clones sm at root and, recursively, the mounts above it
// whose mount points lie below root (all of them when root is sm's root),
// skipping unbindable ones. old2new, if not nil, records the clones.
func (v *VirtualFilesystem) copyTreeLocked(sm *Mount, root *Dentry, old2new map[*Mount]*Mount) *Mount {
	m := v.cloneLocked(sm, root)
	m.locked = sm.locked
	if old2new != nil {
		old2new[sm] = m
		m.prop = sm.prop
	}
	for _, c := range sm.childrenLocked() {
		if c.prop == PropUnbindable && old2new == nil {
			continue
		}
		if !isSubdir(c.point, root) {
			continue
		}
		cc := v.copyTreeLocked(c, c.root, old2new)
		v.attachLocked(cc, VirtualDentry{m, c.point})
	}
	return m
}

// hasLockedChildrenLocked reports whether a locked mount sits on sm at or
// below root.
func hasLockedChildrenLocked(sm *Mount, root *Dentry) bool {
	for _, c := range sm.submounts {
		if c.locked && isSubdir(c.point, root) {
			return true
		}
	}
	return false
}

// countCopyLocked is the number of mounts copyTreeLocked(sm, root) makes.
func countCopyLocked(sm *Mount, root *Dentry) int {
	n := 1
	for _, c := range sm.submounts {
		if c.prop != PropUnbindable && isSubdir(c.point, root) {
			n += countCopyLocked(c, c.root)
		}
	}
	return n
}

// isSubdir reports whether d is anc or below it in their filesystem.
func isSubdir(d, anc *Dentry) bool {
	for ; d != nil; d = d.parent.Load() {
		if d == anc {
			return true
		}
	}
	return false
}

// RemountOptions are the arguments of mount(2) with MS_REMOUNT.
type RemountOptions struct {
	// Flags are the mount's new flags.
	Flags MountFlags
	// KeepAtime keeps the mount's atime flags (none of MS_NOATIME,
	// MS_NODIRATIME, MS_RELATIME, MS_STRICTATIME was given).
	KeepAtime bool
	// Bind is MS_BIND: change only this mount's flags. Without it the
	// filesystem is reconfigured with Data too, if it implements
	// Remounter (otherwise Data is ignored, as options a filesystem does
	// not know).
	Bind bool
	// Data is mount(2)'s data ("size=2g" for tmpfs).
	Data string
}

// Remounter is implemented by a FilesystemImpl whose options may change
// on mount -o remount (tmpfs's size=, say). Remount runs before the mount
// tree is locked; an error fails the remount with nothing changed.
type Remounter interface {
	Remount(ctx Context, data string) error
}

// Remount implements mount(2)'s MS_REMOUNT: pop must name the root of a
// mount of the caller's namespace (EINVAL otherwise), whose flags become
// opts.Flags. Read-only, nosuid, nodev and noexec are enforced per mount,
// so a read-only bind of a writable tree leaves the tree writable.
func (v *VirtualFilesystem) Remount(ctx Context, pop *PathOperation, opts RemountOptions) error {
	vd, err := v.GetDentryAt(ctx, pop, GetDentryOptions{})
	if err != nil {
		return err
	}
	defer vd.DecRef()
	if !ctx.Credentials().HasCapability(capSysAdmin) {
		return unix.EPERM
	}
	m := vd.Mount
	valid := func() bool {
		return !m.anon && m.attached && pop.ns.containsLocked(m) && vd.Dentry == m.root
	}
	if r, ok := m.fs.impl.(Remounter); ok && !opts.Bind && opts.Data != "" {
		// A filesystem callback: checked, then run outside the tree's
		// write locks.
		v.mountMu.RLock()
		ok := valid()
		v.mountMu.RUnlock()
		if !ok {
			return unix.EINVAL
		}
		if err := r.Remount(ctx, opts.Data); err != nil {
			return err
		}
	}
	v.renameMu.Lock()
	defer v.endWrite()
	v.mountMu.Lock()
	defer v.mountMu.Unlock()
	if !valid() {
		return unix.EINVAL
	}
	f := opts.Flags
	if opts.KeepAtime {
		old := m.Flags()
		f.NoAtime, f.NoDirAtime, f.StrictAtime = old.NoAtime, old.NoDirAtime, old.StrictAtime
	}
	m.flags.Store(f.bits())
	return nil
}

// SetPropagation implements mount(2) with one of MS_SHARED, MS_PRIVATE,
// MS_SLAVE, MS_UNBINDABLE (and MS_REC: the mounts above too): pop must
// name a mount's root. The type is recorded; see Propagation.
func (v *VirtualFilesystem) SetPropagation(ctx Context, pop *PathOperation, prop Propagation, recursive bool) error {
	vd, err := v.GetDentryAt(ctx, pop, GetDentryOptions{})
	if err != nil {
		return err
	}
	defer vd.DecRef()
	if !ctx.Credentials().HasCapability(capSysAdmin) {
		return unix.EPERM
	}
	v.renameMu.Lock()
	defer v.endWrite()
	v.mountMu.Lock()
	defer v.mountMu.Unlock()
	m := vd.Mount
	if m.anon || !m.attached || !pop.ns.containsLocked(m) || vd.Dentry != m.root {
		return unix.EINVAL
	}
	var set func(m *Mount)
	set = func(m *Mount) {
		switch {
		case prop != PropSlave:
			m.prop = prop
		case m.prop == PropShared || m.prop == PropSlave:
			// A slave of its former peers (which receive nothing
			// anyway).
			m.prop = PropSlave
		default:
			// Linux: a mount with no peers and no master becomes
			// private.
			m.prop = PropPrivate
		}
		if recursive {
			for _, c := range m.submounts {
				set(c)
			}
		}
	}
	set(m)
	return nil
}

// MoveMount implements mount(2)'s MS_MOVE: the mount whose root src names
// moves to dst (on top of whatever is mounted there).
func (v *VirtualFilesystem) MoveMount(ctx Context, src, dst *PathOperation) error {
	dvd, err := v.GetDentryAt(ctx, dst, GetDentryOptions{})
	if err != nil {
		return err
	}
	defer dvd.DecRef()
	if !ctx.Credentials().HasCapability(capSysAdmin) {
		return unix.EPERM
	}
	svd, err := v.GetDentryAt(ctx, src, GetDentryOptions{})
	if err != nil {
		return err
	}
	defer svd.DecRef()
	if svd.Mount.anon {
		return unix.EINVAL
	}
	kindErr := sameKind(ctx, dvd.Dentry, svd.Dentry)
	v.renameMu.Lock()
	defer v.endWrite()
	v.mountMu.Lock()
	defer v.mountMu.Unlock()
	if err := v.checkTargetLocked(dst.ns, dvd); err != nil {
		return err
	}
	m := svd.Mount
	if !m.attached || !src.ns.containsLocked(m) || svd.Dentry != m.root || (src.ns != nil && m.locked) {
		return unix.EINVAL
	}
	if kindErr != nil {
		return kindErr
	}
	at := v.topLocked(dvd)
	if m.parent == nil || m.parent.prop == PropShared {
		return unix.EINVAL
	}
	if at.Mount.prop == PropShared && hasUnbindableLocked(m) {
		return unix.EINVAL
	}
	for p := at.Mount; p != nil; p = p.parent {
		if p == m {
			return unix.ELOOP // into itself
		}
	}
	v.detachLocked(m)
	v.attachLocked(m, at)
	return nil
}

func hasUnbindableLocked(m *Mount) bool {
	if m.prop == PropUnbindable {
		return true
	}
	for _, c := range m.submounts {
		if hasUnbindableLocked(c) {
			return true
		}
	}
	return false
}

// UmountAt implements umount2(2): it unmounts the mount whose root pop
// names (the topmost one stacked there). MNT_DETACH detaches it and
// everything above it at once; without it, a mount with open files,
// working or root directories inside, or with mounts above it, gives
// EBUSY. MNT_FORCE is accepted (nothing to abort); MNT_EXPIRE marks the
// mount (EAGAIN) and unmounts it at the second call if it was not used
// in between. Mounts the sandbox made itself (Mount.locked) cannot be
// unmounted by an application (EINVAL, as Linux's MNT_LOCKED) and stay
// in place when their parent is. The caller's own root can only be
// unmounted lazily: its
// processes keep their root and working directories, and see none of the
// submounts any more (as Linux, which disconnects them).
func (v *VirtualFilesystem) UmountAt(ctx Context, pop *PathOperation, flags int) error {
	if flags&^(unix.MNT_FORCE|unix.MNT_DETACH|unix.MNT_EXPIRE|unix.UMOUNT_NOFOLLOW) != 0 {
		return unix.EINVAL
	}
	p := *pop
	p.FollowFinalSymlink = flags&unix.UMOUNT_NOFOLLOW == 0
	vd, err := v.GetDentryAt(ctx, &p, GetDentryOptions{})
	if err != nil {
		return err
	}
	// Drop the lookup's reference without clearing the expiry mark (as
	// Linux's umount uses mntput_no_expire).
	vd.Mount.refs.Add(-1)
	vd.Dentry.refs.Add(-1)
	if !ctx.Credentials().HasCapability(capSysAdmin) {
		return unix.EPERM
	}
	v.renameMu.Lock()
	defer v.endWrite()
	v.mountMu.Lock()
	defer v.mountMu.Unlock()
	vd = v.topLocked(vd)
	m := vd.Mount
	if m.anon || vd.Dentry != m.root || !m.attached || !pop.ns.containsLocked(m) || (pop.ns != nil && m.locked) {
		return unix.EINVAL
	}
	callerRoot := pop.Root.Ok() && pop.Root.Mount == m
	if flags&unix.MNT_EXPIRE != 0 {
		if callerRoot || flags&(unix.MNT_FORCE|unix.MNT_DETACH) != 0 {
			return unix.EINVAL
		}
		if m.refs.Load() > 0 {
			return unix.EBUSY
		}
		if !m.expiry.Swap(true) {
			return unix.EAGAIN
		}
	}
	if callerRoot && flags&unix.MNT_DETACH == 0 {
		// Linux remounts the caller's root read-only here if nothing
		// is open for writing on it; the sandbox leaves it as it is.
		return unix.EBUSY
	}
	if flags&unix.MNT_DETACH == 0 && (len(m.submounts) > 0 || m.refs.Load() > 0) {
		return unix.EBUSY
	}
	v.dissolveLocked(m, pop.ns != nil)
	return nil
}

// VisibleFilesystem returns the filesystem of the first mount of type name
// ("proc") visible below root, or nil: mount(2) of proc or sysfs mounts
// the instance the caller's container already has (one per sandbox
// kernel; the pod's sysctls stay shared).
func (v *VirtualFilesystem) VisibleFilesystem(root VirtualDentry, name string) *Filesystem {
	for _, pm := range v.visibleMounts(root) {
		if pm.m.fs.impl.Name() == name {
			return pm.m.fs
		}
	}
	return nil
}
