package syscalls

import (
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/arch"
	"github.com/runsc-cri/runsc-cri/sentry/kernel"
)

func init() {
	addFamily(map[uintptr]Entry{
		unix.SYS_FUTEX: {Handler: Futex, Support: Partial, Note: "PI futexes return ENOSYS; shared futexes match within one address space only"},
	})
}

// Futex implements Linux syscall futex(2).
func Futex(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	addr := a[0]
	op := a.Int(1)
	val := a.Uint(2)
	cmd := op &^ (linux.FUTEX_PRIVATE_FLAG | linux.FUTEX_CLOCK_REALTIME)
	switch cmd {
	case linux.FUTEX_WAIT, linux.FUTEX_WAIT_BITSET:
		bitset := ^uint32(0)
		if cmd == linux.FUTEX_WAIT_BITSET {
			bitset = a.Uint(5)
		}
		var deadline time.Time
		if a[3] != 0 {
			var ts linux.Timespec
			if err := copyInObj(t, a[3], &ts); err != nil {
				return 0, err
			}
			if !ts.Valid() {
				return 0, unix.EINVAL
			}
			if cmd == linux.FUTEX_WAIT {
				// Relative timeout.
				deadline = time.Now().Add(time.Duration(ts.ToNsec()))
			} else if op&linux.FUTEX_CLOCK_REALTIME != 0 {
				deadline = time.Unix(0, ts.ToNsec())
			} else {
				deadline = monotonicToTime(ts.ToNsec())
			}
		}
		err := t.FutexWait(addr, val, bitset, deadline)
		if err == kernel.ERESTARTSYS {
			if cmd == linux.FUTEX_WAIT && a[3] != 0 {
				return 0, unix.EINTR
			}
			return 0, kernel.ERESTARTSYS
		}
		return 0, err
	case linux.FUTEX_WAKE, linux.FUTEX_WAKE_BITSET:
		bitset := ^uint32(0)
		if cmd == linux.FUTEX_WAKE_BITSET {
			bitset = a.Uint(5)
		}
		n, err := t.FutexWake(addr, int(int32(val)), bitset)
		return uintptr(n), err
	case linux.FUTEX_REQUEUE:
		n, err := t.FutexRequeue(addr, a[4], int(int32(val)), int(int32(a[3])), nil)
		return uintptr(n), err
	case linux.FUTEX_CMP_REQUEUE:
		cmp := a.Uint(5)
		n, err := t.FutexRequeue(addr, a[4], int(int32(val)), int(int32(a[3])), &cmp)
		return uintptr(n), err
	case linux.FUTEX_WAKE_OP:
		n, err := t.FutexWakeOp(addr, a[4], int(int32(val)), int(int32(a[3])), a.Uint(5))
		return uintptr(n), err
	case linux.FUTEX_LOCK_PI, linux.FUTEX_UNLOCK_PI, linux.FUTEX_TRYLOCK_PI,
		linux.FUTEX_WAIT_REQUEUE_PI, linux.FUTEX_CMP_REQUEUE_PI, futexLockPI2:
		return 0, unix.ENOSYS
	}
	return 0, unix.ENOSYS
}
