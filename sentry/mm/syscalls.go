package mm

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/platform"
	"github.com/runsc-cri/runsc-cri/sentry/memmap"
)

// MMapOpts describes an mmap request.
type MMapOpts struct {
	// Addr is the hint (or the address with MAP_FIXED); Length the size
	// (rounded up to pages); Offset the file offset (page-aligned).
	Addr, Length uintptr
	Offset       uint64
	// Prot and Flags are PROT_* and MAP_* bits as the application gave them.
	Prot, Flags int
	// MaxProt limits what mprotect may grant later on a shared mapping
	// (a file opened read-only cannot become writable; noexec mounts):
	// PROT_* bits, 0 meaning PROT_READ|PROT_WRITE|PROT_EXEC.
	MaxProt int
	// Mappable backs the mapping; nil (or MAP_ANONYMOUS) is anonymous.
	Mappable memmap.Mappable
	// Name is shown in /proc/self/maps: a path, "[stack]", "[heap]".
	Name string
	// Dev and Ino are shown in /proc/self/maps.
	Dev, Ino uint64
}

const (
	mapType           = 0x0f
	knownProt         = unix.PROT_READ | unix.PROT_WRITE | unix.PROT_EXEC
	protGrows         = unix.PROT_GROWSDOWN | unix.PROT_GROWSUP
	map32Low, map32Hi = 0x40000000, 0x80000000
)

// MMap implements mmap(2). The caller has checked the file's open mode for
// the requested protection.
func (m *MemoryManager) MMap(o MMapOpts) (uintptr, error) {
	if o.Length == 0 || o.Offset&pageMask != 0 {
		return 0, unix.EINVAL
	}
	length := pageRoundUp(o.Length)
	if length == 0 || length > m.maxAddr {
		return 0, unix.ENOMEM
	}
	if o.Offset+uint64(length) < o.Offset {
		return 0, unix.EOVERFLOW
	}
	var private bool
	switch o.Flags & mapType {
	case unix.MAP_PRIVATE:
		private = true
	case unix.MAP_SHARED, unix.MAP_SHARED_VALIDATE:
	default:
		return 0, unix.EINVAL
	}
	anon := o.Flags&unix.MAP_ANONYMOUS != 0 || o.Mappable == nil
	perms := platform.AccessFromProt(o.Prot)
	maxPerms := platform.AnyAccess
	if o.MaxProt != 0 && !anon {
		maxPerms = platform.AccessFromProt(o.MaxProt)
	}
	if private {
		maxPerms.Write = true
	}
	if perms.Write && !maxPerms.Write || perms.Execute && !maxPerms.Execute {
		return 0, unix.EACCES
	}
	fixed := o.Flags&(unix.MAP_FIXED|unix.MAP_FIXED_NOREPLACE) != 0

	m.mappingMu.Lock()
	defer m.mappingMu.Unlock()
	if m.released {
		return 0, unix.ENOMEM
	}
	var addr uintptr
	if fixed {
		addr = o.Addr
		if addr&pageMask != 0 {
			return 0, unix.EINVAL
		}
		if addr+length < addr || addr+length > m.maxAddr {
			return 0, unix.ENOMEM
		}
		if addr < m.minAddr {
			return 0, unix.EPERM
		}
		if o.Flags&unix.MAP_FIXED == 0 && m.overlaps(addr, addr+length) {
			return 0, unix.EEXIST
		}
	} else {
		var err error
		addr, err = m.findAvailable(length, o.Addr, o.Flags&unix.MAP_32BIT != 0)
		if err != nil {
			return 0, err
		}
	}
	v := &vma{
		start:     addr,
		end:       addr + length,
		perms:     perms,
		maxPerms:  maxPerms,
		private:   private,
		growsDown: o.Flags&unix.MAP_GROWSDOWN != 0,
		locked:    o.Flags&unix.MAP_LOCKED != 0,
		name:      o.Name,
		dev:       o.Dev,
		ino:       o.Ino,
	}
	switch {
	case !anon:
		v.mappable, v.off = o.Mappable, o.Offset
	case !private:
		sh := newShm(m.mf, uint64(length))
		sh.acct = m.acct
		v.mappable, v.anonShm = sh, true
		if v.name == "" {
			v.name = "/dev/zero (deleted)"
		}
	}
	if fixed {
		m.removeVMAs(addr, addr+length)
	}
	v.addMapping(v.start, v.end)
	m.insert(v)
	if o.Flags&(unix.MAP_POPULATE|unix.MAP_LOCKED) != 0 {
		if err := m.populateRangeLocked(addr, addr+length); err == unix.ENOMEM {
			m.removeVMAs(addr, addr+length)
			return 0, unix.ENOMEM
		}
	}
	return addr, nil
}

