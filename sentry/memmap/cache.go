package memmap

import (
	"errors"
	"io"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/memfile"
)

// Backing is the storage a Cache caches: typically a host file descriptor.
type Backing interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
	Size() (uint64, error)
}

// Cache is a page cache over a Backing: a Mappable whose pages are memory-file
// pages filled from the backing on first use. Pages translated forWrite are
// dirty and are written back by Sync and when writable shared mappings go.
// ReadAt and WriteAt go through the cached pages, so read(2)/write(2) stay
// coherent with shared mappings; WriteAt writes through to the backing.
//
// The cache never evicts on its own: pages stay until Truncate or Drop (the
// owner drops the cache when the file is no longer mapped). It assumes that
// nobody else shrinks the backing behind its back; growth by others is
// noticed.
//
// Locking: Cache.mu guards everything and is held during backing I/O. It
// nests inside the memory manager's locks and outside memfile's.
type Cache struct {
	mf      *memfile.File
	backing Backing

	mu sync.Mutex
	// size is the file size as the cache knows it.
	size      uint64
	sizeKnown bool
	// chunks maps page index / cacheChunkPages to the entries of those
	// pages: memory-file offset | cachePresent | cacheDirty.
	chunks map[uint64]*cacheChunk
	npages int
	// writable counts writable shared mappings.
	writable int
}

const (
	cacheChunkPages = 512
	cachePresent    = 1
	cacheDirty      = 2
	pageSize        = memfile.PageSize
	pageMask        = pageSize - 1
)

type cacheChunk [cacheChunkPages]uint64

// NewCache returns an empty cache over backing.
func NewCache(mf *memfile.File, backing Backing) *Cache {
	return &Cache{mf: mf, backing: backing, chunks: make(map[uint64]*cacheChunk)}
}

func (c *Cache) slot(off uint64, create bool) *uint64 {
	page := off / pageSize
	ch := c.chunks[page/cacheChunkPages]
	if ch == nil {
		if !create {
			return nil
		}
		ch = new(cacheChunk)
		c.chunks[page/cacheChunkPages] = ch
	}
	return &ch[page%cacheChunkPages]
}

func (c *Cache) entry(off uint64) uint64 {
	if s := c.slot(off, false); s != nil {
		return *s
	}
	return 0
}

// refreshSizeLocked learns the backing's size if the cache does not know it
// yet or if it may have grown beyond what the cache knows.
func (c *Cache) refreshSizeLocked() {
	s, err := c.backing.Size()
	if err != nil {
		return
	}
	if !c.sizeKnown || s > c.size {
		c.size, c.sizeKnown = s, true
	}
}

// Size returns the file size as the cache knows it.
func (c *Cache) Size() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshSizeLocked()
	return c.size
}

// HasPages reports whether any page is cached (then reads and writes of the
// file must go through ReadAt/WriteAt to stay coherent).
func (c *Cache) HasPages() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.npages > 0
}

