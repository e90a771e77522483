package vfs

import (
	"math"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

// Advisory locks live here, per inode, so every filesystem gets them:
// POSIX record locks (fcntl F_SETLK; owned by the FDTable, i.e. the
// process), OFD locks (F_OFD_SETLK; owned by the FileDescription) and
// flock(2) locks (owned by the FileDescription). They never block: a
// conflicting request fails with EAGAIN and a waiter can register on the
// inode's lock queue (FileDescription.LockEventRegister) to learn when
// locks are released.

// LockEOF is the end of a lock that extends to the end of file.
const LockEOF = math.MaxUint64

// Lock types (the F_RDLCK/F_WRLCK values).
const (
	ReadLock  = unix.F_RDLCK
	WriteLock = unix.F_WRLCK
	UnlockOp  = unix.F_UNLCK
)

type recordLock struct {
	owner      any
	pid        int32
	start, end uint64 // [start, end)
	typ        int16
}

type flockLock struct {
	owner *FileDescription
	typ   int16
}

type inodeLocks struct {
	records []recordLock
	flocks  []flockLock
	queue   waiter.Queue
}

type lockTable struct {
	mu     sync.Mutex
	inodes map[Inode]*inodeLocks
}

func (lt *lockTable) init() { lt.inodes = map[Inode]*inodeLocks{} }

func (lt *lockTable) getLocked(ino Inode, create bool) *inodeLocks {
	il := lt.inodes[ino]
	if il == nil && create {
		il = &inodeLocks{}
		lt.inodes[ino] = il
	}
	return il
}

func (lt *lockTable) gcLocked(ino Inode, il *inodeLocks) {
	if len(il.records) == 0 && len(il.flocks) == 0 && il.queue.Empty() {
		delete(lt.inodes, ino)
	}
}

// releaseOwner drops every lock owner holds on ino.
func (lt *lockTable) releaseOwner(ino Inode, owner any) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	il := lt.inodes[ino]
	if il == nil {
		return
	}
	changed := false
	recs := il.records[:0]
	for _, r := range il.records {
		if r.owner == owner {
			changed = true
			continue
		}
		recs = append(recs, r)
	}
	il.records = recs
	fl := il.flocks[:0]
	for _, f := range il.flocks {
		if any(f.owner) == owner {
			changed = true
			continue
		}
		fl = append(fl, f)
	}
	il.flocks = fl
	if changed {
		il.queue.Notify(waiter.EventIn)
	}
	lt.gcLocked(ino, il)
}

// LockInfo describes a conflicting lock (F_GETLK).
type LockInfo struct {
	Type       int16
	Start, End uint64
	PID        int32
}

func overlaps(a, b recordLock) bool { return a.start < b.end && b.start < a.end }

// conflictLocked returns the first lock of another owner that conflicts
// with req.
func (il *inodeLocks) conflictLocked(req recordLock) *recordLock {
	for i := range il.records {
		r := &il.records[i]
		if r.owner == req.owner || !overlaps(*r, req) {
			continue
		}
		if r.typ == WriteLock || req.typ == WriteLock {
			return r
		}
	}
	return nil
}