// populateRangeLocked fills and maps every page of [start, end).
// mappingMu must be held.
func (m *MemoryManager) populateRangeLocked(start, end uintptr) error {
	m.activeMu.Lock()
	defer m.activeMu.Unlock()
	for i := m.findIndex(start); i < len(m.vmas) && m.vmas[i].start < end; i++ {
		v := m.vmas[i]
		a, b := max(v.start, start), min(v.end, end)
		if !v.perms.Any() || v.special {
			continue
		}
		_, err := m.populateLocked(v, a, b)
		if err2 := m.mapLocked(v, a, b); err == nil && err2 != nil {
			err = err2
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// findAvailable picks an address for a new mapping of length bytes.
// mappingMu must be held.
func (m *MemoryManager) findAvailable(length, hint uintptr, map32 bool) (uintptr, error) {
	if hint != 0 {
		h := pageRoundDown(hint)
		if m.rangeOK(h, length) && !m.overlaps(h, h+length) {
			return h, nil
		}
	}
	if map32 {
		if a, ok := m.searchDown(max(m.minAddr, map32Low), min(m.maxAddr, map32Hi), length); ok {
			return a, nil
		}
		return 0, unix.ENOMEM
	}
	if a, ok := m.searchDown(m.minAddr, m.mmapBase, length); ok {
		return a, nil
	}
	if a, ok := m.searchDown(m.minAddr, m.maxAddr, length); ok {
		return a, nil
	}
	return 0, unix.ENOMEM
}

// searchDown returns the highest address a with [a, a+length) free inside
// [lo, hi).
func (m *MemoryManager) searchDown(lo, hi, length uintptr) (uintptr, bool) {
	if hi <= lo || hi-lo < length {
		return 0, false
	}
	top := hi
	j := m.findIndex(hi)
	if j < len(m.vmas) && m.vmas[j].start < hi {
		top = m.vmas[j].start
	}
	for k := j - 1; ; k-- {
		bottom := lo
		if k >= 0 && m.vmas[k].end > lo {
			bottom = m.vmas[k].end
		}
		if top > bottom && top-bottom >= length {
			return top - length, true
		}
		if k < 0 || m.vmas[k].start <= lo {
			return 0, false
		}
		top = m.vmas[k].start
	}
}

// MUnmap implements munmap(2).
func (m *MemoryManager) MUnmap(addr, length uintptr) error {
	if addr&pageMask != 0 || length == 0 {
		return unix.EINVAL
	}
	length = pageRoundUp(length)
	if length == 0 || addr+length < addr || addr+length > m.maxAddr {
		return unix.EINVAL
	}
	m.mappingMu.Lock()
	defer m.mappingMu.Unlock()
	m.removeVMAs(addr, addr+length)
	return nil
}

// MProtect implements mprotect(2).
func (m *MemoryManager) MProtect(addr, length uintptr, prot int) error {
	if addr&pageMask != 0 || prot&^(knownProt|protGrows) != 0 || prot&protGrows == protGrows {
		return unix.EINVAL
	}
	if length == 0 {
		return nil
	}
	end := pageRoundUp(addr + length)
	if end <= addr || end > m.maxAddr {
		return unix.ENOMEM
	}
	perms := platform.AccessFromProt(prot)
	m.mappingMu.Lock()
	defer m.mappingMu.Unlock()
	if prot&unix.PROT_GROWSDOWN != 0 {
		v := m.find(addr)
		if v == nil || !v.growsDown {
			return unix.EINVAL
		}
		addr = v.start
	}
	if !m.covered(addr, end) {
		return unix.ENOMEM
	}
	for i := m.findIndex(addr); i < len(m.vmas) && m.vmas[i].start < end; i++ {
		v := m.vmas[i]
		if perms.Write && !v.maxPerms.Write || perms.Execute && !v.maxPerms.Execute {
			return unix.EACCES
		}
	}
	i, j := m.isolate(addr, end)
	m.activeMu.Lock()
	for k := i; k < j; k++ {
		v := m.vmas[k]
		if v.perms == perms {
			continue
		}
		v.perms = perms
		// Pages mapped with more than they may now have are unmapped
		// from the host; the next access maps them again.
		var lo, hi uintptr
		m.pt.walk(v.start, v.end, func(a uintptr, e pte) pte {
			mp, eff := e.mapped(), effPerms(v, e)
			if mp.Read && !eff.Any() || mp.Write && !eff.Write || mp.Execute && !eff.Execute {
				if hi == 0 {
					lo = a
				}
				hi = a + pageSize
				return e &^ pteMapMask
			}
			return e
		})
		if hi != 0 {
			m.as.Unmap(lo, hi-lo)
		}
	}
	m.activeMu.Unlock()
	m.mergeRange(i-1, j)
	return nil
}

// SetBrkStart sets the start of the program break (the loader calls it with
// the end of the executable's last segment).
func (m *MemoryManager) SetBrkStart(addr uintptr) {
	m.mappingMu.Lock()
	defer m.mappingMu.Unlock()
	m.brkStart = pageRoundUp(addr)
	m.brk = m.brkStart
}

// Brk implements brk(2): it returns the new break, or the old one if the
// request cannot be satisfied.
func (m *MemoryManager) Brk(addr uintptr) (uintptr, error) {
	m.mappingMu.Lock()
	defer m.mappingMu.Unlock()
	// addr beyond the user half is refused before rounding: rounded up,
	// ^uintptr(0) wrapped to 0, which looked like a shrink and unmapped
	// everything below the heap, program text included (found by
	// test/fuzz).
	if addr < m.brkStart || addr > m.maxAddr || m.brkStart == 0 || m.released {
		return m.brk, nil
	}
	oldEnd, newEnd := pageRoundUp(m.brk), pageRoundUp(addr)
	switch {
	case newEnd > oldEnd:
		if newEnd > m.maxAddr || newEnd < oldEnd || m.overlaps(oldEnd, newEnd) {
			return m.brk, nil
		}
		m.insert(&vma{
			start:    oldEnd,
			end:      newEnd,
			perms:    platform.ReadWrite,
			maxPerms: platform.AnyAccess,
			private:  true,
			name:     "[heap]",
		})
	case newEnd < oldEnd:
		m.removeVMAs(newEnd, oldEnd)
	}
	m.brk = addr
	return addr, nil
}

// MRemap implements mremap(2).
func (m *MemoryManager) MRemap(oldAddr, oldSize, newSize uintptr, flags int, newAddr uintptr) (uintptr, error) {
	const known = unix.MREMAP_MAYMOVE | unix.MREMAP_FIXED | unix.MREMAP_DONTUNMAP
	mayMove := flags&unix.MREMAP_MAYMOVE != 0
	fixed := flags&unix.MREMAP_FIXED != 0
	dontUnmap := flags&unix.MREMAP_DONTUNMAP != 0
	if oldAddr&pageMask != 0 || flags&^known != 0 || fixed && !mayMove || dontUnmap && (!mayMove || oldSize != newSize) {
		return 0, unix.EINVAL
	}
	oldSize, newSize = pageRoundUp(oldSize), pageRoundUp(newSize)
	if newSize == 0 || newSize > m.maxAddr || oldSize > m.maxAddr {
		return 0, unix.EINVAL
	}
	m.mappingMu.Lock()
	defer m.mappingMu.Unlock()
	v := m.find(oldAddr)
	if v == nil {
		return 0, unix.EFAULT
	}
	if v.special {
		return 0, unix.EINVAL // the vDSO stays where the platform put it
	}
	if oldSize == 0 {
		// Duplicate a shared mapping.
		if v.private || !mayMove {
			return 0, unix.EINVAL
		}
	} else if oldAddr+oldSize > v.end || oldAddr+oldSize < oldAddr {
		return 0, unix.EFAULT
	}
	if dontUnmap && (!v.private || v.mappable != nil) {
		return 0, unix.EINVAL
	}
	if fixed {
		if newAddr&pageMask != 0 || !m.rangeOK(newAddr, newSize) {
			return 0, unix.EINVAL
		}
		if newAddr < oldAddr+oldSize && oldAddr < newAddr+newSize {
			return 0, unix.EINVAL
		}
		m.removeVMAs(newAddr, newAddr+newSize)
		if newSize < oldSize {
			m.removeVMAs(oldAddr+newSize, oldAddr+oldSize)
			oldSize = newSize
		}
		m.moveLocked(oldAddr, oldSize, newAddr, newSize, dontUnmap)
		return newAddr, nil
	}
	if newSize <= oldSize && oldSize != 0 {
		m.removeVMAs(oldAddr+newSize, oldAddr+oldSize)
		return oldAddr, nil
	}
	// Grow in place if the VMA ends at the old range and room follows.
	if oldSize != 0 && oldAddr+oldSize == v.end && !dontUnmap {
		newEnd := oldAddr + newSize
		if newEnd > oldAddr && newEnd <= m.maxAddr && !m.overlaps(v.end, newEnd) {
			v.addMapping(v.end, newEnd)
			v.end = newEnd
			i := m.findIndex(oldAddr)
			m.mergeRange(i, i+1)
			return oldAddr, nil
		}
	}
	if !mayMove {
		return 0, unix.ENOMEM
	}
	dest, err := m.findAvailable(newSize, 0, false)
	if err != nil {
		return 0, err
	}
	m.moveLocked(oldAddr, oldSize, dest, newSize, dontUnmap)
	return dest, nil
}

// moveLocked moves [oldAddr, oldAddr+oldSize), which lies within one VMA, to
// [newAddr, newAddr+newSize) (free), with its pages. oldSize 0 duplicates a
// shared mapping. mappingMu must be held for writing.
func (m *MemoryManager) moveLocked(oldAddr, oldSize, newAddr, newSize uintptr, dontUnmap bool) {
	if oldSize == 0 {
		v := m.find(oldAddr)
		nv := *v
		nv.off = v.fileOff(oldAddr)
		nv.start, nv.end = newAddr, newAddr+newSize
		nv.addMapping(nv.start, nv.end)
		m.insert(&nv)
		return
	}
	i, _ := m.isolate(oldAddr, oldAddr+oldSize)
	v := m.vmas[i]
	nv := *v
	nv.start, nv.end = newAddr, newAddr+newSize
	nv.addMapping(nv.start, nv.end)
	m.activeMu.Lock()
	m.unmapHostLocked(oldAddr, oldAddr+oldSize)
	type moved struct {
		delta uintptr
		e     pte
	}
	var ms []moved
	m.pt.walk(oldAddr, oldAddr+oldSize, func(a uintptr, e pte) pte {
		ms = append(ms, moved{a - oldAddr, e})
		return 0
	})
	for _, x := range ms {
		if x.delta < newSize {
			m.pt.set(newAddr+x.delta, x.e)
		} else {
			m.mf.DecRef(rangeOf(x.e))
		}
	}
	m.activeMu.Unlock()
	m.vmas = append(m.vmas[:i], m.vmas[i+1:]...)
	v.removeMapping(v.start, v.end)
	if dontUnmap {
		// The old range stays mapped, empty.
		v.addMapping(v.start, v.end)
		m.insert(v)
	}
	m.insert(&nv)
}
