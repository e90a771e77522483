// Package mm is the sentry's memory manager: it owns an application's
// virtual address space, the pages of the memory file (sentry/memfile) that
// back it, and the mirror of both in the platform's AddressSpace.
//
// # Model
//
// An address space is a sorted list of VMAs (vma.go): ranges of virtual
// addresses with permissions, private or shared, anonymous or backed by a
// memmap.Mappable at an offset. Which memory-file page backs which virtual
// page is recorded separately, in a four-level radix page table keyed by
// virtual address (pagetable.go). Every present page-table entry holds one
// reference on its memory-file page. Splitting, merging or moving VMAs never
// touches the pages; unmapping a range first unmaps it in the AddressSpace
// and then drops the references.
//
// Private pages are copy-on-write: a page translated from a Mappable, or an
// anonymous page shared with a fork()ed address space, carries the COW bit and
// is mapped without write permission; the first write copies it (or, for an
// anonymous page whose reference count has dropped back to one, simply takes
// it). Shared pages of a writable mapping are first mapped read-only too
// ("clean"); the first write re-translates them with forWrite so the Mappable
// knows they may be dirty. Shared anonymous mappings are backed by an
// internal Mappable (shm.go), so fork and mremap treat them like files.
//
// The platform's vDSO (platform.VDSOProvider), when it has one, appears as
// special VMAs ([vvar], [vdso]) above maxAddr in every MemoryManager, Fork
// and exec alike. They are never backed by the memory file (the platform
// maps them itself, the same in every address space) and the application
// cannot change them: mmap never places anything there, MAP_FIXED,
// munmap, mprotect and mincore of them fail like any range beyond maxAddr
// (ENOMEM/EINVAL), mremap of them and madvise that would drop, populate or
// exclude them from fork fail with EINVAL, a fault in them (a write) is
// SIGSEGV/SEGV_ACCERR, and the sentry's own accesses (write(2) from the
// vDSO) fail with EFAULT. Linux would let an application unmap or move its
// vDSO; refusing keeps every address space of the sandbox identical there
// (a fork child's stub always has it).
//
// Pages are materialised lazily by HandleFault (fault.go) with fault-around,
// or by the sentry's own accesses (CopyIn/CopyOut/WithBlocks, io.go), which
// fill pages without mapping them in the AddressSpace. Each entry remembers
// with which permissions it is mapped in the AddressSpace; a fault on a page
// already mapped readable is therefore a write or an exec (the ptrace
// platform cannot tell).
//
// Pages an address space allocates are charged to its container's
// memfile.Account when it has one (account.go: what is charged, and what
// happens when a charge fails).
//
// # Locking
//
// Lock order: mappingMu (RW; the VMAs, brk, layout) before activeMu (the page
// table and the AddressSpace mirror) before any Mappable's own locks before
// memfile.File.mu. Changes to VMAs take mappingMu for writing; faults and
// copies take it for reading and then activeMu. The platform's AddressSpace
// (MapFile/Unmap) is called with activeMu held, so that the host mappings
// never lag behind the page table (a page is always unmapped from the host
// before its reference is dropped). A thread inside Context.Switch holds no mm
// lock, so this cannot deadlock with a switching thread. WithBlocks calls its
// function with no mm lock held (it holds page references instead), because
// host I/O may block indefinitely. metaMu guards argv/env/auxv only and is a
// leaf.
package mm

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/runsc-cri/runsc-cri/platform"
	"github.com/runsc-cri/runsc-cri/sentry/memfile"
)

const (
	pageSize  = memfile.PageSize
	pageShift = 12
	pageMask  = pageSize - 1
)

// Signal numbers and codes of FaultError.
const (
	SIGBUS      = 7
	SIGSEGV     = 11
	SEGV_MAPERR = 1
	SEGV_ACCERR = 2
	BUS_ADRERR  = 2
)

// FaultError is returned by HandleFault when the application must receive a
// signal for the access.
type FaultError struct {
	Signo int32
	Code  int32
	Addr  uintptr
}

func (e *FaultError) Error() string {
	return fmt.Sprintf("fault at %#x: signal %d code %d", e.Addr, e.Signo, e.Code)
}