// LockRecord sets (typ ReadLock/WriteLock) or clears (UnlockOp) a record
// lock on [start, end) for owner (the FDTable for POSIX locks, the
// FileDescription for OFD locks); pid is reported by F_GETLK. A conflict
// gives EAGAIN. Read locks need the file open for reading, write locks for
// writing (EBADF).
func (fd *FileDescription) LockRecord(owner any, pid int32, typ int16, start, end uint64) error {
	switch typ {
	case ReadLock:
		if !fd.readable {
			return unix.EBADF
		}
	case WriteLock:
		if !fd.writable {
			return unix.EBADF
		}
	case UnlockOp:
	default:
		return unix.EINVAL
	}
	if start >= end {
		return unix.EINVAL
	}
	lt := &fd.vfs.locks
	ino := fd.vd.Dentry.inode
	lt.mu.Lock()
	defer lt.mu.Unlock()
	il := lt.getLocked(ino, typ != UnlockOp)
	if il == nil {
		return nil
	}
	req := recordLock{owner: owner, pid: pid, start: start, end: end, typ: typ}
	if typ != UnlockOp && il.conflictLocked(req) != nil {
		return unix.EAGAIN
	}
	// Cut [start, end) out of the owner's existing locks.
	var out []recordLock
	for _, r := range il.records {
		if r.owner != owner || !overlaps(r, req) {
			out = append(out, r)
			continue
		}
		if r.start < start {
			left := r
			left.end = start
			out = append(out, left)
		}
		if r.end > end {
			right := r
			right.start = end
			out = append(out, right)
		}
	}
	if typ != UnlockOp {
		out = append(out, req)
	}
	il.records = out
	il.queue.Notify(waiter.EventIn)
	lt.gcLocked(ino, il)
	return nil
}

// TestRecord reports the first lock conflicting with a typ lock of owner
// on [start, end), or nil (F_GETLK).
func (fd *FileDescription) TestRecord(owner any, typ int16, start, end uint64) *LockInfo {
	lt := &fd.vfs.locks
	lt.mu.Lock()
	defer lt.mu.Unlock()
	il := lt.getLocked(fd.vd.Dentry.inode, false)
	if il == nil {
		return nil
	}
	c := il.conflictLocked(recordLock{owner: owner, start: start, end: end, typ: typ})
	if c == nil {
		return nil
	}
	return &LockInfo{Type: c.typ, Start: c.start, End: c.end, PID: c.pid}
}

// Flock implements flock(2) for op LOCK_SH, LOCK_EX or LOCK_UN (without
// LOCK_NB: the caller handles blocking). A conflict gives EWOULDBLOCK.
func (fd *FileDescription) Flock(op int) error {
	var typ int16
	switch op {
	case unix.LOCK_SH:
		typ = ReadLock
	case unix.LOCK_EX:
		typ = WriteLock
	case unix.LOCK_UN:
		typ = UnlockOp
	default:
		return unix.EINVAL
	}
	lt := &fd.vfs.locks
	ino := fd.vd.Dentry.inode
	lt.mu.Lock()
	defer lt.mu.Unlock()
	il := lt.getLocked(ino, typ != UnlockOp)
	if il == nil {
		return nil
	}
	if typ != UnlockOp {
		for _, f := range il.flocks {
			if f.owner != fd && (f.typ == WriteLock || typ == WriteLock) {
				return unix.EWOULDBLOCK
			}
		}
	}
	fl := il.flocks[:0]
	for _, f := range il.flocks {
		if f.owner != fd {
			fl = append(fl, f)
		}
	}
	if typ != UnlockOp {
		fl = append(fl, flockLock{fd, typ})
	}
	il.flocks = fl
	il.queue.Notify(waiter.EventIn)
	lt.gcLocked(ino, il)
	return nil
}

// LockEventRegister registers e to be notified (EventIn) whenever a lock on
// the file's inode is released or changed; a blocking F_SETLKW or flock
// registers, retries, and waits on e.C.
func (fd *FileDescription) LockEventRegister(e *waiter.Entry) {
	lt := &fd.vfs.locks
	lt.mu.Lock()
	defer lt.mu.Unlock()
	lt.getLocked(fd.vd.Dentry.inode, true).queue.EventRegister(e, waiter.EventIn)
}

// LockEventUnregister undoes LockEventRegister.
func (fd *FileDescription) LockEventUnregister(e *waiter.Entry) {
	lt := &fd.vfs.locks
	ino := fd.vd.Dentry.inode
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if il := lt.getLocked(ino, false); il != nil {
		il.queue.EventUnregister(e)
		lt.gcLocked(ino, il)
	}
}