// Translate implements Mappable.
func (c *Cache) Translate(off, length uint64, forWrite bool) ([]memfile.Range, error) {
	if off&pageMask != 0 || length == 0 {
		return nil, unix.EINVAL
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.sizeKnown || off+length > c.size {
		c.refreshSizeLocked()
	}
	eof := (c.size + pageMask) &^ pageMask
	if off >= eof {
		return nil, unix.EFAULT
	}
	end := min(off+length, eof)
	if end < off { // overflow
		end = eof
	}
	var out []memfile.Range
	var err error
	p := off
	for p < end {
		e := c.entry(p)
		if e&cachePresent == 0 {
			q := p + pageSize
			for q < end && c.entry(q)&cachePresent == 0 {
				q += pageSize
			}
			if err = c.fillLocked(p, q); err != nil {
				break
			}
			e = c.entry(p)
		}
		if forWrite {
			*c.slot(p, true) |= cacheDirty
		}
		o := e &^ pageMask
		if n := len(out); n > 0 && out[n-1].End == o {
			out[n-1].End += pageSize
		} else {
			out = append(out, memfile.Range{Start: o, End: o + pageSize})
		}
		p += pageSize
	}
	for _, r := range out {
		c.mf.IncRef(r)
	}
	if len(out) == 0 && err == nil {
		err = unix.EFAULT
	}
	return out, err
}

// fillLocked reads the missing pages [p, q) from the backing.
func (c *Cache) fillLocked(p, q uint64) error {
	fr, err := c.mf.Allocate(q - p)
	if err != nil {
		return err
	}
	want := min(q, c.size) - p
	if want > 0 {
		n, err := c.backing.ReadAt(c.mf.Slice(fr.Start, want), int64(p))
		if err != nil && !errors.Is(err, io.EOF) && uint64(n) < want {
			c.mf.DecRef(fr)
			return unix.EIO
		}
		// A short read means the file shrank: the rest stays zero.
	}
	for a, o := p, fr.Start; a < q; a, o = a+pageSize, o+pageSize {
		*c.slot(a, true) = o | cachePresent
		c.npages++
	}
	return nil
}

// AddMapping implements Mappable.
func (c *Cache) AddMapping(off, length uint64, writableShared bool) {
	if writableShared {
		c.mu.Lock()
		c.writable++
		c.mu.Unlock()
	}
}

// RemoveMapping implements Mappable: dirty pages of the range are written
// back when a writable shared mapping goes.
func (c *Cache) RemoveMapping(off, length uint64, writableShared bool) {
	if !writableShared {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writable--
	c.writebackLocked(off, off+length)
	if c.writable == 0 {
		c.writebackLocked(0, ^uint64(0))
	}
}

// Sync implements Mappable.
func (c *Cache) Sync(off, length uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	end := off + length
	if end < off {
		end = ^uint64(0)
	}
	return c.writebackLocked(off, end)
}

// forEachLocked calls fn for every cached page in [start, end) in order.
func (c *Cache) forEachLocked(start, end uint64, fn func(off uint64, e *uint64)) {
	if end-start > uint64(c.npages)*pageSize*4 {
		// Sparse: go by chunks.
		keys := make([]uint64, 0, len(c.chunks))
		for k := range c.chunks {
			keys = append(keys, k)
		}
		sortU64(keys)
		for _, k := range keys {
			ch := c.chunks[k]
			for i := range ch {
				off := (k*cacheChunkPages + uint64(i)) * pageSize
				if off >= start && off < end && ch[i]&cachePresent != 0 {
					fn(off, &ch[i])
				}
			}
		}
		return
	}
	for p := start &^ pageMask; p < end && p >= start&^pageMask; p += pageSize {
		if s := c.slot(p, false); s != nil && *s&cachePresent != 0 {
			fn(p, s)
		}
	}
}

func sortU64(a []uint64) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// writebackLocked writes the dirty pages of [start, end) to the backing.
// They stay dirty while writable shared mappings exist (the application may
// write them again without the cache knowing).
func (c *Cache) writebackLocked(start, end uint64) error {
	var firstErr error
	c.forEachLocked(start, end, func(off uint64, e *uint64) {
		if *e&cacheDirty == 0 {
			return
		}
		if off < c.size {
			n := min(pageSize, c.size-off)
			if _, err := c.backing.WriteAt(c.mf.Slice(*e&^pageMask, n), int64(off)); err != nil {
				if firstErr == nil {
					firstErr = unix.EIO
				}
				return
			}
		}
		if c.writable == 0 {
			*e &^= cacheDirty
		}
	})
	return firstErr
}

// ReadAt reads the file through the cache: cached pages from memory, the
// rest straight from the backing.
func (c *Cache) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshSizeLocked()
	uoff := uint64(off)
	if uoff >= c.size {
		return 0, io.EOF
	}
	n := min(uint64(len(p)), c.size-uoff)
	done := uint64(0)
	for done < n {
		pos := uoff + done
		page := pos &^ pageMask
		chunk := min(n-done, page+pageSize-pos)
		if e := c.entry(page); e&cachePresent != 0 {
			copy(p[done:done+chunk], c.mf.Slice(e&^pageMask+(pos-page), chunk))
			done += chunk
			continue
		}
		// Read the uncached stretch directly.
		q := page + pageSize
		for q < uoff+n && c.entry(q)&cachePresent == 0 {
			q += pageSize
		}
		chunk = min(n-done, q-pos)
		m, err := c.backing.ReadAt(p[done:done+chunk], int64(pos))
		done += uint64(m)
		if uint64(m) < chunk {
			if err == nil || errors.Is(err, io.EOF) {
				return int(done), io.EOF
			}
			return int(done), err
		}
	}
	if done < uint64(len(p)) {
		return int(done), io.EOF
	}
	return int(done), nil
}

// WriteAt writes through the cache: to the backing, and to any cached page.
func (c *Cache) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.sizeKnown {
		c.refreshSizeLocked()
	}
	n, err := c.backing.WriteAt(p, off)
	uoff := uint64(off)
	for done := uint64(0); done < uint64(n); {
		pos := uoff + done
		page := pos &^ pageMask
		chunk := min(uint64(n)-done, page+pageSize-pos)
		if e := c.entry(page); e&cachePresent != 0 {
			copy(c.mf.Slice(e&^pageMask+(pos-page), chunk), p[done:done+chunk])
		}
		done += chunk
	}
	if end := uoff + uint64(n); end > c.size {
		c.size = end
	}
	return n, err
}

// Truncate tells the cache that the file is now size bytes long (the caller
// truncates the backing itself). Cached pages wholly beyond the end are
// dropped (mappings holding them keep their references); the tail of the
// last page is zeroed.
func (c *Cache) Truncate(size uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if size < c.size || !c.sizeKnown {
		eof := (size + pageMask) &^ pageMask
		var drop []memfile.Range
		c.forEachLocked(eof, ^uint64(0), func(off uint64, e *uint64) {
			drop = append(drop, memfile.Range{Start: *e &^ pageMask, End: *e&^pageMask + pageSize})
			*e = 0
			c.npages--
		})
		for _, r := range drop {
			c.mf.DecRef(r)
		}
		if size&pageMask != 0 {
			if e := c.entry(size &^ pageMask); e&cachePresent != 0 {
				clear(c.mf.Slice(e&^pageMask+size&pageMask, pageSize-size&pageMask))
			}
		}
	}
	c.size, c.sizeKnown = size, true
}

// Drop writes dirty pages back and releases every cached page.
func (c *Cache) Drop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.writebackLocked(0, ^uint64(0))
	for k, ch := range c.chunks {
		for i := range ch {
			if ch[i]&cachePresent != 0 {
				o := ch[i] &^ pageMask
				c.mf.DecRef(memfile.Range{Start: o, End: o + pageSize})
			}
		}
		delete(c.chunks, k)
	}
	c.npages = 0
	return err
}

var _ Mappable = (*Cache)(nil)
