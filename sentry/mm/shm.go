package mm

import (
	"sync"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/memfile"
	"github.com/runsc-cri/runsc-cri/sentry/memmap"
)

// shm is the Mappable behind a MAP_SHARED|MAP_ANONYMOUS mapping: zero-filled
// pages of the memory file, shared by every mapping of it (fork, mremap), and
// released when the last mapping goes.
type shm struct {
	mf *memfile.File
	// acct is charged for the pages (the account of the address space
	// that created the mapping; nil: none). Immutable after creation.
	acct *memfile.Account

	mu     sync.Mutex
	size   uint64
	chunks map[uint64]*[ptFanout]uint64 // page index / 512 -> offset+1 per page
	mapped uint64                       // bytes mapped, over all mappings
}

// NewAnonMappable returns a Mappable of size zero-filled bytes that lives as
// long as it is mapped (for MAP_SHARED|MAP_ANONYMOUS and similar objects).
func NewAnonMappable(mf *memfile.File, size uint64) memmap.Mappable { return newShm(mf, size) }

func newShm(mf *memfile.File, size uint64) *shm {
	return &shm{mf: mf, size: size, chunks: make(map[uint64]*[ptFanout]uint64)}
}

func (s *shm) slot(page uint64) *uint64 {
	c := s.chunks[page/ptFanout]
	if c == nil {
		c = new([ptFanout]uint64)
		s.chunks[page/ptFanout] = c
	}
	return &c[page%ptFanout]
}

// Translate implements memmap.Mappable.
func (s *shm) Translate(off, length uint64, forWrite bool) ([]memfile.Range, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if off >= s.size {
		return nil, unix.EFAULT
	}
	end := min(off+length, s.size)
	var out []memfile.Range
	for p := off; p < end; {
		sl := s.slot(p / pageSize)
		if *sl == 0 {
			// Allocate the whole missing run at once.
			q := p + pageSize
			for q < end && *s.slot(q / pageSize) == 0 {
				q += pageSize
			}
			fr, err := s.mf.AllocateFor(q-p, s.acct)
			if err != nil {
				for _, r := range out {
					s.mf.DecRef(r)
				}
				return nil, err
			}
			for a, o := p, fr.Start; a < q; a, o = a+pageSize, o+pageSize {
				*s.slot(a / pageSize) = o + 1
			}
		}
		o := *sl - 1
		if n := len(out); n > 0 && out[n-1].End == o {
			out[n-1].End += pageSize
		} else {
			out = append(out, memfile.Range{Start: o, End: o + pageSize})
		}
		p += pageSize
	}
	for _, r := range out {
		s.mf.IncRef(r)
	}
	return out, nil
}

// AddMapping implements memmap.Mappable.
func (s *shm) AddMapping(off, length uint64, writableShared bool) {
	s.mu.Lock()
	s.mapped += length
	s.mu.Unlock()
}

// RemoveMapping implements memmap.Mappable; the last one frees the pages.
func (s *shm) RemoveMapping(off, length uint64, writableShared bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mapped -= length
	if s.mapped != 0 {
		return
	}
	for _, c := range s.chunks {
		for _, o := range c {
			if o != 0 {
				s.mf.DecRef(memfile.Range{Start: o - 1, End: o - 1 + pageSize})
			}
		}
	}
	clear(s.chunks)
}

// Sync implements memmap.Mappable.
func (s *shm) Sync(off, length uint64) error { return nil }
