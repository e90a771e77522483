package mm

import (
	"golang.org/x/sys/unix"
)

// MAdvise implements madvise(2).
func (m *MemoryManager) MAdvise(addr, length uintptr, advice int) error {
	if addr&pageMask != 0 {
		return unix.EINVAL
	}
	end := pageRoundUp(addr + length)
	if end < addr {
		return unix.EINVAL
	}
	switch advice {
	case unix.MADV_DONTNEED, unix.MADV_FREE, unix.MADV_REMOVE, unix.MADV_DONTFORK,
		unix.MADV_DOFORK, unix.MADV_WIPEONFORK, unix.MADV_KEEPONFORK,
		unix.MADV_POPULATE_READ, unix.MADV_POPULATE_WRITE:
		// The vDSO's pages are the platform's, the same in every
		// address space.
		if m.specialRange(addr, end) {
			return unix.EINVAL
		}
	}
	switch advice {
	case unix.MADV_NORMAL, unix.MADV_RANDOM, unix.MADV_SEQUENTIAL, unix.MADV_MERGEABLE,
		unix.MADV_UNMERGEABLE, unix.MADV_HUGEPAGE, unix.MADV_NOHUGEPAGE, unix.MADV_DONTDUMP,
		unix.MADV_DODUMP, unix.MADV_COLD, unix.MADV_PAGEOUT, unix.MADV_WILLNEED,
		unix.MADV_COLLAPSE:
		return m.checkCovered(addr, end)
	case unix.MADV_DONTNEED, unix.MADV_FREE, unix.MADV_REMOVE:
		return m.dontNeed(addr, end)
	case unix.MADV_DONTFORK, unix.MADV_DOFORK, unix.MADV_WIPEONFORK, unix.MADV_KEEPONFORK:
		return m.setForkFlag(addr, end, advice)
	case unix.MADV_POPULATE_READ, unix.MADV_POPULATE_WRITE:
		if addr == end {
			return nil
		}
		m.mappingMu.Lock()
		defer m.mappingMu.Unlock()
		if !m.covered(addr, end) {
			return unix.ENOMEM
		}
		if err := m.populateRangeLocked(addr, end); err != nil {
			if err == unix.ENOMEM {
				return err
			}
			return unix.EFAULT
		}
		return nil
	}
	return unix.EINVAL
}

// specialRange reports whether [addr, end) touches a special VMA (the
// vDSO), which madvise may not drop, populate or exclude from fork.
func (m *MemoryManager) specialRange(addr, end uintptr) bool {
	m.mappingMu.RLock()
	defer m.mappingMu.RUnlock()
	return m.touchesSpecial(addr, end)
}

func (m *MemoryManager) checkCovered(addr, end uintptr) error {
	if addr == end {
		return nil
	}
	m.mappingMu.RLock()
	defer m.mappingMu.RUnlock()
	if !m.covered(addr, end) {
		return unix.ENOMEM
	}
	return nil
}

// dontNeed drops the pages of the mapped parts of [addr, end): anonymous
// memory reads as zero again, private file mappings show the file again,
// shared mappings keep their contents in the Mappable.
func (m *MemoryManager) dontNeed(addr, end uintptr) error {
	if addr == end {
		return nil
	}
	m.mappingMu.Lock()
	defer m.mappingMu.Unlock()
	for i := m.findIndex(addr); i < len(m.vmas) && m.vmas[i].start < end; i++ {
		if m.vmas[i].locked {
			return unix.EINVAL
		}
	}
	m.activeMu.Lock()
	m.releasePagesLocked(addr, end)
	m.activeMu.Unlock()
	if !m.covered(addr, end) {
		return unix.ENOMEM
	}
	return nil
}

func (m *MemoryManager) setForkFlag(addr, end uintptr, advice int) error {
	if addr == end {
		return nil
	}
	m.mappingMu.Lock()
	defer m.mappingMu.Unlock()
	if advice == unix.MADV_WIPEONFORK {
		for i := m.findIndex(addr); i < len(m.vmas) && m.vmas[i].start < end; i++ {
			if v := m.vmas[i]; !v.private || v.mappable != nil {
				return unix.EINVAL
			}
		}
	}
	i, j := m.isolate(addr, end)
	for k := i; k < j; k++ {
		v := m.vmas[k]
		switch advice {
		case unix.MADV_DONTFORK:
			v.dontFork = true
		case unix.MADV_DOFORK:
			v.dontFork = false
		case unix.MADV_WIPEONFORK:
			v.wipeOnFork = true
		case unix.MADV_KEEPONFORK:
			v.wipeOnFork = false
		}
	}
	m.mergeRange(i-1, j)
	if !m.covered(addr, end) {
		return unix.ENOMEM
	}
	return nil
}

// MSync implements msync(2): shared file mappings in the range are written
// back.
func (m *MemoryManager) MSync(addr, length uintptr, flags int) error {
	if addr&pageMask != 0 || flags&^(unix.MS_ASYNC|unix.MS_INVALIDATE|unix.MS_SYNC) != 0 ||
		flags&(unix.MS_ASYNC|unix.MS_SYNC) == unix.MS_ASYNC|unix.MS_SYNC {
		return unix.EINVAL
	}
	end := pageRoundUp(addr + length)
	if end < addr {
		return unix.ENOMEM
	}
	if end == addr {
		return nil
	}
	m.mappingMu.RLock()
	defer m.mappingMu.RUnlock()
	var firstErr error
	for i := m.findIndex(addr); i < len(m.vmas) && m.vmas[i].start < end; i++ {
		v := m.vmas[i]
		if v.private || v.mappable == nil || v.anonShm {
			continue
		}
		a, b := max(v.start, addr), min(v.end, end)
		if err := v.mappable.Sync(v.fileOff(a), uint64(b-a)); err != nil && firstErr == nil {
			firstErr = unix.EIO
		}
	}
	if !m.covered(addr, end) {
		return unix.ENOMEM
	}
	return firstErr
}

// MinCore implements mincore(2): one byte per page, 1 if the page is present.
func (m *MemoryManager) MinCore(addr, length uintptr) ([]byte, error) {
	if addr&pageMask != 0 {
		return nil, unix.EINVAL
	}
	end := pageRoundUp(addr + length)
	if end < addr || end > m.maxAddr {
		return nil, unix.ENOMEM
	}
	m.mappingMu.RLock()
	defer m.mappingMu.RUnlock()
	if end > addr && !m.covered(addr, end) {
		return nil, unix.ENOMEM
	}
	out := make([]byte, (end-addr)/pageSize)
	m.activeMu.Lock()
	defer m.activeMu.Unlock()
	m.pt.walk(addr, end, func(a uintptr, e pte) pte {
		out[(a-addr)/pageSize] = 1
		return e
	})
	return out, nil
}

// MLock implements mlock(2). Nothing is ever swapped, so it only validates.
func (m *MemoryManager) MLock(addr, length uintptr) error {
	return m.checkCovered(pageRoundDown(addr), pageRoundUp(addr+length))
}

// MUnlock implements munlock(2).
func (m *MemoryManager) MUnlock(addr, length uintptr) error {
	return m.checkCovered(pageRoundDown(addr), pageRoundUp(addr+length))
}
