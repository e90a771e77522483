package mm

import (
	"errors"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/memfile"
)

// Memory accounting.
//
// An address space may be charged to a memfile.Account (its container's,
// like a memory cgroup): every page it allocates itself is charged there
// until the page is freed — anonymous pages, private copies made on write
// (copy-on-write after fork, private file mappings), fork's eager copies,
// and the pages of shared anonymous mappings it creates. Pages translated
// from a Mappable (page cache of host files, tmpfs) are not charged: they
// belong to the file, not to the address space, and count only against the
// pod's memory file. A charge happens inside memfile.AllocateFor (one
// atomic add and compare); a page shared copy-on-write by a fork stays
// charged once, to the account that allocated it.
//
// A charge that fails (the account's limit, or the pod's memory file is
// full) fails the allocation with ENOMEM:
//
//   - in HandleFault, which returns ENOMEM and the caller (the kernel)
//     kills the faulting process;
//   - in a sentry access (CopyOut, ZeroOut, WithBlocks..., as a read(2)
//     into a fresh buffer does), which returns its short count or EFAULT
//     as for an unmapped page, and, when the account is at its limit
//     (not when only the pod's memory file is full, see checkOOM), the
//     OOM handler given to SetAccounting is called with the address
//     space, in a new goroutine (the caller may hold any lock), at most
//     one at a time per address space. The application may therefore see
//     the short access before the handler has killed it.

// SetAccounting makes m charge the pages it allocates from now on to acct
// (nil: nobody) and call onOOM (nil: nothing) when a sentry access to m
// fails for lack of memory. It must be called before m is shared; Fork
// children inherit both.
func (m *MemoryManager) SetAccounting(acct *memfile.Account, onOOM func(*MemoryManager)) {
	m.acct, m.onOOM = acct, onOOM
}

// Account returns the account m charges (nil: none).
func (m *MemoryManager) Account() *memfile.Account { return m.acct }

// checkOOM calls the OOM handler if err says an allocation failed because
// m's container is at its memory limit. When the pod's memory file itself
// is full the access only fails (EFAULT or a short count): the process
// doing it may be an innocent one (a parent reading into a fresh buffer
// while its children hold the memory), and a page fault by whoever next
// touches memory kills that process, as before.
func (m *MemoryManager) checkOOM(err error) {
	if m.onOOM == nil || !errors.Is(err, unix.ENOMEM) || !m.atLimit() || !m.oomQueue.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer m.oomQueue.Store(false)
		m.onOOM(m)
	}()
}

// atLimit reports whether m's account has a limit that one more page would
// exceed.
func (m *MemoryManager) atLimit() bool {
	a := m.acct
	if a == nil {
		return false
	}
	limit := a.Limit()
	return limit != 0 && a.Usage()+memfile.PageSize > limit
}
