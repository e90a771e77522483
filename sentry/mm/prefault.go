package mm

// Prefault makes the pages of [addr, addr+length) that VMAs cover present
// and maps them into the AddressSpace, as faults would, but without the
// faults: the loader calls it for the parts of a new program that run at
// once (text, data, the top of the stack), because on the ptrace platform
// each fault costs a stop and a resume of the application on top of the
// mapping itself. With write, pages of private writable VMAs are made
// writable (copied if copy-on-write), as MAP_POPULATE does on Linux.
// Best effort: it stops at the first page it cannot fill, and the
// application's faults then do the rest (or report the error).
func (m *MemoryManager) Prefault(addr, length uintptr, write bool) error {
	start, end := pageRoundDown(addr), pageRoundUp(addr+length)
	if end <= start {
		return nil
	}
	m.mappingMu.RLock()
	defer m.mappingMu.RUnlock()
	m.activeMu.Lock()
	defer m.activeMu.Unlock()
	for i := m.findIndex(start); i < len(m.vmas) && m.vmas[i].start < end; i++ {
		v := m.vmas[i]
		a, b := max(v.start, start), min(v.end, end)
		if a >= b || !v.perms.Any() || v.special {
			continue
		}
		_, err := m.populateLocked(v, a, b)
		if write && v.private && v.perms.Write {
			for p := a; p < b && err == nil; p += pageSize {
				err = m.writeLocked(v, p)
			}
		}
		if err2 := m.mapLocked(v, a, b); err == nil {
			err = err2
		}
		if err != nil {
			return err
		}
	}
	return nil
}
