package memfile

import (
	"math"
	"sync/atomic"
)

// Memory accounting (like a memory cgroup).
//
// An Account is charged for the pages allocated with AllocateFor on its
// behalf; each such page remembers its account (a 16-bit id per page, kept
// beside the reference counts) and is uncharged from that account when its
// last reference goes, whoever drops it: a page charged to one account
// stays charged to it while any address space (or cache) uses it, as in
// Linux's memory cgroups. An allocation that would take an account's usage
// above its limit fails with ENOMEM and counts a failure (Failcnt);
// lowering the limit below the usage reclaims nothing, it only refuses new
// charges until enough is freed.
//
// The check is one atomic add and compare, under File.mu which the
// allocation takes anyway. Usage, limit and the counters are atomics, read
// without any lock.
//
// Ids: at most maxAccounts accounts exist at once in a file; an id is
// reused once its account has been released (ReleaseAccount) and holds no
// page. Beyond maxAccounts, NewAccount returns an account that charges
// nothing (its limit is not enforced).

// maxAccounts is the number of account ids (0 means "no account").
const maxAccounts = math.MaxUint16

// Account is a set of charged pages with a limit.
type Account struct {
	// id is the account's index+1 in File.accounts, 0 once released
	// and empty (or if none was free). Guarded by File.mu.
	id uint16
	// released is set by ReleaseAccount. Guarded by File.mu.
	released bool

	usage   atomic.Int64
	limit   atomic.Int64 // bytes; 0: no limit
	peak    atomic.Int64
	failcnt atomic.Uint64
}

// NewAccount returns an account with no limit and no usage.
func (f *File) NewAccount() *Account {
	a := &Account{}
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.freeIDs); n > 0 {
		a.id = f.freeIDs[n-1]
		f.freeIDs = f.freeIDs[:n-1]
		f.accounts[a.id-1] = a
		return a
	}
	if len(f.accounts) < maxAccounts {
		f.accounts = append(f.accounts, a)
		a.id = uint16(len(f.accounts))
	}
	return a
}

// ReleaseAccount says a will not be charged any more (its container is
// gone). Its id is reused once the pages still charged to it are freed;
// a's figures stay readable.
func (f *File) ReleaseAccount(a *Account) {
	if a == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	a.released = true
	f.maybeFreeIDLocked(a)
}

func (f *File) maybeFreeIDLocked(a *Account) {
	if a.released && a.id != 0 && a.usage.Load() == 0 {
		f.accounts[a.id-1] = nil
		f.freeIDs = append(f.freeIDs, a.id)
		a.id = 0
	}
}

// SetLimit sets the most bytes a may be charged (0: no limit). A limit
// below the current usage frees nothing: new charges fail until the usage
// is below it again.
func (a *Account) SetLimit(bytes uint64) {
	if bytes > math.MaxInt64 {
		bytes = 0
	}
	a.limit.Store(int64(bytes))
}

// Limit returns the limit (0: none).
func (a *Account) Limit() uint64 { return uint64(a.limit.Load()) }

// Usage returns the bytes currently charged.
func (a *Account) Usage() uint64 { return uint64(max(a.usage.Load(), 0)) }

// Peak returns the most bytes ever charged at once.
func (a *Account) Peak() uint64 { return uint64(a.peak.Load()) }

// Failcnt returns how many charges failed because of the limit.
func (a *Account) Failcnt() uint64 { return a.failcnt.Load() }

// tryCharge charges n bytes unless that exceeds the limit.
func (a *Account) tryCharge(n int64) bool {
	u := a.usage.Add(n)
	if l := a.limit.Load(); l > 0 && u > l {
		a.usage.Add(-n)
		a.failcnt.Add(1)
		return false
	}
	for {
		p := a.peak.Load()
		if u <= p || a.peak.CompareAndSwap(p, u) {
			return true
		}
	}
}

// AllocateFor is Allocate charging the pages to a (nil: to nobody). It
// fails with ENOMEM if the charge would exceed a's limit or the file is
// full.
func (f *File) AllocateFor(length uint64, a *Account) (Range, error) {
	return f.allocate(length, a)
}

// ownerLocked returns the owner slot of the page at off, allocating its
// chunk if create.
func (f *File) ownerLocked(off uint64, create bool) *uint16 {
	page := off / PageSize
	chunk := page / refChunkPages
	if uint64(len(f.owners)) <= chunk {
		if !create {
			return nil
		}
		f.owners = append(f.owners, make([][]uint16, chunk+1-uint64(len(f.owners)))...)
	}
	if f.owners[chunk] == nil {
		if !create {
			return nil
		}
		f.owners[chunk] = make([]uint16, refChunkPages)
	}
	return &f.owners[chunk][page%refChunkPages]
}

// setOwnerLocked records a as the account of every page of r.
func (f *File) setOwnerLocked(r Range, a *Account) {
	for p := r.Start; p < r.End; p += PageSize {
		*f.ownerLocked(p, true) = a.id
	}
}

// unchargeLocked uncharges the pages of r (being freed) from their
// accounts and forgets their owners.
func (f *File) unchargeLocked(r Range) {
	if len(f.owners) == 0 {
		return
	}
	var cur uint16
	var n int64
	flush := func() {
		if cur != 0 && n > 0 {
			if a := f.accounts[cur-1]; a != nil {
				a.usage.Add(-n)
				f.maybeFreeIDLocked(a)
			}
		}
		n = 0
	}
	for p := r.Start; p < r.End; p += PageSize {
		o := f.ownerLocked(p, false)
		if o == nil {
			// A whole chunk without owners: skip to its end.
			p = (p/(refChunkPages*PageSize)+1)*refChunkPages*PageSize - PageSize
			continue
		}
		if *o == 0 {
			continue
		}
		if *o != cur {
			flush()
			cur = *o
		}
		n += PageSize
		*o = 0
	}
	flush()
}