// MemoryManager is one application address space.
type MemoryManager struct {
	p  platform.Platform
	mf *memfile.File
	as platform.AddressSpace

	minAddr, maxAddr uintptr
	// vdsoBase is the address of the platform's vDSO image (0: none).
	// Set by New, immutable.
	vdsoBase uintptr

	usersMu sync.Mutex
	users   int // guarded by usersMu

	// acct is charged for the pages m allocates and onOOM told when an
	// allocation for a sentry access fails (account.go). Set before m is
	// used (SetAccounting), then immutable; Fork copies them.
	acct     *memfile.Account
	onOOM    func(*MemoryManager)
	oomQueue atomic.Bool

	mappingMu sync.RWMutex
	// vmas is sorted by start and non-overlapping. Guarded by mappingMu.
	vmas []*vma
	// mmapBase is where top-down placement starts. Guarded by mappingMu.
	mmapBase uintptr
	// brkStart and brk are the program break. Guarded by mappingMu.
	brkStart, brk uintptr
	// released is set once DecUsers released everything. Guarded by mappingMu.
	released bool

	activeMu sync.Mutex
	// pt maps virtual pages to memory-file pages. Guarded by activeMu.
	pt pageTable
	// mapGen counts MapFile calls; suspects remembers pages whose fault
	// looked like an access violation (see fault.go). Guarded by activeMu.
	mapGen   uint64
	suspects map[uintptr]suspect

	metaMu                               sync.Mutex
	argvStart, argvEnd, envStart, envEnd uintptr
	auxv                                 []uint64
}

// New returns an empty memory manager with one user and a fresh AddressSpace.
func New(p platform.Platform, mf *memfile.File) (*MemoryManager, error) {
	as, err := p.NewAddressSpace()
	if err != nil {
		return nil, err
	}
	m := &MemoryManager{
		p:       p,
		mf:      mf,
		as:      as,
		minAddr: pageRoundUp(p.MinUserAddress()),
		maxAddr: p.MaxUserAddress() &^ pageMask,
		users:   1,
	}
	if m.minAddr == 0 {
		m.minAddr = pageSize
	}
	m.mmapBase = m.defaultMmapBase()
	if vp, ok := p.(platform.VDSOProvider); ok {
		if v, ok := vp.VDSO(); ok {
			m.addVDSO(v)
		}
	}
	return m, nil
}

// addVDSO records the platform's vDSO mappings as special VMAs (see the
// package comment). A vDSO that is malformed or reaches into
// [minAddr, maxAddr) is ignored: the application then runs without one.
func (m *MemoryManager) addVDSO(v platform.VDSO) {
	var vmas []*vma
	prev, baseOK := uintptr(0), false
	for _, r := range v.Mappings {
		if r.Start < prev || r.End <= r.Start || r.Start&pageMask != 0 || r.End&pageMask != 0 ||
			r.Access.Write || r.Start < m.maxAddr && r.End > m.minAddr {
			return
		}
		prev = r.End
		baseOK = baseOK || r.Start <= v.Base && v.Base < r.End
		vmas = append(vmas, &vma{
			start:    r.Start,
			end:      r.End,
			perms:    r.Access,
			maxPerms: r.Access,
			private:  true,
			name:     r.Name,
			special:  true,
		})
	}
	if !baseOK {
		return
	}
	for _, x := range vmas {
		m.insert(x)
	}
	m.vdsoBase = v.Base
}

// VDSOBase returns the address of the vDSO's ELF image, for
// AT_SYSINFO_EHDR, or 0 if the platform provides no vDSO.
func (m *MemoryManager) VDSOBase() uintptr { return m.vdsoBase }

// defaultGap is the room left for the stack below MaxUserAddress (Linux's
// minimum mmap gap).
const defaultGap = 128 << 20

func (m *MemoryManager) defaultMmapBase() uintptr {
	if m.maxAddr-m.minAddr > 2*defaultGap {
		return m.maxAddr - defaultGap
	}
	return m.maxAddr
}

// AddressSpace returns the platform address space.
func (m *MemoryManager) AddressSpace() platform.AddressSpace { return m.as }

// MemoryFile returns the memory file holding the pages.
func (m *MemoryManager) MemoryFile() *memfile.File { return m.mf }

