package mm

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/memfile"
)

// eagerForkPages bounds the copying a fork does at once. Sharing a private
// page copy-on-write costs, on a platform with slow faults (ptrace: tens of
// microseconds per fault), a write-protect of the parent's mapping and then
// one fault on each side for every page either writes; copying a page costs
// about a microsecond. So when the parent has at most this many private
// pages it may write (present and not already copy-on-write), Fork copies
// them into the child at once and leaves the parent's mappings alone:
// neither side faults on them again. The common fork-then-exec of a small
// program (a shell, a test driver) takes this path; a big process still
// shares its pages copy-on-write. (A variable for tests.)
var eagerForkPages = 128

// Fork returns a copy of the address space for fork(2). Private pages are
// shared copy-on-write (both sides lose write access until they copy), or
// copied at once for small address spaces (see eagerForkPages); shared
// mappings are shared, MADV_DONTFORK areas are left out and MADV_WIPEONFORK
// areas start empty in the child.
func (m *MemoryManager) Fork() (*MemoryManager, error) {
	m.mappingMu.Lock()
	defer m.mappingMu.Unlock()
	if m.released {
		return nil, unix.EINVAL
	}
	c, err := New(m.p, m.mf)
	if err != nil {
		return nil, err
	}
	c.mmapBase, c.brkStart, c.brk = m.mmapBase, m.brkStart, m.brk
	c.acct, c.onOOM = m.acct, m.onOOM
	c.argvStart, c.argvEnd, c.envStart, c.envEnd = m.ArgvEnv()
	c.auxv = m.Auxv()

	m.activeMu.Lock()
	defer m.activeMu.Unlock()
	// Pages to copy now, from one allocation (none if too many or the
	// memory file is full: then they are shared copy-on-write too).
	var copies memfile.Range
	if n := m.exclusivePrivateLocked(eagerForkPages + 1); n > 0 && n <= eagerForkPages {
		if r, err := m.mf.AllocateFor(uint64(n)*pageSize, m.acct); err == nil {
			copies = r
		}
	}
	next := copies.Start
	var inc, wp runAcc
	// c's VMAs are the parent's, in order; that includes the special
	// ones New gave c (the same platform's vDSO).
	c.vmas = nil
	for _, v := range m.vmas {
		if v.dontFork {
			continue
		}
		nv := *v
		c.vmas = append(c.vmas, &nv)
		nv.addMapping(nv.start, nv.end)
		if v.wipeOnFork {
			continue
		}
		m.pt.walk(v.start, v.end, func(a uintptr, e pte) pte {
			if v.private && e&pteCOW == 0 && next < copies.End {
				copy(m.mf.Slice(next, pageSize), m.mf.Slice(e.off(), pageSize))
				c.pt.set(a, newPTE(next, pteOwned))
				next += pageSize
				return e
			}
			inc.add(m, a, e.off())
			if v.private {
				e |= pteCOW
				if e&pteMapW != 0 {
					eff := effPerms(v, e)
					wp.addAt(a, e.off(), eff)
					e = e.withMapped(eff)
				}
			}
			c.pt.set(a, e&^pteMapMask)
			return e
		})
	}
	if next < copies.End { // cannot happen: nothing changed under activeMu
		m.mf.DecRef(memfile.Range{Start: next, End: copies.End})
	}
	inc.flushIncRef(m)
	c.activeMu.Lock()
	c.mapForkedLocked()
	c.activeMu.Unlock()
	// Take write access away from the parent's shared private pages.
	wp.cut()
	for _, r := range wp.runs {
		m.mapGen++
		if !r.at.Any() || m.as.MapFile(r.addr, r.fr.Start, uintptr(r.fr.Len()), r.at) != nil {
			m.as.Unmap(r.addr, uintptr(r.fr.Len()))
			m.pt.walk(r.addr, r.addr+uintptr(r.fr.Len()), func(a uintptr, e pte) pte { return e &^ pteMapMask })
		}
	}
	return c, nil
}

// exclusivePrivateLocked counts the present pages of private, forked VMAs
// that are not copy-on-write, stopping at limit.
func (m *MemoryManager) exclusivePrivateLocked(limit int) int {
	n := 0
	for _, v := range m.vmas {
		if !v.private || v.dontFork || v.wipeOnFork {
			continue
		}
		m.pt.walk(v.start, v.end, func(a uintptr, e pte) pte {
			if e&pteCOW == 0 {
				n++
			}
			return e
		})
		if n >= limit {
			break
		}
	}
	return n
}

// forkMapRuns bounds the mapping runs mapForkedLocked makes.
const forkMapRuns = 64

// mapForkedLocked maps the pages a fork child starts with into its
// AddressSpace, as the parent had them (copy-on-write pages read-only),
// when that takes at most forkMapRuns runs: a child that has not run yet is
// not entered by any thread, so the platform can make these mappings in
// one go when the child first runs (ptrace queues them), instead of one
// fault for each area the child touches (its stack, data, heap, text).
// c.activeMu must be held.
func (c *MemoryManager) mapForkedLocked() {
	var acc runAcc
	for _, v := range c.vmas {
		c.pt.walk(v.start, v.end, func(a uintptr, e pte) pte {
			if eff := effPerms(v, e); eff.Any() {
				acc.addAt(a, e.off(), eff)
			}
			return e
		})
		if len(acc.runs) > forkMapRuns {
			return
		}
	}
	acc.cut()
	if len(acc.runs) > forkMapRuns {
		return
	}
	for _, r := range acc.runs {
		c.mapGen++
		if c.as.MapFile(r.addr, r.fr.Start, uintptr(r.fr.Len()), r.at) != nil {
			continue // the faults will map it
		}
		c.pt.walk(r.addr, r.addr+uintptr(r.fr.Len()), func(a uintptr, e pte) pte { return e.withMapped(r.at) })
	}
}
