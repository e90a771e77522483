package mm

import (
	"errors"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/platform"
	"github.com/runsc-cri/runsc-cri/sentry/memfile"
)

// faultAround is the aligned window populated and mapped around a fault
// in anonymous memory; fileFaultAround the same in file-backed memory,
// where pages usually come from the page cache and the cost of a fault
// (tens of microseconds on ptrace) dominates: one fault maps a whole
// window of a program's text instead of one per 64 KiB.
const (
	faultAround     = 64 << 10
	fileFaultAround = 512 << 10
)

// smallFileVMA: file-backed VMAs up to this size (the text of most
// programs) are mapped whole on the first fault;
// smallShmVMA is the same for shared anonymous memory.
const (
	smallFileVMA = 2 << 20
	smallShmVMA  = 256 << 10
)

// suspect remembers a fault that looked like an access violation on a page
// mapped with every permission its VMA allows. With a platform that cannot
// tell the access type, such a fault may also be stale: another thread mapped
// the page between the fault and its handling. The first such fault is
// therefore retried; a second one with no mapping change in between (or a
// third in any case) is a real violation.
type suspect struct {
	gen uint64
	n   int
}

// HandleFault resolves a fault the platform reported at addr. It returns a
// *FaultError when the application must get a signal, and unix.ENOMEM when
// the memory file (the sandbox memory limit) is exhausted.
func (m *MemoryManager) HandleFault(addr uintptr, info platform.SwitchInfo) error {
	m.mappingMu.RLock()
	defer m.mappingMu.RUnlock()
	v := m.find(addr)
	if v != nil && v.special {
		// The platform maps it: the access was not allowed (a write to
		// the vDSO).
		return &FaultError{Signo: SIGSEGV, Code: SEGV_ACCERR, Addr: addr}
	}
	if v == nil || addr < m.minAddr || addr >= m.maxAddr {
		return &FaultError{Signo: SIGSEGV, Code: SEGV_MAPERR, Addr: addr}
	}
	page := pageRoundDown(addr)
	m.activeMu.Lock()
	defer m.activeMu.Unlock()
	at := info.Access
	if !info.AccessKnown {
		at = platform.Read
		e := m.pt.get(page)
		if e.present() && e&pteMapMask == 0 && e&pteCOW != 0 && v.private && v.mappable == nil && v.perms.Write {
			// A first touch of a copy-on-write anonymous page (the
			// stack or heap after a fork) is almost always a write:
			// copy it now rather than map it read-only and fault
			// again. A wrong guess costs a page copy, invisible to the
			// application.
			at = platform.ReadWrite
		} else if e.present() && e&pteMapMask != 0 {
			mp := e.mapped()
			switch {
			case v.perms.Write && !mp.Write:
				at = platform.ReadWrite
			case v.perms.Execute && !mp.Execute:
				at = platform.AccessType{Read: true, Execute: true}
			default:
				if m.suspectLocked(page) {
					return &FaultError{Signo: SIGSEGV, Code: SEGV_ACCERR, Addr: addr}
				}
				return nil
			}
		}
	}
	if !allowed(v.perms, at) {
		return &FaultError{Signo: SIGSEGV, Code: SEGV_ACCERR, Addr: addr}
	}
	if err := m.faultLocked(v, page, at); err != nil {
		var errno unix.Errno
		if errors.As(err, &errno) {
			if errno == unix.ENOMEM {
				// The memory file is full: the caller plays the
				// OOM killer.
				return unix.ENOMEM
			}
			return &FaultError{Signo: SIGBUS, Code: BUS_ADRERR, Addr: addr}
		}
		return err
	}
	return nil
}

func (m *MemoryManager) suspectLocked(page uintptr) bool {
	if m.suspects == nil {
		m.suspects = make(map[uintptr]suspect)
	}
	s, ok := m.suspects[page]
	if ok && (s.gen == m.mapGen || s.n >= 2) {
		delete(m.suspects, page)
		return true
	}
	if len(m.suspects) > 64 {
		clear(m.suspects)
	}
	m.suspects[page] = suspect{gen: m.mapGen, n: s.n + 1}
	return false
}