// Bounds returns the application address range [min, max).
func (m *MemoryManager) Bounds() (min, max uintptr) { return m.minAddr, m.maxAddr }

// MmapBase returns where top-down mmap placement starts.
func (m *MemoryManager) MmapBase() uintptr {
	m.mappingMu.RLock()
	defer m.mappingMu.RUnlock()
	return m.mmapBase
}

// SetMmapBase sets where top-down mmap placement starts (the loader puts it
// below the stack).
func (m *MemoryManager) SetMmapBase(addr uintptr) {
	addr &^= pageMask
	m.mappingMu.Lock()
	defer m.mappingMu.Unlock()
	if addr > m.minAddr && addr <= m.maxAddr {
		m.mmapBase = addr
	}
}

// IncUsers adds a user (a CLONE_VM sharer).
func (m *MemoryManager) IncUsers() {
	m.usersMu.Lock()
	defer m.usersMu.Unlock()
	if m.users <= 0 {
		panic("mm: IncUsers on a released MemoryManager")
	}
	m.users++
}

// DecUsers drops a user; the last one releases every page and the address
// space.
func (m *MemoryManager) DecUsers() {
	m.usersMu.Lock()
	m.users--
	last := m.users == 0
	m.usersMu.Unlock()
	if last {
		m.release()
	}
}

func (m *MemoryManager) release() {
	m.mappingMu.Lock()
	defer m.mappingMu.Unlock()
	m.activeMu.Lock()
	defer m.activeMu.Unlock()
	if m.released {
		return
	}
	m.released = true
	// The address space goes first: nothing may reach the pages once their
	// references are gone.
	m.as.Release()
	var acc runAcc
	m.pt.walk(m.minAddr, m.maxAddr, func(addr uintptr, e pte) pte {
		acc.add(m, addr, e.off())
		return 0
	})
	acc.flushDecRef(m)
	for _, v := range m.vmas {
		v.removeMapping(v.start, v.end)
	}
	m.vmas = nil
}

// SetArgvEnv records where argv and envp strings live (for /proc/self/cmdline
// and environ).
func (m *MemoryManager) SetArgvEnv(argvStart, argvEnd, envStart, envEnd uintptr) {
	m.metaMu.Lock()
	defer m.metaMu.Unlock()
	m.argvStart, m.argvEnd, m.envStart, m.envEnd = argvStart, argvEnd, envStart, envEnd
}

// ArgvEnv returns what SetArgvEnv recorded.
func (m *MemoryManager) ArgvEnv() (argvStart, argvEnd, envStart, envEnd uintptr) {
	m.metaMu.Lock()
	defer m.metaMu.Unlock()
	return m.argvStart, m.argvEnd, m.envStart, m.envEnd
}

// SetAuxv records the auxiliary vector (for /proc/self/auxv).
func (m *MemoryManager) SetAuxv(auxv []uint64) {
	m.metaMu.Lock()
	defer m.metaMu.Unlock()
	m.auxv = append([]uint64(nil), auxv...)
}

// Auxv returns a copy of the auxiliary vector.
func (m *MemoryManager) Auxv() []uint64 {
	m.metaMu.Lock()
	defer m.metaMu.Unlock()
	return append([]uint64(nil), m.auxv...)
}

// VirtualSize returns the total size of all VMAs.
func (m *MemoryManager) VirtualSize() uint64 {
	m.mappingMu.RLock()
	defer m.mappingMu.RUnlock()
	var n uint64
	for _, v := range m.vmas {
		n += uint64(v.end - v.start)
	}
	return n
}

// ResidentSize returns the bytes of pages currently present.
func (m *MemoryManager) ResidentSize() uint64 {
	m.activeMu.Lock()
	defer m.activeMu.Unlock()
	return m.pt.present * pageSize
}

func pageRoundUp(a uintptr) uintptr   { return (a + pageMask) &^ pageMask }
func pageRoundDown(a uintptr) uintptr { return a &^ pageMask }

// rangeOK checks that [addr, addr+length) neither overflows nor leaves the
// user range; length > 0.
func (m *MemoryManager) rangeOK(addr, length uintptr) bool {
	end := addr + length
	return length > 0 && end > addr && addr >= m.minAddr && end <= m.maxAddr
}
