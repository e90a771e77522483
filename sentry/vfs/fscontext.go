package vfs

import (
	"sync"
	"sync/atomic"
)

// FSContext is a task's filesystem context (Linux's fs_struct): root
// directory, working directory and umask. Tasks created with CLONE_FS
// share one.
type FSContext struct {
	refs atomic.Int64

	// mu guards root and cwd.
	mu   sync.Mutex
	root VirtualDentry
	cwd  VirtualDentry

	umask atomic.Uint32
}

// NewFSContext returns a context with root and cwd (it takes its own
// references) and umask 022.
func NewFSContext(root, cwd VirtualDentry) *FSContext {
	root.IncRef()
	cwd.IncRef()
	c := &FSContext{root: root, cwd: cwd}
	c.refs.Store(1)
	c.umask.Store(0o22)
	return c
}

// Fork returns a copy (clone without CLONE_FS).
func (c *FSContext) Fork() *FSContext {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := NewFSContext(c.root, c.cwd)
	n.umask.Store(c.umask.Load())
	return n
}

// IncRef takes a reference (CLONE_FS).
func (c *FSContext) IncRef() { c.refs.Add(1) }

// DecRef drops a reference; the last one drops root and cwd.
func (c *FSContext) DecRef() {
	if c.refs.Add(-1) > 0 {
		return
	}
	c.mu.Lock()
	c.root.DecRef()
	c.cwd.DecRef()
	c.root, c.cwd = VirtualDentry{}, VirtualDentry{}
	c.mu.Unlock()
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
	return &PathOperation{Root: c.root, Start: start, Path: path, FollowFinalSymlink: follow}
}

// Release drops the references a PathOperation from FSContext.PathOp
// holds.
func (pop *PathOperation) Release() {
	pop.Root.DecRef()
	pop.Start.DecRef()
}
