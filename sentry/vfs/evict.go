package vfs

import (
	"sync"
	"sync/atomic"
)

// Evictor is an optional Inode extension: dentries of inodes that implement
// it may be dropped from the dentry cache when unused, and looked up again
// from the filesystem when needed. Filesystems whose dentry tree is their
// only copy of the tree (tmpfs) or that keep state reachable only by path
// must not implement it.
//
// Evict is called, with VirtualFilesystem.renameMu held for writing (so it
// must not call vfs path operations), when vfs is about to drop an unused
// dentry of the inode. Returning false keeps the dentry cached (the inode
// holds something that must stay reachable by path, such as a bound unix
// socket). Returning true lets vfs drop it; the inode may then release
// resources it can get back later (the gofer filesystem closes its handle).
// Evict concerns one dentry: a hard-linked inode may still be reachable
// through other dentries and open files, and Go's garbage collector, not
// Evict, decides when an inode is gone.
type Evictor interface {
	Evict() bool
}

// DefaultMaxCachedDentries is the default bound of the dentry LRU.
const DefaultMaxCachedDentries = 16384

// dentryCache is the LRU of evictable dentries: every cached (in its
// parent's children map), non-root dentry whose inode is an Evictor, in the
// order they were cached. Lookups that hit the cache set Dentry.referenced
// instead of moving the dentry (no lock on the fast path); the eviction scan
// gives referenced dentries a second chance (a CLOCK approximation of LRU).
//
// When the list grows past max, the operation that grew it sets needShrink;
// the vfs operation finishing next (endRead, endWrite) takes renameMu for
// writing (at once if it is free, else in a goroutine of its own) and
// evicts down to 7/8 of max. With renameMu held for writing no
// path walk is in progress, so every *Dentry held outside vfs is counted in
// Dentry.refs (open files, cwd and root, mount roots, GetDentryAt results)
// and the scan can tell which dentries are unused. Pinned dentries (refs,
// mount points, directories with cached children) are rotated to the tail;
// if too many are pinned to get below max, the next scan waits until the
// list has grown by another max/8, so pinned dentries never make every
// operation scan.
type dentryCache struct {
	// mu guards the fields below and every Dentry's lruPrev, lruNext and
	// onLRU. It is a leaf lock.
	mu         sync.Mutex
	head, tail *Dentry
	len        int
	max        int
	shrinkAt   int // len above which a scan is due

	needShrink atomic.Bool
	shrinking  atomic.Bool // a goroutine is waiting for or running a scan
	evictions  atomic.Uint64
}

func (c *dentryCache) init() {
	c.max = DefaultMaxCachedDentries
	c.shrinkAt = c.max
}

// unlinkLocked takes d off the list (c.mu held).
func (c *dentryCache) unlinkLocked(d *Dentry) {
	if d.lruPrev != nil {
		d.lruPrev.lruNext = d.lruNext
	} else {
		c.head = d.lruNext
	}
	if d.lruNext != nil {
		d.lruNext.lruPrev = d.lruPrev
	} else {
		c.tail = d.lruPrev
	}
	d.lruPrev, d.lruNext, d.onLRU = nil, nil, false
	c.len--
	if c.len <= c.max {
		c.shrinkAt = c.max
	}
}

// pushLocked appends d at the tail (c.mu held).
func (c *dentryCache) pushLocked(d *Dentry) {
	d.lruPrev, d.lruNext, d.onLRU = c.tail, nil, true
	if c.tail != nil {
		c.tail.lruNext = d
	} else {
		c.head = d
	}
	c.tail = d
	c.len++
	if c.len > c.shrinkAt {
		c.needShrink.Store(true)
	}
}

// lruAdd puts a newly cached dentry on the LRU.
func (v *VirtualFilesystem) lruAdd(d *Dentry) {
	c := &v.dcache
	c.mu.Lock()
	if !d.onLRU {
		c.pushLocked(d)
	}
	c.mu.Unlock()
}

// lruRemove takes a dentry that leaves the cache (unlinked, renamed over,
// stale) off the LRU.
func (v *VirtualFilesystem) lruRemove(d *Dentry) {
	c := &v.dcache
	c.mu.Lock()
	if d.onLRU {
		c.unlinkLocked(d)
	}
	c.mu.Unlock()
}

// SetMaxCachedDentries bounds the number of evictable dentries kept cached
// (n <= 0 restores DefaultMaxCachedDentries). Dentries in use do not count
// against the bound's enforcement: they are never evicted.
func (v *VirtualFilesystem) SetMaxCachedDentries(n int) {
	if n <= 0 {
		n = DefaultMaxCachedDentries
	}
	c := &v.dcache
	c.mu.Lock()
	c.max, c.shrinkAt = n, n
	if c.len > n {
		c.needShrink.Store(true)
	}
	c.mu.Unlock()
}

