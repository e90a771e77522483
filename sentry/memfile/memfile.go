// Package memfile is the sentry's memory file: one memfd that holds every page
// of application memory of a sandbox. Platforms map ranges of it into
// application address spaces; the sentry reaches the same pages through its
// own shared mapping of the whole file (Slice), so copying to and from
// application memory never needs a host system call.
//
// The file is created sparse at its maximum size (the sandbox memory limit),
// and mapped once into the sentry with MAP_NORESERVE; host memory is consumed
// only for pages that are touched. Pages are handed out by Allocate and are
// reference counted (copy-on-write sharing after fork holds two references);
// when the last reference goes, the range is punched out of the file (so the
// host memory is returned and the pages read as zero when reused) and goes back
// to the free list. A few MiB of recently freed pages are kept resident
// instead ("warm") and zeroed when handed out again, because punching a hole
// and faulting the pages back in costs far more than clearing them.
//
// Pages allocated with AllocateFor are charged to an Account until they are
// freed (per-container memory limits, see account.go).
//
// Locking: File.mu guards the free list, the reference counts, usage and
// the page owners and account ids (Account figures are atomics). It
// is a leaf lock: nothing is called with it held.
package memfile

import (
	"fmt"
	"sort"
	"sync"

	"golang.org/x/sys/unix"
)

// PageSize is the allocation unit.
const PageSize = 4096

// refChunkPages is how many pages one lazily allocated reference-count chunk covers.
const refChunkPages = 1 << 12

// File is a memory file.
type File struct {
	fd      int
	mapping []byte // the whole file, MAP_SHARED into the sentry
	size    uint64

	mu sync.Mutex
	// free holds free page ranges below top, sorted by start, coalesced.
	free []Range
	// top is the end of the part of the file ever allocated.
	top uint64
	// refs[i] counts references of pages [i*refChunkPages, (i+1)*refChunkPages).
	refs [][]uint32
	// used is the number of bytes currently allocated.
	used uint64
	// warm holds recently freed ranges that were not punched out: reusing
	// them costs a clear() instead of a hole punch now (~40 µs) and a
	// host page fault per page later. warmBytes is their total, at most
	// maxWarm.
	warm      []Range
	warmBytes uint64
	// warmLimit is the most warmBytes may be (maxWarm; tests change it).
	warmLimit uint64
	// owners[i][j] is the account id of page i*refChunkPages+j (0: none),
	// chunks allocated when a charged page first lands in them;
	// accounts[id-1] is the account with that id (nil: free id), freeIDs
	// the ids to reuse (account.go).
	owners   [][]uint16
	accounts []*Account
	freeIDs  []uint16
}

// maxWarm bounds the freed memory kept resident for reuse.
const maxWarm = 8 << 20

// Range is a byte range [Start, End) of the file.
type Range struct{ Start, End uint64 }

// Len is the range's length.
func (r Range) Len() uint64 { return r.End - r.Start }

// New creates a memory file of size bytes (rounded up to pages); size is the
// most application memory the sandbox can use at once.
func New(name string, size uint64) (*File, error) {
	size = (size + PageSize - 1) &^ (PageSize - 1)
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("ftruncate memory file to %d: %w", size, err)
	}
	m, err := unix.Mmap(fd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_NORESERVE)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mmap memory file: %w", err)
	}
	return &File{fd: fd, mapping: m, size: size, warmLimit: maxWarm}, nil
}

// FD returns the memfd. The file owns it.
func (f *File) FD() int { return f.fd }

// Size returns the file's capacity in bytes.
func (f *File) Size() uint64 { return f.size }

// Used returns the bytes currently allocated.
func (f *File) Used() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.used
}

// Slice returns the sentry's view of [off, off+length). The slice aliases
// the pages: it stays valid only while the caller holds a reference to them.
func (f *File) Slice(off, length uint64) []byte {
	return f.mapping[off : off+length : off+length]
}

// Allocate returns length bytes (a multiple of PageSize) of zeroed pages,
// with one reference each. It fails with ENOMEM when the file is full.
func (f *File) Allocate(length uint64) (Range, error) {
	return f.allocate(length, nil)
}

