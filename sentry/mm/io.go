package mm

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/memfile"
)

// ensureLocked makes the pages of [start, end) (page-aligned) present for a
// sentry access, writable if write, and returns the end of the accessible
// prefix, with the error that ended it (nil if it ended at an unmapped or
// forbidden page). mappingMu (read) and activeMu must be held.
func (m *MemoryManager) ensureLocked(start, end uintptr, write bool) (uintptr, error) {
	a := start
	for a < end {
		v := m.find(a)
		if v == nil || write && !v.perms.Write || !v.perms.Any() {
			return a, nil
		}
		b := min(v.end, end)
		done, err := m.populateLocked(v, a, b)
		if write {
			for p := a; p < done; p += pageSize {
				if m.pt.get(p)&pteCOW != 0 {
					if err := m.writeLocked(v, p); err != nil {
						return p, err
					}
				}
			}
		}
		if err != nil || done < b {
			return done, err
		}
		a = b
	}
	return end, nil
}

// clip bounds an access of n bytes at addr to the user range. It returns the
// number of bytes that may be valid.
func (m *MemoryManager) clip(addr uintptr, n uintptr) uintptr {
	if addr < m.minAddr || addr >= m.maxAddr {
		return 0
	}
	if n > m.maxAddr-addr {
		return m.maxAddr - addr
	}
	return n
}

// access makes [addr, addr+n) accessible and calls fn on every page-sized
// piece of the valid prefix with the memory-file slice for it. It returns the
// number of bytes processed and EFAULT if that is short of n.
func (m *MemoryManager) access(addr, n uintptr, write bool, fn func(done uintptr, b []byte)) (int, error) {
	if n == 0 {
		return 0, nil
	}
	want := n
	n = m.clip(addr, n)
	m.mappingMu.RLock()
	defer m.mappingMu.RUnlock()
	m.activeMu.Lock()
	defer m.activeMu.Unlock()
	end := addr + n
	if n > 0 {
		valid, err := m.ensureLocked(pageRoundDown(addr), pageRoundUp(end), write)
		if valid < end {
			end = max(valid, addr)
			m.checkOOM(err)
		}
	}
	done := uintptr(0)
	for a := addr; a < end; {
		page := pageRoundDown(a)
		next := min(page+pageSize, end)
		e := m.pt.get(page)
		po := uint64(a - page)
		fn(done, m.mf.Slice(e.off()+po, uint64(next-a)))
		done += next - a
		a = next
	}
	if done < want {
		return int(done), unix.EFAULT
	}
	return int(done), nil
}

// CopyIn copies application memory at addr into dst. On an invalid range it
// copies the valid prefix and returns its length with EFAULT.
func (m *MemoryManager) CopyIn(addr uintptr, dst []byte) (int, error) {
	return m.access(addr, uintptr(len(dst)), false, func(done uintptr, b []byte) {
		copy(dst[done:], b)
	})
}

// CopyOut copies src into application memory at addr.
func (m *MemoryManager) CopyOut(addr uintptr, src []byte) (int, error) {
	return m.access(addr, uintptr(len(src)), true, func(done uintptr, b []byte) {
		copy(b, src[done:])
	})
}

// ZeroOut zeroes n bytes of application memory at addr.
func (m *MemoryManager) ZeroOut(addr uintptr, n uintptr) (int, error) {
	return m.access(addr, n, true, func(done uintptr, b []byte) {
		clear(b)
	})
}

// CopyInString reads a NUL-terminated string of at most maxLen bytes
// (without the NUL) at addr: ENAMETOOLONG if there is no NUL within maxLen
// bytes, EFAULT if memory ends first.
func (m *MemoryManager) CopyInString(addr uintptr, maxLen int) (string, error) {
	var buf []byte
	for len(buf) <= maxLen {
		// Read up to the end of the page, at most what may still be needed.
		chunk := int(pageSize - (addr+uintptr(len(buf)))&pageMask)
		if rem := maxLen + 1 - len(buf); chunk > rem {
			chunk = rem
		}
		tmp := make([]byte, chunk)
		n, err := m.CopyIn(addr+uintptr(len(buf)), tmp)
		for i := 0; i < n; i++ {
			if tmp[i] == 0 {
				if len(buf)+i > maxLen {
					return "", unix.ENAMETOOLONG
				}
				return string(append(buf, tmp[:i]...)), nil
			}
		}
		if err != nil {
			return "", unix.EFAULT
		}
		buf = append(buf, tmp[:n]...)
	}
	return "", unix.ENAMETOOLONG
}

// WithBlocks faults in [addr, addr+length) (writable if write), takes a
// reference on its pages and calls fn with the sentry's own slices of them,
// with no mm lock held, so fn may do blocking host I/O directly into
// application memory. If only a prefix of the range is valid, fn gets that
// prefix; if none is, WithBlocks returns EFAULT without calling fn.
func (m *MemoryManager) WithBlocks(addr, length uintptr, write bool, fn func(blocks [][]byte) (int, error)) (int, error) {
	if length == 0 {
		return fn(nil)
	}
	n := m.clip(addr, length)
	if n == 0 {
		return 0, unix.EFAULT
	}
	end := addr + n
	m.mappingMu.RLock()
	m.activeMu.Lock()
	valid, err := m.ensureLocked(pageRoundDown(addr), pageRoundUp(end), write)
	if valid < end {
		end = max(valid, addr)
		m.checkOOM(err)
	}
	var acc runAcc
	for p := pageRoundDown(addr); p < end; p += pageSize {
		acc.add(m, p, m.pt.get(p).off())
	}
	acc.cut()
	runs := append([]run(nil), acc.runs...)
	for _, r := range runs {
		m.mf.IncRef(r.fr)
	}
	m.activeMu.Unlock()
	m.mappingMu.RUnlock()
	if end <= addr {
		return 0, unix.EFAULT
	}
	defer func() {
		for _, r := range runs {
			m.mf.DecRef(r.fr)
		}
	}()
	blocks := make([][]byte, 0, len(runs))
	for i, r := range runs {
		fr := r.fr
		if i == 0 {
			fr.Start += uint64(addr - r.addr)
		}
		if i == len(runs)-1 {
			fr.End -= uint64(r.addr + uintptr(r.fr.Len()) - end)
		}
		blocks = append(blocks, m.mf.Slice(fr.Start, fr.Len()))
	}
	return fn(blocks)
}

var _ = memfile.PageSize
