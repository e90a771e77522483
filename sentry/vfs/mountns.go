package vfs

import (
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Mount namespaces.
//
// The sandbox has one tree of mounts. A MountNamespace is the subtree of
// one mount, its root: the root of the whole tree for `runsc-cri do`, a
// container's root filesystem mount in a pod (the containers' trees hang
// below the pod's hidden root, see sentry/boot), or a private copy made by
// unshare(CLONE_NEWNS), which hangs nowhere. A mount belongs to a
// namespace if its chain of parents reaches the namespace's root; mount
// operations on mounts of another namespace fail with EINVAL, as Linux's
// check_mnt. Every FSContext points to the namespace it was created in
// (NewFSContext finds it from its root: the namespace whose root is that
// mount, made on first use) and shares it with its forks.
//
// pivot_root(2) changes a namespace's root; an FSContext created later
// with the former root (an exec into a container whose init pivoted) gets
// the current root instead, as setns(2) would give it.
//
// Locks: nsByRoot is guarded by mountMu; VirtualFilesystem.fscMu guards
// the set of live FSContexts and is taken after mountMu and before
// FSContext.mu. Nothing holding an FSContext.mu takes mountMu or renameMu
// (a path walk holding renameMu may read an FSContext: proc's
// /proc/self/root).

// MountNamespace is one mount namespace (see above).
type MountNamespace struct {
	vfs *VirtualFilesystem
	// root is the namespace's root mount (guarded like Mount.parent).
	root *Mount
	// refs counts the FSContexts in the namespace.
	refs atomic.Int64
	// private: made by unshare; its tree is unmounted with its last user.
	private bool
}

// containsLocked reports whether m is in ns (a nil ns contains
// everything: boot's operations). mountMu or renameMu must be held.
func (ns *MountNamespace) containsLocked(m *Mount) bool {
	if ns == nil {
		return true
	}
	for ; m != nil; m = m.parent {
		if m == ns.root {
			return true
		}
	}
	return false
}

// joinNamespace returns the namespace an FSContext rooted at root belongs
// to, with a reference, and the root and cwd it should have: those given,
// unless root is the former root of a namespace that has pivoted.
func (v *VirtualFilesystem) joinNamespace(root, cwd VirtualDentry) (VirtualDentry, VirtualDentry, *MountNamespace) {
	v.mountMu.Lock()
	defer v.mountMu.Unlock()
	var ns *MountNamespace
	if root.Dentry == root.Mount.root {
		ns = v.nsByRoot[root.Mount]
		if ns != nil && ns.root != root.Mount {
			nr := VirtualDentry{ns.root, ns.root.root}
			if cwd == root {
				cwd = nr
			}
			root = nr
		}
	} else {
		for m := root.Mount; m != nil && ns == nil; m = m.parent {
			if n := v.nsByRoot[m]; n != nil && n.root == m {
				ns = n
			}
		}
	}
	if ns == nil {
		ns = &MountNamespace{vfs: v, root: root.Mount}
		root.Mount.locked = false // a namespace's root is not locked
		if v.nsByRoot == nil {
			v.nsByRoot = map[*Mount]*MountNamespace{}
		}
		v.nsByRoot[root.Mount] = ns
	}
	ns.refs.Add(1)
	return root, cwd, ns
}

// decRef drops an FSContext's reference; the last one forgets the
// namespace, and unmounts a private namespace's tree.
func (ns *MountNamespace) decRef() {
	if ns == nil || ns.refs.Add(-1) > 0 {
		return
	}
	v := ns.vfs
	v.mountMu.Lock()
	if ns.refs.Load() > 0 {
		v.mountMu.Unlock()
		return
	}
	for m, n := range v.nsByRoot {
		if n == ns {
			delete(v.nsByRoot, m)
		}
	}
	v.mountMu.Unlock()
	if ns.private {
		// The caller (a task exiting) may hold anything; the tree is
		// unmounted by a goroutine that holds nothing else.
		go func() {
			v.renameMu.Lock()
			v.mountMu.Lock()
			v.dissolveLocked(ns.root, false)
			v.mountMu.Unlock()
			v.endWrite()
		}()
	}
}

func (v *VirtualFilesystem) registerFSContext(c *FSContext) {
	v.fscMu.Lock()
	if v.fscs == nil {
		v.fscs = map[*FSContext]struct{}{}
	}
	v.fscs[c] = struct{}{}
	v.fscMu.Unlock()
}

func (v *VirtualFilesystem) unregisterFSContext(c *FSContext) {
	v.fscMu.Lock()
	delete(v.fscs, c)
	v.fscMu.Unlock()
}

// PivotRoot implements pivot_root(2) for the task whose filesystem context
// is c: the mount newRoot names takes the place of the mount at the
// caller's root, which moves to putOld (below newRoot); the root and
// working directory of every task of the namespace that were the old root
// become the new one. With Linux's checks: new_root must be the root of a
// mount below the caller's root and other than it (EINVAL, EBUSY),
// put_old at or below new_root (EINVAL), the caller's root the root of a
// mount (EINVAL), no shared mount involved (EINVAL). pivot_root(".", ".")
// stacks the old root on the new one, to be detached with
// umount2(".", MNT_DETACH).
func (v *VirtualFilesystem) PivotRoot(ctx Context, c *FSContext, newRoot, putOld *PathOperation) error {
	if !ctx.Credentials().HasCapability(capSysAdmin) {
		return unix.EPERM
	}
	nvd, err := v.GetDentryAt(ctx, newRoot, GetDentryOptions{CheckSearchable: true})
	if err != nil {
		return err
	}
	defer nvd.DecRef()
	ovd, err := v.GetDentryAt(ctx, putOld, GetDentryOptions{CheckSearchable: true})
	if err != nil {
		return err
	}
	defer ovd.DecRef()
	root := c.Root()
	defer root.DecRef()
	ns := c.namespace()

	v.renameMu.Lock()
	v.mountMu.Lock()
	rm, nm := root.Mount, nvd.Mount
	err = func() error {
		old := v.topLocked(ovd)
		om := old.Mount
		if ns == nil || om.prop == PropShared || (nm.parent != nil && nm.parent.prop == PropShared) ||
			(rm.parent != nil && rm.parent.prop == PropShared) {
			return unix.EINVAL
		}
		if !ns.containsLocked(rm) || !ns.containsLocked(nm) || !rm.attached || !nm.attached {
			return unix.EINVAL
		}
		if nvd.Dentry.dead.Load() || old.Dentry.dead.Load() {
			return unix.ENOENT
		}
		if nm == rm || om == rm {
			return unix.EBUSY
		}
		if root.Dentry != rm.root || nvd.Dentry != nm.root || nm.parent == nil || nm.locked {
			return unix.EINVAL
		}
		if !reachable(nvd, old) || !reachable(root, nvd) {
			return unix.EINVAL
		}
		v.detachLocked(nm)
		rp, rpt := rm.parent, rm.point
		v.detachLocked(rm)
		v.attachLocked(rm, old)
		if rp != nil {
			v.attachLocked(nm, VirtualDentry{rp, rpt})
		}
		if rm.locked {
			rm.locked, nm.locked = false, true
		}
		if ns.root == rm {
			ns.root = nm
			v.nsByRoot[nm] = ns
		}
		if v.root == rm {
			v.root = nm
		}
		return nil
	}()
	v.mountMu.Unlock()
	v.endWrite()
	if err != nil {
		return err
	}
	v.chrootRefs(ns, root, VirtualDentry{nm, nm.root})
	return nil
}

// chrootRefs makes every FSContext of ns whose root or cwd is old use nu.
func (v *VirtualFilesystem) chrootRefs(ns *MountNamespace, old, nu VirtualDentry) {
	v.fscMu.Lock()
	defer v.fscMu.Unlock()
	for c := range v.fscs {
		c.mu.Lock()
		if c.ns == ns {
			if c.root == old {
				nu.IncRef()
				c.root.DecRef()
				c.root = nu
			}
			if c.cwd == old {
				nu.IncRef()
				c.cwd.DecRef()
				c.cwd = nu
			}
		}
		c.mu.Unlock()
	}
}

// UnshareMountNamespace implements unshare(CLONE_NEWNS) for the task that
// alone uses c (the caller unshares CLONE_FS first): c moves to a private
// copy of its namespace's mounts, with its root and cwd in the copy. The
// caller checks CAP_SYS_ADMIN. The copy's mounts have new ids and keep
// their flags and propagation types; they are unmounted when the last
// context using the copy goes.
func (c *FSContext) UnshareMountNamespace() error {
	ns := c.namespace()
	if ns == nil {
		return unix.EINVAL
	}
	v := ns.vfs
	v.renameMu.Lock()
	v.mountMu.Lock()
	err := func() error {
		if len(v.mountList)+countTreeLocked(ns.root) > MaxMounts {
			return unix.ENOSPC
		}
		old2new := map[*Mount]*Mount{}
		root := v.copyTreeLocked(ns.root, ns.root.root, old2new)
		root.locked = false
		v.listLocked(root)
		nns := &MountNamespace{vfs: v, root: root, private: true}
		nns.refs.Store(1)
		v.nsByRoot[root] = nns
		translate := func(vd VirtualDentry) VirtualDentry {
			if m := old2new[vd.Mount]; m != nil {
				n := VirtualDentry{m, vd.Dentry}
				n.IncRef()
				vd.DecRef()
				return n
			}
			return vd
		}
		c.mu.Lock()
		c.root = translate(c.root)
		c.cwd = translate(c.cwd)
		c.ns = nns
		c.mu.Unlock()
		return nil
	}()
	v.mountMu.Unlock()
	v.endWrite()
	if err != nil {
		return err
	}
	ns.decRef()
	return nil
}

func countTreeLocked(m *Mount) int {
	n := 1
	for _, c := range m.submounts {
		n += countTreeLocked(c)
	}
	return n
}
