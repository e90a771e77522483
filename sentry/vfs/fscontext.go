package vfs

import (
	"sync"
	"sync/atomic"
)

// FSContext is a task's filesystem context (Linux's fs_struct): root
// directory, working directory and umask, and the mount namespace the task
// is in (mountns.go; Linux keeps it in nsproxy, but here a namespace only
// matters to path operations). Tasks created with CLONE_FS share one.
type FSContext struct {
	refs atomic.Int64
	v    *VirtualFilesystem // nil for a context without a root

	// mu guards root, cwd and ns.
	mu   sync.Mutex
	root VirtualDentry
	cwd  VirtualDentry
	ns   *MountNamespace

	umask atomic.Uint32
}

// NewFSContext returns a context with root and cwd (it takes its own
// references) and umask 022, in the mount namespace whose root is root's
// mount (or above it). If that namespace has pivoted its root away from
// root, the context gets the namespace's current root instead (and cwd
// too if it was root), as a process entering the namespace would.
func NewFSContext(root, cwd VirtualDentry) *FSContext {
	c := &FSContext{}
	if root.Ok() {
		c.v = root.Mount.vfs
		root, cwd, c.ns = c.v.joinNamespace(root, cwd)
	}
	root.IncRef()
	cwd.IncRef()
	c.root, c.cwd = root, cwd
	c.refs.Store(1)
	c.umask.Store(0o22)
	if c.v != nil {
		c.v.registerFSContext(c)
	}
	return c
}

// Fork returns a copy (clone without CLONE_FS), in the same namespace.
func (c *FSContext) Fork() *FSContext {
	c.mu.Lock()
	n := &FSContext{v: c.v, root: c.root, cwd: c.cwd, ns: c.ns}
	c.mu.Unlock()
	n.root.IncRef()
	n.cwd.IncRef()
	if n.ns != nil {
		n.ns.refs.Add(1)
	}
	n.refs.Store(1)
	n.umask.Store(c.umask.Load())
	if n.v != nil {
		n.v.registerFSContext(n)
	}
	return n
}

// namespace returns the context's mount namespace.
func (c *FSContext) namespace() *MountNamespace {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ns
}

// IncRef takes a reference (CLONE_FS).
func (c *FSContext) IncRef() { c.refs.Add(1) }

// DecRef drops a reference; the last one drops root and cwd.
func (c *FSContext) DecRef() {
	if c.refs.Add(-1) > 0 {
		return
	}
	if c.v != nil {
		c.v.unregisterFSContext(c)
	}
	c.mu.Lock()
	c.root.DecRef()
	c.cwd.DecRef()
	c.root, c.cwd = VirtualDentry{}, VirtualDentry{}
	ns := c.ns
	c.ns = nil
	c.mu.Unlock()
	ns.decRef()
}

// Root returns the root directory with a reference for the caller.
func (c *FSContext) Root() VirtualDentry {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.root.IncRef()
	return c.root
}

// Cwd returns the working directory with a reference for the caller.
func (c *FSContext) Cwd() VirtualDentry {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cwd.IncRef()
	return c.cwd
}

// SetCwd changes the working directory (chdir); it takes its own reference.
func (c *FSContext) SetCwd(vd VirtualDentry) {
	vd.IncRef()
	c.mu.Lock()
	old := c.cwd
	c.cwd = vd
	c.mu.Unlock()
	old.DecRef()
}

// SetRoot changes the root directory (chroot); it takes its own reference.
func (c *FSContext) SetRoot(vd VirtualDentry) {
	vd.IncRef()
	c.mu.Lock()
	old := c.root
	c.root = vd
	c.mu.Unlock()
	old.DecRef()
}

// Umask returns the umask.
func (c *FSContext) Umask() uint32 { return c.umask.Load() }

// SwapUmask sets the umask (masked to 0777) and returns the old one.
func (c *FSContext) SwapUmask(mask uint32) uint32 { return c.umask.Swap(mask & 0o777) }

// PathOp returns a PathOperation starting at start (pass a zero
// VirtualDentry to start at the cwd) with the context's root. The returned
// operation holds references on root and start that Release drops.
func (c *FSContext) PathOp(start VirtualDentry, path string, follow bool) *PathOperation {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !start.Ok() {
		start = c.cwd
	}
	c.root.IncRef()
	start.IncRef()
	return &PathOperation{Root: c.root, Start: start, Path: path, FollowFinalSymlink: follow, ns: c.ns}
}

// Release drops the references a PathOperation from FSContext.PathOp
// holds.
func (pop *PathOperation) Release() {
	pop.Root.DecRef()
	pop.Start.DecRef()
}
