package kernel

import (
	"encoding/binary"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/mm"
)

// futexKey identifies a futex word: the address space and the address.
//
// Shared futexes (without FUTEX_PRIVATE_FLAG) are keyed the same way, so a
// futex in MAP_SHARED memory is only matched between threads of one address
// space; waking across processes that share memory is not implemented yet.
type futexKey struct {
	mm   *mm.MemoryManager
	addr uintptr
}

type futexWaiter struct {
	ch     chan struct{}
	key    futexKey
	bitset uint32
	woken  bool
}

// futexTable holds every futex waiter of the kernel. mu is a leaf lock
// except that it is held across the read of the futex word (mm).
type futexTable struct {
	mu sync.Mutex
	q  map[futexKey][]*futexWaiter
}

func (f *futexTable) init() { f.q = map[futexKey][]*futexWaiter{} }

func (t *Task) futexKey(addr uintptr) futexKey { return futexKey{t.mm, addr} }

func (t *Task) loadFutexWord(addr uintptr) (uint32, error) {
	var b [4]byte
	if _, err := t.CopyIn(addr, b[:]); err != nil {
		return 0, unix.EFAULT
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

// FutexWait blocks while *addr == val, until woken with a matching bitset,
// the deadline (zero: none) or a signal.
func (t *Task) FutexWait(addr uintptr, val, bitset uint32, deadline time.Time) error {
	if addr%4 != 0 {
		return unix.EINVAL
	}
	if bitset == 0 {
		return unix.EINVAL
	}
	f := &t.k.futexes
	f.mu.Lock()
	v, err := t.loadFutexWord(addr)
	if err != nil {
		f.mu.Unlock()
		return err
	}
	if v != val {
		f.mu.Unlock()
		return unix.EAGAIN
	}
	w := &futexWaiter{ch: make(chan struct{}, 1), key: t.futexKey(addr), bitset: bitset}
	f.q[w.key] = append(f.q[w.key], w)
	f.mu.Unlock()

	err = t.BlockDeadline(w.ch, deadline)

	f.mu.Lock()
	defer f.mu.Unlock()
	if w.woken {
		return nil
	}
	f.removeLocked(w)
	if err == nil {
		return nil
	}
	return err
}

func (f *futexTable) removeLocked(w *futexWaiter) {
	ws := f.q[w.key]
	for i, o := range ws {
		if o == w {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(f.q, w.key)
	} else {
		f.q[w.key] = ws
	}
}

// wake wakes up to n waiters of addr whose bitset intersects bitset.
func (f *futexTable) wake(t *Task, addr uintptr, private bool, n int, bitset uint32) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.wakeLocked(t.futexKey(addr), n, bitset)
}

func (f *futexTable) wakeLocked(key futexKey, n int, bitset uint32) int {
	ws := f.q[key]
	woken := 0
	kept := ws[:0]
	for _, w := range ws {
		if woken < n && w.bitset&bitset != 0 {
			w.woken = true
			w.ch <- struct{}{}
			woken++
			continue
		}
		kept = append(kept, w)
	}
	if len(kept) == 0 {
		delete(f.q, key)
	} else {
		f.q[key] = kept
	}
	return woken
}

// FutexWake implements FUTEX_WAKE(_BITSET).
func (t *Task) FutexWake(addr uintptr, n int, bitset uint32) (int, error) {
	if addr%4 != 0 || bitset == 0 {
		return 0, unix.EINVAL
	}
	return t.k.futexes.wake(t, addr, false, n, bitset), nil
}

// FutexRequeue implements FUTEX_REQUEUE and (with cmp) FUTEX_CMP_REQUEUE.
func (t *Task) FutexRequeue(addr, addr2 uintptr, nwake, nreq int, cmp *uint32) (int, error) {
	if addr%4 != 0 || addr2%4 != 0 {
		return 0, unix.EINVAL
	}
	f := &t.k.futexes
	f.mu.Lock()
	defer f.mu.Unlock()
	if cmp != nil {
		v, err := t.loadFutexWord(addr)
		if err != nil {
			return 0, err
		}
		if v != *cmp {
			return 0, unix.EAGAIN
		}
	}
	key, key2 := t.futexKey(addr), t.futexKey(addr2)
	n := f.wakeLocked(key, nwake, ^uint32(0))
	ws := f.q[key]
	moved := 0
	for len(ws) > 0 && moved < nreq {
		w := ws[0]
		ws = ws[1:]
		w.key = key2
		f.q[key2] = append(f.q[key2], w)
		moved++
	}
	if len(ws) == 0 {
		delete(f.q, key)
	} else {
		f.q[key] = ws
	}
	return n + moved, nil
}

// FutexWakeOp implements FUTEX_WAKE_OP.
func (t *Task) FutexWakeOp(addr, addr2 uintptr, nwake, nwake2 int, op uint32) (int, error) {
	if addr%4 != 0 || addr2%4 != 0 {
		return 0, unix.EINVAL
	}
	f := &t.k.futexes
	f.mu.Lock()
	defer f.mu.Unlock()
	old, err := t.loadFutexWord(addr2)
	if err != nil {
		return 0, err
	}
	opType := (op >> 28) & 0x7
	cmpType := (op >> 24) & 0xf
	oparg := (op >> 12) & 0xfff
	cmparg := op & 0xfff
	if op&(linux.FUTEX_OP_OPARG_SHIFT<<28) != 0 {
		if oparg >= 32 {
			return 0, unix.EINVAL
		}
		oparg = 1 << oparg
	}
	var nv uint32
	switch opType {
	case linux.FUTEX_OP_SET:
		nv = oparg
	case linux.FUTEX_OP_ADD:
		nv = old + oparg
	case linux.FUTEX_OP_OR:
		nv = old | oparg
	case linux.FUTEX_OP_ANDN:
		nv = old &^ oparg
	case linux.FUTEX_OP_XOR:
		nv = old ^ oparg
	default:
		return 0, unix.ENOSYS
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], nv)
	if _, err := t.CopyOut(addr2, b[:]); err != nil {
		return 0, unix.EFAULT
	}
	n := f.wakeLocked(t.futexKey(addr), nwake, ^uint32(0))
	var cond bool
	switch cmpType {
	case linux.FUTEX_OP_CMP_EQ:
		cond = old == cmparg
	case linux.FUTEX_OP_CMP_NE:
		cond = old != cmparg
	case linux.FUTEX_OP_CMP_LT:
		cond = int32(old) < int32(cmparg)
	case linux.FUTEX_OP_CMP_LE:
		cond = int32(old) <= int32(cmparg)
	case linux.FUTEX_OP_CMP_GT:
		cond = int32(old) > int32(cmparg)
	case linux.FUTEX_OP_CMP_GE:
		cond = int32(old) >= int32(cmparg)
	default:
		return 0, unix.ENOSYS
	}
	if cond {
		n += f.wakeLocked(t.futexKey(addr2), nwake2, ^uint32(0))
	}
	return n, nil
}

// SetClearChildTID implements set_tid_address.
func (t *Task) SetClearChildTID(addr uintptr) { t.clearChildTID = addr }

// SetRobustList implements set_robust_list.
func (t *Task) SetRobustList(head, length uintptr) { t.robustList, t.robustLen = head, length }

// RobustList returns the robust list head.
func (t *Task) RobustList() (uintptr, uintptr) { return t.robustList, t.robustLen }
