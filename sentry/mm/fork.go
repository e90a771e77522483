package mm

import "golang.org/x/sys/unix"

// Fork returns a copy of the address space for fork(2). Private pages are
// shared copy-on-write (both sides lose write access until they copy),
// shared mappings are shared, MADV_DONTFORK areas are left out and
// MADV_WIPEONFORK areas start empty in the child.
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
	c.argvStart, c.argvEnd, c.envStart, c.envEnd = m.ArgvEnv()
	c.auxv = m.Auxv()

	m.activeMu.Lock()
	defer m.activeMu.Unlock()
	var inc, wp runAcc
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
	inc.flushIncRef(m)
	// Take write access away from the parent's private pages.
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
