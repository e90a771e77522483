package mm

import (
	"github.com/runsc-cri/runsc-cri/platform"
	"github.com/runsc-cri/runsc-cri/sentry/memfile"
)

// pte is a page-table entry: the memory-file offset of the page in the high
// bits and flags in the low 12.
type pte uint64

const (
	ptePresent pte = 1 << 0
	// pteCOW: the page must not be written as is. Private mappings copy it
	// (or take it when they hold the only reference to an owned page);
	// shared ones re-translate it forWrite.
	pteCOW pte = 1 << 1
	// pteOwned: the page was allocated by this memory manager (anonymous
	// memory or a private copy), not translated from a Mappable.
	pteOwned pte = 1 << 2
	// pteMapR/W/X: the permissions the page is mapped with in the
	// AddressSpace (none: not mapped there).
	pteMapR pte = 1 << 3
	pteMapW pte = 1 << 4
	pteMapX pte = 1 << 5

	pteMapMask  = pteMapR | pteMapW | pteMapX
	pteFlagMask = pageMask
)

func (e pte) present() bool { return e&ptePresent != 0 }
func (e pte) off() uint64   { return uint64(e) &^ pteFlagMask }

func (e pte) mapped() platform.AccessType {
	return platform.AccessType{Read: e&pteMapR != 0, Write: e&pteMapW != 0, Execute: e&pteMapX != 0}
}

func (e pte) withMapped(at platform.AccessType) pte {
	e &^= pteMapMask
	if at.Read {
		e |= pteMapR
	}
	if at.Write {
		e |= pteMapW
	}
	if at.Execute {
		e |= pteMapX
	}
	return e
}

func newPTE(off uint64, flags pte) pte { return pte(off) | ptePresent | flags }

const (
	ptBits   = 9
	ptFanout = 1 << ptBits
	ptMask   = ptFanout - 1
)

type ptLeaf struct {
	n int // present entries
	e [ptFanout]pte
}
type ptMid [ptFanout]*ptLeaf  // 1 GiB
type ptUpper [ptFanout]*ptMid // 512 GiB
type pageTable struct {
	top     [ptFanout]*ptUpper // 256 TiB
	present uint64
}

func ptIndex(addr uintptr) (t, u, mi, l uintptr) {
	p := addr >> pageShift
	return p >> (3 * ptBits), (p >> (2 * ptBits)) & ptMask, (p >> ptBits) & ptMask, p & ptMask
}

// get returns the entry for the page at addr (0 if none).
func (pt *pageTable) get(addr uintptr) pte {
	t, u, mi, l := ptIndex(addr)
	if t >= ptFanout {
		return 0
	}
	up := pt.top[t]
	if up == nil {
		return 0
	}
	md := up[u]
	if md == nil {
		return 0
	}
	lf := md[mi]
	if lf == nil {
		return 0
	}
	return lf.e[l]
}

// set stores the entry for the page at addr.
func (pt *pageTable) set(addr uintptr, e pte) {
	t, u, mi, l := ptIndex(addr)
	if t >= ptFanout {
		return
	}
	up := pt.top[t]
	if up == nil {
		if !e.present() {
			return
		}
		up = new(ptUpper)
		pt.top[t] = up
	}
	md := up[u]
	if md == nil {
		if !e.present() {
			return
		}
		md = new(ptMid)
		up[u] = md
	}
	lf := md[mi]
	if lf == nil {
		if !e.present() {
			return
		}
		lf = new(ptLeaf)
		md[mi] = lf
	}
	pt.store(lf, l, e)
	if lf.n == 0 {
		md[mi] = nil
	}
}

func (pt *pageTable) store(lf *ptLeaf, l uintptr, e pte) {
	old := lf.e[l]
	if !e.present() {
		e = 0
	}
	if old.present() && !e.present() {
		lf.n--
		pt.present--
	} else if !old.present() && e.present() {
		lf.n++
		pt.present++
	}
	lf.e[l] = e
}

const (
	leafSpan  = uintptr(ptFanout) << pageShift
	midSpan   = leafSpan << ptBits
	upperSpan = midSpan << ptBits
)

// walk calls fn for every present entry in [start, end) in address order and
// stores what fn returns (0 removes the entry). fn must not touch pt.
func (pt *pageTable) walk(start, end uintptr, fn func(addr uintptr, e pte) pte) {
	addr := pageRoundDown(start)
	for addr < end {
		t, u, mi, l := ptIndex(addr)
		if t >= ptFanout {
			return
		}
		up := pt.top[t]
		if up == nil {
			addr = nextBoundary(addr, upperSpan)
			continue
		}
		md := up[u]
		if md == nil {
			addr = nextBoundary(addr, midSpan)
			continue
		}
		lf := md[mi]
		if lf == nil {
			addr = nextBoundary(addr, leafSpan)
			continue
		}
		for ; l < ptFanout && addr < end; l, addr = l+1, addr+pageSize {
			e := lf.e[l]
			if !e.present() {
				continue
			}
			pt.store(lf, l, fn(addr, e))
		}
		if lf.n == 0 {
			md[mi] = nil
		}
		if addr == 0 { // wrapped
			return
		}
	}
}

func nextBoundary(addr, span uintptr) uintptr {
	n := (addr + span) &^ (span - 1)
	if n <= addr {
		return ^uintptr(0)
	}
	return n
}

// anyPresent reports whether [start, end) has a present entry.
func (pt *pageTable) anyPresent(start, end uintptr) bool {
	found := false
	pt.walk(start, end, func(addr uintptr, e pte) pte {
		found = true
		return e
	})
	return found
}

// runAcc accumulates pages with contiguous addresses and memory-file offsets
// into runs, to batch IncRef/DecRef and MapFile.
type runAcc struct {
	addr uintptr
	off  uint64
	n    uintptr
	at   platform.AccessType
	runs []run
}

type run struct {
	addr uintptr
	fr   memfile.Range
	at   platform.AccessType
}

// add appends one page (with access at, used only for mapping runs).
func (a *runAcc) addAt(addr uintptr, off uint64, at platform.AccessType) {
	if a.n > 0 && a.addr+a.n == addr && a.off+uint64(a.n) == off && a.at == at {
		a.n += pageSize
		return
	}
	a.cut()
	a.addr, a.off, a.n, a.at = addr, off, pageSize, at
}

func (a *runAcc) add(m *MemoryManager, addr uintptr, off uint64) {
	a.addAt(addr, off, platform.NoAccess)
}

func (a *runAcc) cut() {
	if a.n > 0 {
		a.runs = append(a.runs, run{a.addr, memfile.Range{Start: a.off, End: a.off + uint64(a.n)}, a.at})
		a.n = 0
	}
}

// flushDecRef drops one reference on every accumulated page.
func (a *runAcc) flushDecRef(m *MemoryManager) {
	a.cut()
	for _, r := range a.runs {
		m.mf.DecRef(r.fr)
	}
	a.runs = a.runs[:0]
}

// flushIncRef takes one reference on every accumulated page.
func (a *runAcc) flushIncRef(m *MemoryManager) {
	a.cut()
	for _, r := range a.runs {
		m.mf.IncRef(r.fr)
	}
	a.runs = a.runs[:0]
}

func rangeOf(e pte) memfile.Range { return memfile.Range{Start: e.off(), End: e.off() + pageSize} }