func (f *File) allocate(length uint64, a *Account) (Range, error) {
	if length == 0 || length%PageSize != 0 {
		return Range{}, unix.EINVAL
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if a != nil && a.id != 0 && !a.tryCharge(int64(length)) {
		return Range{}, unix.ENOMEM
	}
	r, ok := f.takeWarmLocked(length)
	if !ok {
		r, ok = f.takeFreeLocked(length)
	}
	if !ok {
		if f.top+length > f.size {
			if a != nil && a.id != 0 {
				a.usage.Add(-int64(length))
			}
			return Range{}, unix.ENOMEM
		}
		r = Range{f.top, f.top + length}
		f.top += length
	}
	f.addRefsLocked(r, 1)
	if a != nil && a.id != 0 {
		f.setOwnerLocked(r, a)
	}
	f.used += length
	return r, nil
}

// takeWarmLocked takes length bytes from the most recently freed warm range
// big enough, and zeroes them.
func (f *File) takeWarmLocked(length uint64) (Range, bool) {
	for i := len(f.warm) - 1; i >= 0; i-- {
		w := f.warm[i]
		if w.Len() < length {
			continue
		}
		r := Range{w.Start, w.Start + length}
		if w.Len() == length {
			f.warm = append(f.warm[:i], f.warm[i+1:]...)
		} else {
			f.warm[i].Start += length
		}
		f.warmBytes -= length
		clear(f.mapping[r.Start:r.End])
		return r, true
	}
	return Range{}, false
}

// takeFreeLocked takes length bytes from the first free range big enough.
func (f *File) takeFreeLocked(length uint64) (Range, bool) {
	for i, fr := range f.free {
		if fr.Len() < length {
			continue
		}
		r := Range{fr.Start, fr.Start + length}
		if fr.Len() == length {
			f.free = append(f.free[:i], f.free[i+1:]...)
		} else {
			f.free[i].Start += length
		}
		return r, true
	}
	return Range{}, false
}

// IncRef takes one more reference on every page of r.
func (f *File) IncRef(r Range) {
	f.mu.Lock()
	f.addRefsLocked(r, 1)
	f.mu.Unlock()
}

// DecRef drops one reference on every page of r; pages that reach zero are
// released.
func (f *File) DecRef(r Range) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var runStart uint64
	inRun := false
	for p := r.Start; p < r.End; p += PageSize {
		c := f.refLocked(p)
		if *c == 0 {
			panic(fmt.Sprintf("memfile: DecRef of free page %#x", p))
		}
		*c--
		if *c == 0 {
			if !inRun {
				runStart, inRun = p, true
			}
			continue
		}
		if inRun {
			f.releaseLocked(Range{runStart, p})
			inRun = false
		}
	}
	if inRun {
		f.releaseLocked(Range{runStart, r.End})
	}
}

// RefCount returns the reference count of the page at off.
func (f *File) RefCount(off uint64) uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return *f.refLocked(off)
}

func (f *File) refLocked(off uint64) *uint32 {
	page := off / PageSize
	chunk := page / refChunkPages
	for uint64(len(f.refs)) <= chunk {
		f.refs = append(f.refs, nil)
	}
	if f.refs[chunk] == nil {
		f.refs[chunk] = make([]uint32, refChunkPages)
	}
	return &f.refs[chunk][page%refChunkPages]
}

func (f *File) addRefsLocked(r Range, n uint32) {
	for p := r.Start; p < r.End; p += PageSize {
		*f.refLocked(p) += n
	}
}

// releaseLocked returns r to the host and to the free list.
func (f *File) releaseLocked(r Range) {
	f.used -= r.Len()
	f.unchargeLocked(r)
	if f.warmBytes+r.Len() <= f.warmLimit {
		f.warm = append(f.warm, r)
		f.warmBytes += r.Len()
		return
	}
	// Punching the hole frees the host memory and makes the pages read as
	// zero when they are handed out again.
	if err := unix.Fallocate(f.fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, int64(r.Start), int64(r.Len())); err != nil {
		// Without hole punching the pages must be zeroed by hand.
		clear(f.mapping[r.Start:r.End])
	}
	i := sort.Search(len(f.free), func(i int) bool { return f.free[i].Start >= r.End })
	// Coalesce with the neighbours.
	if i < len(f.free) && f.free[i].Start == r.End {
		f.free[i].Start = r.Start
		if i > 0 && f.free[i-1].End == r.Start {
			f.free[i-1].End = f.free[i].End
			f.free = append(f.free[:i], f.free[i+1:]...)
		}
		return
	}
	if i > 0 && f.free[i-1].End == r.Start {
		f.free[i-1].End = r.End
		return
	}
	f.free = append(f.free, Range{})
	copy(f.free[i+1:], f.free[i:])
	f.free[i] = r
}

// Close unmaps and closes the file. All users must be gone.
func (f *File) Close() error {
	if f.mapping != nil {
		unix.Munmap(f.mapping)
		f.mapping = nil
	}
	return unix.Close(f.fd)
}