// allowed reports whether a VMA with perms permits access at. As on x86, any
// permission implies read.
func allowed(perms, at platform.AccessType) bool {
	if at.Write && !perms.Write || at.Execute && !perms.Execute {
		return false
	}
	return !at.Read || perms.Any()
}

// faultLocked makes the page at page present (writable if at.Write),
// populates the fault-around window and maps it into the AddressSpace.
func (m *MemoryManager) faultLocked(v *vma, page uintptr, at platform.AccessType) error {
	ws, we := m.window(v, page)
	// The window first (best effort), so that its pages, including the
	// faulting one, come from one allocation and map with one call.
	m.populateLocked(v, ws, we)
	if at.Write {
		if err := m.writeLocked(v, page); err != nil {
			return err
		}
	} else if !m.pt.get(page).present() {
		if _, err := m.populateLocked(v, page, page+pageSize); err != nil {
			return err
		}
	}
	return m.mapLocked(v, ws, we)
}

// window returns the fault-around window of page in v.
func (m *MemoryManager) window(v *vma, page uintptr) (uintptr, uintptr) {
	size := uintptr(faultAround)
	switch {
	case v.mappable == nil:
	case v.anonShm: // shared anonymous: allocated on demand like anonymous memory
		if v.end-v.start <= smallShmVMA {
			return v.start, v.end
		}
	case v.end-v.start <= smallFileVMA:
		return v.start, v.end
	default:
		size = fileFaultAround
	}
	ws := page &^ (size - 1)
	we := ws + size
	if ws < v.start {
		ws = v.start
	}
	if we > v.end || we < ws {
		we = v.end
	}
	return ws, we
}

// effPerms returns the permissions page entry e of v may be mapped with.
func effPerms(v *vma, e pte) platform.AccessType {
	p := v.perms
	if e&pteCOW != 0 {
		p.Write = false
	}
	return p
}

// mapLocked maps every present page of [start, end) in v into the
// AddressSpace with its effective permissions, where it is not mapped so
// already.
func (m *MemoryManager) mapLocked(v *vma, start, end uintptr) error {
	var acc runAcc
	m.pt.walk(start, end, func(addr uintptr, e pte) pte {
		eff := effPerms(v, e)
		if !eff.Any() || e.mapped() == eff {
			return e
		}
		acc.addAt(addr, e.off(), eff)
		return e.withMapped(eff)
	})
	acc.cut()
	for _, r := range acc.runs {
		m.mapGen++
		if err := m.as.MapFile(r.addr, r.fr.Start, uintptr(r.fr.Len()), r.at); err != nil {
			return err
		}
	}
	return nil
}

// maxFillRun is the most populateLocked fills with one allocation.
const maxFillRun = 2 << 20

// populateLocked makes the absent pages of [start, end) (within v) present,
// without write access for pages that must be copied or re-translated on
// write. It returns the end of the prefix of [start, end) that is present.
func (m *MemoryManager) populateLocked(v *vma, start, end uintptr) (uintptr, error) {
	a := start
	for a < end {
		if m.pt.get(a).present() {
			a += pageSize
			continue
		}
		// Fill at most maxFillRun at a time: the range comes from the
		// application (mmap(MAP_POPULATE) of 128 TiB) and scanning it
		// whole before the first allocation took hours with the lock
		// held; run by run, the memory limit ends the loop (ENOMEM).
		b := a + pageSize
		for b < end && b-a < maxFillRun && !m.pt.get(b).present() {
			b += pageSize
		}
		got, err := m.fillLocked(v, a, b)
		if got < b {
			if err == nil {
				err = unix.EFAULT
			}
			return got, err
		}
		a = b
	}
	return end, nil
}

