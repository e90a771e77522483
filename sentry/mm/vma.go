package mm

import (
	"sort"

	"github.com/runsc-cri/runsc-cri/platform"
	"github.com/runsc-cri/runsc-cri/sentry/memmap"
)

// vma is one virtual memory area: [start, end) with uniform attributes.
type vma struct {
	start, end uintptr
	perms      platform.AccessType
	maxPerms   platform.AccessType
	private    bool
	growsDown  bool
	dontFork   bool
	wipeOnFork bool
	locked     bool
	// mappable backs the area at offset off (of start); nil for private
	// anonymous memory. Shared anonymous memory has an shm mappable.
	mappable memmap.Mappable
	off      uint64
	anonShm  bool // mappable is an internal shared-anonymous object
	name     string
	dev, ino uint64
	// special marks a mapping the platform itself keeps in every address
	// space (the vDSO, see addVDSO): it has no memory-file pages, lies
	// outside [minAddr, maxAddr), and no application call changes it.
	special bool
}

// fileOff returns the Mappable offset of addr.
func (v *vma) fileOff(addr uintptr) uint64 { return v.off + uint64(addr-v.start) }

func (v *vma) writableShared() bool { return !v.private && v.maxPerms.Write }

func (v *vma) addMapping(start, end uintptr) {
	if v.mappable != nil && end > start {
		v.mappable.AddMapping(v.fileOff(start), uint64(end-start), v.writableShared())
	}
}

func (v *vma) removeMapping(start, end uintptr) {
	if v.mappable != nil && end > start {
		v.mappable.RemoveMapping(v.fileOff(start), uint64(end-start), v.writableShared())
	}
}

// sameMappable compares two Mappables without panicking on uncomparable
// dynamic types.
func sameMappable(a, b memmap.Mappable) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}

// canMerge reports whether b directly follows a and could be one VMA with it.
func canMerge(a, b *vma) bool {
	if a.end != b.start || a.perms != b.perms || a.maxPerms != b.maxPerms || a.private != b.private ||
		a.growsDown != b.growsDown || a.dontFork != b.dontFork || a.wipeOnFork != b.wipeOnFork ||
		a.locked != b.locked || a.name != b.name || a.dev != b.dev || a.ino != b.ino || a.anonShm != b.anonShm ||
		a.special || b.special {
		return false
	}
	if (a.mappable == nil) != (b.mappable == nil) {
		return false
	}
	if a.mappable != nil {
		return sameMappable(a.mappable, b.mappable) && a.fileOff(a.end) == b.off
	}
	return true
}

// findIndex returns the index of the first VMA with end > addr (len if none).
func (m *MemoryManager) findIndex(addr uintptr) int {
	return sort.Search(len(m.vmas), func(i int) bool { return m.vmas[i].end > addr })
}

// find returns the VMA containing addr, or nil.
func (m *MemoryManager) find(addr uintptr) *vma {
	i := m.findIndex(addr)
	if i < len(m.vmas) && m.vmas[i].start <= addr {
		return m.vmas[i]
	}
	return nil
}

// overlaps reports whether any VMA intersects [start, end).
func (m *MemoryManager) overlaps(start, end uintptr) bool {
	i := m.findIndex(start)
	return i < len(m.vmas) && m.vmas[i].start < end
}

// touchesSpecial reports whether a special VMA intersects [start, end).
func (m *MemoryManager) touchesSpecial(start, end uintptr) bool {
	for i := m.findIndex(start); i < len(m.vmas) && m.vmas[i].start < end; i++ {
		if m.vmas[i].special {
			return true
		}
	}
	return false
}

// covered reports whether [start, end) is entirely mapped.
func (m *MemoryManager) covered(start, end uintptr) bool {
	a := start
	for i := m.findIndex(start); i < len(m.vmas) && a < end; i++ {
		v := m.vmas[i]
		if v.start > a {
			return false
		}
		a = v.end
	}
	return a >= end
}

// splitAt makes addr a VMA boundary if it falls inside one.
func (m *MemoryManager) splitAt(addr uintptr) {
	i := m.findIndex(addr)
	if i >= len(m.vmas) {
		return
	}
	v := m.vmas[i]
	if v.start >= addr {
		return
	}
	w := *v
	v.end = addr
	w.start = addr
	if w.mappable != nil {
		w.off = v.fileOff(addr)
	}
	m.vmas = append(m.vmas, nil)
	copy(m.vmas[i+2:], m.vmas[i+1:])
	m.vmas[i+1] = &w
}

// isolate splits at start and end and returns the index range [i, j) of the
// VMAs inside [start, end).
func (m *MemoryManager) isolate(start, end uintptr) (int, int) {
	m.splitAt(start)
	m.splitAt(end)
	i := m.findIndex(start)
	j := i
	for j < len(m.vmas) && m.vmas[j].start < end {
		j++
	}
	return i, j
}

// insert adds v, which must not overlap anything, and merges it with its
// neighbours.
func (m *MemoryManager) insert(v *vma) {
	i := m.findIndex(v.start)
	m.vmas = append(m.vmas, nil)
	copy(m.vmas[i+1:], m.vmas[i:])
	m.vmas[i] = v
	m.mergeRange(i-1, i+1)
}

// mergeRange merges adjacent compatible VMAs with indexes in [i, j].
func (m *MemoryManager) mergeRange(i, j int) {
	if i < 0 {
		i = 0
	}
	if j >= len(m.vmas) {
		j = len(m.vmas) - 1
	}
	for k := j; k > i; k-- {
		a, b := m.vmas[k-1], m.vmas[k]
		if canMerge(a, b) {
			a.end = b.end
			m.vmas = append(m.vmas[:k], m.vmas[k+1:]...)
		}
	}
}

// removeVMAs removes the VMAs in [start, end) (splitting at the edges),
// releases their pages and tells their Mappables. mappingMu must be held for
// writing; it takes activeMu.
func (m *MemoryManager) removeVMAs(start, end uintptr) {
	i, j := m.isolate(start, end)
	if i == j {
		return
	}
	removed := append([]*vma(nil), m.vmas[i:j]...)
	m.vmas = append(m.vmas[:i], m.vmas[j:]...)
	m.activeMu.Lock()
	m.releasePagesLocked(start, end)
	m.activeMu.Unlock()
	for _, v := range removed {
		v.removeMapping(v.start, v.end)
	}
}

// releasePagesLocked unmaps [start, end) from the AddressSpace and drops
// every page of it. activeMu must be held.
func (m *MemoryManager) releasePagesLocked(start, end uintptr) {
	var acc runAcc
	var mapLo, mapHi uintptr
	m.pt.walk(start, end, func(addr uintptr, e pte) pte {
		if e&pteMapMask != 0 {
			if mapHi == 0 {
				mapLo = addr
			}
			mapHi = addr + pageSize
		}
		acc.add(m, addr, e.off())
		return 0
	})
	if mapHi != 0 {
		m.as.Unmap(mapLo, mapHi-mapLo)
	}
	acc.flushDecRef(m)
}

// unmapHostLocked unmaps [start, end) from the AddressSpace (keeping the
// pages) and clears the mapped bits. activeMu must be held.
func (m *MemoryManager) unmapHostLocked(start, end uintptr) {
	var mapLo, mapHi uintptr
	m.pt.walk(start, end, func(addr uintptr, e pte) pte {
		if e&pteMapMask != 0 {
			if mapHi == 0 {
				mapLo = addr
			}
			mapHi = addr + pageSize
		}
		return e &^ pteMapMask
	})
	if mapHi != 0 {
		m.as.Unmap(mapLo, mapHi-mapLo)
	}
}