// DentryCacheStats describes the dentry LRU.
type DentryCacheStats struct {
	// Cached is the number of evictable dentries cached (in use or not).
	Cached int
	// Max is the bound set by SetMaxCachedDentries.
	Max int
	// Evictions counts dentries evicted so far.
	Evictions uint64
}

// DentryCacheStats returns the state of the dentry LRU.
func (v *VirtualFilesystem) DentryCacheStats() DentryCacheStats {
	c := &v.dcache
	c.mu.Lock()
	defer c.mu.Unlock()
	return DentryCacheStats{Cached: c.len, Max: c.max, Evictions: c.evictions.Load()}
}

// DropCachedDentries evicts every unused evictable dentry (as Linux's
// "echo 2 > /proc/sys/vm/drop_caches") and returns how many went.
func (v *VirtualFilesystem) DropCachedDentries() int {
	v.renameMu.Lock()
	defer v.renameMu.Unlock()
	total := 0
	for {
		// Each pass can free directories whose last children the
		// previous pass evicted.
		n := v.evictLocked(0, true)
		total += n
		if n == 0 {
			return total
		}
	}
}

// endRead ends a path operation that held renameMu for reading, and runs a
// due eviction scan.
func (v *VirtualFilesystem) endRead() {
	v.renameMu.RUnlock()
	if v.dcache.needShrink.Load() {
		v.shrink()
	}
}

// endWrite ends an operation that held renameMu for writing, evicting
// first if a scan is due.
func (v *VirtualFilesystem) endWrite() {
	if v.dcache.needShrink.Load() {
		v.shrinkLocked()
	}
	v.renameMu.Unlock()
}

// shrink runs an eviction scan unless another goroutine is already at it.
// The caller of a vfs operation may hold locks that a filesystem callback
// running under renameMu (proc's, say) wants, so it must not wait for
// renameMu here: if the lock is not free at once, a goroutine of its own,
// holding nothing else, waits for it.
func (v *VirtualFilesystem) shrink() {
	c := &v.dcache
	if !c.shrinking.CompareAndSwap(false, true) {
		return
	}
	if v.renameMu.TryLock() {
		v.shrinkLocked()
		v.renameMu.Unlock()
		c.shrinking.Store(false)
		return
	}
	go func() {
		v.renameMu.Lock()
		v.shrinkLocked()
		v.renameMu.Unlock()
		c.shrinking.Store(false)
	}()
}

// shrinkLocked evicts down to 7/8 of the bound (renameMu held for writing).
func (v *VirtualFilesystem) shrinkLocked() {
	c := &v.dcache
	c.needShrink.Store(false)
	c.mu.Lock()
	target := c.max - c.max/8
	c.mu.Unlock()
	v.evictLocked(target, false)
	c.mu.Lock()
	if c.len > c.max {
		// Mostly pinned: scan again only after more growth.
		c.shrinkAt = c.len + max(c.max/8, 1)
	} else {
		c.shrinkAt = c.max
	}
	c.mu.Unlock()
}

// evictLocked scans the LRU once from its head, evicting unused dentries
// until at most target remain, and returns how many it evicted. all
// ignores the referenced bits. renameMu is held for writing, so the list
// changes only here.
func (v *VirtualFilesystem) evictLocked(target int, all bool) int {
	c := &v.dcache
	c.mu.Lock()
	budget := c.len
	c.mu.Unlock()
	evicted := 0
	for ; budget > 0; budget-- {
		c.mu.Lock()
		d := c.head
		if d == nil || c.len <= target {
			c.mu.Unlock()
			break
		}
		c.unlinkLocked(d)
		c.mu.Unlock()
		if !all && d.referenced.Load() {
			d.referenced.Store(false)
			v.lruAdd(d)
			continue
		}
		if !v.tryEvict(d) {
			v.lruAdd(d)
			continue
		}
		evicted++
	}
	c.evictions.Add(uint64(evicted))
	return evicted
}

// tryEvict drops d from its parent's children if nothing uses it and its
// inode agrees. d is off the LRU; renameMu is held for writing.
func (v *VirtualFilesystem) tryEvict(d *Dentry) bool {
	parent := d.parent.Load()
	if parent == nil || d.dead.Load() || d.refs.Load() > 0 || d.isMountPoint() {
		return false
	}
	d.dirMu.Lock()
	busy := len(d.children) > 0
	d.dirMu.Unlock()
	if busy {
		return false
	}
	ev, ok := d.inode.(Evictor)
	if !ok || !ev.Evict() {
		return false
	}
	name := d.Name()
	parent.dirMu.Lock()
	if parent.children[name] == d {
		delete(parent.children, name)
	}
	parent.dirMu.Unlock()
	return true
}