// fillLocked fills the absent run [a, b) and returns how far it got.
func (m *MemoryManager) fillLocked(v *vma, a, b uintptr) (uintptr, error) {
	if v.mappable == nil {
		fr, err := m.mf.AllocateFor(uint64(b-a), m.acct)
		if err != nil {
			if b-a > pageSize && errors.Is(err, unix.ENOMEM) {
				return m.fillPagesLocked(a, b)
			}
			return a, err
		}
		for p, off := a, fr.Start; p < b; p, off = p+pageSize, off+pageSize {
			m.pt.set(p, newPTE(off, pteOwned))
		}
		return b, nil
	}
	rs, err := v.mappable.Translate(v.fileOff(a), uint64(b-a), false)
	p := a
	for _, r := range rs {
		for off := r.Start; off < r.End; off += pageSize {
			if p >= b { // a misbehaving Mappable returned too much
				m.mf.DecRef(memfile.Range{Start: off, End: r.End})
				break
			}
			m.pt.set(p, newPTE(off, pteCOW))
			p += pageSize
		}
	}
	return p, err
}

// fillPagesLocked fills the absent anonymous run [a, b) page by page, up to
// the memory limit, and returns how far it got.
func (m *MemoryManager) fillPagesLocked(a, b uintptr) (uintptr, error) {
	for p := a; p < b; p += pageSize {
		fr, err := m.mf.AllocateFor(pageSize, m.acct)
		if err != nil {
			return p, err
		}
		m.pt.set(p, newPTE(fr.Start, pteOwned))
	}
	return b, nil
}

// writeLocked makes the page at page present and writable as it stands
// (copying or re-translating it as needed).
func (m *MemoryManager) writeLocked(v *vma, page uintptr) error {
	e := m.pt.get(page)
	if !e.present() {
		switch {
		case v.mappable == nil:
			_, err := m.populateLocked(v, page, page+pageSize)
			return err
		case v.private:
			if _, err := m.populateLocked(v, page, page+pageSize); err != nil {
				return err
			}
			e = m.pt.get(page)
		default:
			r, err := m.translateOne(v, page, true)
			if err != nil {
				return err
			}
			m.pt.set(page, newPTE(r.Start, 0))
			return nil
		}
	}
	if e&pteCOW == 0 {
		return nil
	}
	if !v.private {
		r, err := m.translateOne(v, page, true)
		if err != nil {
			return err
		}
		if r.Start == e.off() {
			m.mf.DecRef(r)
			m.pt.set(page, e&^pteCOW)
			return nil
		}
		m.replaceLocked(v, page, e, newPTE(r.Start, 0))
		return nil
	}
	if e&pteOwned != 0 && m.mf.RefCount(e.off()) == 1 {
		m.pt.set(page, e&^pteCOW)
		return nil
	}
	fr, err := m.mf.AllocateFor(pageSize, m.acct)
	if err != nil {
		return err
	}
	copy(m.mf.Slice(fr.Start, pageSize), m.mf.Slice(e.off(), pageSize))
	m.replaceLocked(v, page, e, newPTE(fr.Start, pteOwned))
	return nil
}

// replaceLocked replaces entry old at page of v by new, dropping old's page.
// If old was mapped in the AddressSpace, new is mapped in its place first,
// so that no thread can reach old's page once it may be freed.
func (m *MemoryManager) replaceLocked(v *vma, page uintptr, old, new pte) {
	if old&pteMapMask != 0 {
		eff := effPerms(v, new)
		m.mapGen++
		if eff.Any() && m.as.MapFile(page, new.off(), pageSize, eff) == nil {
			new = new.withMapped(eff)
		} else {
			m.as.Unmap(page, pageSize)
		}
	}
	m.pt.set(page, new)
	m.mf.DecRef(memfile.Range{Start: old.off(), End: old.off() + pageSize})
}

func (m *MemoryManager) translateOne(v *vma, page uintptr, forWrite bool) (memfile.Range, error) {
	rs, err := v.mappable.Translate(v.fileOff(page), pageSize, forWrite)
	var got memfile.Range
	for i, r := range rs {
		if i == 0 && r.Len() >= pageSize {
			got = memfile.Range{Start: r.Start, End: r.Start + pageSize}
			if r.Len() > pageSize {
				m.mf.DecRef(memfile.Range{Start: got.End, End: r.End})
			}
			continue
		}
		m.mf.DecRef(r)
	}
	if got.Len() == 0 {
		if err == nil {
			err = unix.EFAULT
		}
		return got, err
	}
	return got, nil
}
