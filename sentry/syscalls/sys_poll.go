package syscalls

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/arch"
	"github.com/runsc-cri/runsc-cri/sentry/kernel"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

func init() {
	addFamily(map[uintptr]Entry{
		unix.SYS_POLL:     {Handler: Poll, Support: Full},
		unix.SYS_PPOLL:    {Handler: Ppoll, Support: Full},
		unix.SYS_SELECT:   {Handler: Select, Support: Full},
		unix.SYS_PSELECT6: {Handler: Pselect6, Support: Full},
	})
}

// pollTarget is one file being polled.
type pollTarget struct {
	file   *vfs.FileDescription
	events waiter.EventMask
}

// alwaysPolled are reported whether asked for or not.
const alwaysPolled = waiter.EventErr | waiter.EventHUp

// waitReady polls targets until fn reports something ready, the deadline
// passes (zero: forever; past: no waiting) or a signal arrives.
func waitReady(t *kernel.Task, targets []pollTarget, deadline time.Time, noWait bool, check func() int) (int, error) {
	if n := check(); n > 0 || noWait {
		return n, nil
	}
	e := waiter.NewEntry()
	for _, p := range targets {
		if p.file != nil {
			p.file.EventRegister(e, p.events|alwaysPolled)
		}
	}
	defer func() {
		for _, p := range targets {
			if p.file != nil {
				p.file.EventUnregister(e)
			}
		}
	}()
	for {
		if n := check(); n > 0 {
			return n, nil
		}
		if err := t.BlockDeadline(e.C, deadline); err != nil {
			if err == unix.ETIMEDOUT {
				return check(), nil
			}
			return 0, err
		}
	}
}

// doPoll implements poll/ppoll over the pollfd array at addr.
func doPoll(t *kernel.Task, addr uintptr, nfds uint, deadline time.Time, noWait bool) (uintptr, error) {
	if cur, _ := t.Rlimit(linux.RLIMIT_NOFILE); uint64(nfds) > cur || nfds > 1<<20 {
		return 0, unix.EINVAL
	}
	buf := make([]byte, 8*nfds)
	if nfds > 0 {
		if _, err := t.CopyIn(addr, buf); err != nil {
			return 0, unix.EFAULT
		}
	}
	targets := make([]pollTarget, nfds)
	fds := make([]int32, nfds)
	revents := make([]uint16, nfds)
	for i := range targets {
		fds[i] = int32(binary.LittleEndian.Uint32(buf[8*i:]))
		ev := waiter.EventMask(binary.LittleEndian.Uint16(buf[8*i+4:]))
		targets[i].events = ev
		if fds[i] >= 0 {
			f, _ := t.FDTable().Get(fds[i])
			targets[i].file = f
		}
	}
	defer func() {
		for _, p := range targets {
			if p.file != nil {
				p.file.DecRef(t)
			}
		}
	}()
	check := func() int {
		n := 0
		for i, p := range targets {
			revents[i] = 0
			switch {
			case fds[i] < 0:
			case p.file == nil:
				revents[i] = linux.POLLNVAL
			default:
				revents[i] = uint16(p.file.Readiness(p.events | alwaysPolled))
			}
			if revents[i] != 0 {
				n++
			}
		}
		return n
	}
	n, err := waitReady(t, targets, deadline, noWait, check)
	if err != nil {
		if err == kernel.ERESTARTSYS {
			return 0, kernel.ERESTARTNOHAND
		}
		return 0, err
	}
	for i := range targets {
		binary.LittleEndian.PutUint16(buf[8*i+6:], revents[i])
	}
	if nfds > 0 {
		if _, err := t.CopyOut(addr, buf); err != nil {
			return 0, unix.EFAULT
		}
	}
	return uintptr(n), nil
}

// Poll implements Linux syscall poll(2).
func Poll(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	timeout := a.Int(2)
	var deadline time.Time
	noWait := timeout == 0
	if timeout > 0 {
		deadline = time.Now().Add(time.Duration(timeout) * time.Millisecond)
	}
	return doPoll(t, a[0], uint(a.Uint(1)), deadline, noWait)
}

// timespecDeadline reads a relative timespec (nil pointer: no timeout).
func timespecDeadline(t *kernel.Task, addr uintptr) (time.Time, bool, error) {
	if addr == 0 {
		return time.Time{}, false, nil
	}
	var ts linux.Timespec
	if err := copyInObj(t, addr, &ts); err != nil {
		return time.Time{}, false, err
	}
	if !ts.Valid() {
		return time.Time{}, false, unix.EINVAL
	}
	d := time.Duration(ts.ToNsec())
	return time.Now().Add(d), d == 0, nil
}

// withSigmask runs fn with the signal mask at maskAddr installed (ppoll,
// pselect6, epoll_pwait): the old mask returns after a handler runs or when
// fn returns without being interrupted.
func withSigmask(t *kernel.Task, maskAddr uintptr, fn func() (uintptr, error)) (uintptr, error) {
	if maskAddr == 0 {
		return fn()
	}
	mask, err := copyInSigset(t, maskAddr, 8)
	if err != nil {
		return 0, err
	}
	t.SetSavedSignalMask(mask)
	rv, err := fn()
	if err != kernel.ERESTARTNOHAND && err != unix.EINTR {
		t.RestoreSavedMask()
	}
	return rv, err
}

// Ppoll implements Linux syscall ppoll(2).
func Ppoll(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	deadline, noWait, err := timespecDeadline(t, a[2])
	if err != nil {
		return 0, err
	}
	if a[3] != 0 && a[4] != 8 {
		return 0, unix.EINVAL
	}
	return withSigmask(t, a[3], func() (uintptr, error) {
		return doPoll(t, a[0], uint(a.Uint(1)), deadline, noWait)
	})
}

// doSelect implements select/pselect6 over the three fd_set bitmaps.
func doSelect(t *kernel.Task, nfds int, readAddr, writeAddr, exceptAddr uintptr, deadline time.Time, noWait bool) (uintptr, error) {
	if nfds < 0 || nfds > 1<<20 {
		return 0, unix.EINVAL
	}
	nbytes := (nfds + 7) / 8
	sets := [3][]byte{}
	addrs := [3]uintptr{readAddr, writeAddr, exceptAddr}
	masks := [3]waiter.EventMask{
		waiter.ReadableEvents | waiter.EventHUp | waiter.EventErr,
		waiter.WritableEvents | waiter.EventErr,
		waiter.EventPri,
	}
	for i, addr := range addrs {
		if addr == 0 {
			continue
		}
		sets[i] = make([]byte, nbytes)
		if _, err := t.CopyIn(addr, sets[i]); err != nil {
			return 0, unix.EFAULT
		}
	}
	type sel struct {
		fd   int32
		file *vfs.FileDescription
		want [3]bool
	}
	var sels []sel
	var targets []pollTarget
	for fd := 0; fd < nfds; fd++ {
		var s sel
		any := false
		for i := range sets {
			if sets[i] != nil && sets[i][fd/8]&(1<<(fd%8)) != 0 {
				s.want[i] = true
				any = true
			}
		}
		if !any {
			continue
		}
		f, _ := t.FDTable().Get(int32(fd))
		if f == nil {
			for _, o := range sels {
				o.file.DecRef(t)
			}
			return 0, unix.EBADF
		}
		s.fd, s.file = int32(fd), f
		sels = append(sels, s)
		var ev waiter.EventMask
		for i := range masks {
			if s.want[i] {
				ev |= masks[i]
			}
		}
		targets = append(targets, pollTarget{file: f, events: ev})
	}
	defer func() {
		for _, s := range sels {
			s.file.DecRef(t)
		}
	}()
	out := [3][]byte{}
	check := func() int {
		n := 0
		for i := range out {
			if sets[i] != nil {
				out[i] = make([]byte, nbytes)
			}
		}
		for _, s := range sels {
			r := s.file.Readiness(waiter.AllEvents &^ waiter.EventInternal)
			for i := range masks {
				if s.want[i] && r&masks[i] != 0 {
					out[i][s.fd/8] |= 1 << (s.fd % 8)
					n++
				}
			}
		}
		return n
	}
	n, err := waitReady(t, targets, deadline, noWait, check)
	if err != nil {
		if err == kernel.ERESTARTSYS {
			return 0, kernel.ERESTARTNOHAND
		}
		return 0, err
	}
	for i, addr := range addrs {
		if addr == 0 {
			continue
		}
		if _, err := t.CopyOut(addr, out[i]); err != nil {
			return 0, unix.EFAULT
		}
	}
	return uintptr(n), nil
}

// Select implements Linux syscall select(2).
func Select(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	var deadline time.Time
	noWait := false
	if a[4] != 0 {
		var tv linux.Timeval
		if err := copyInObj(t, a[4], &tv); err != nil {
			return 0, err
		}
		if tv.Sec < 0 || tv.Usec < 0 {
			return 0, unix.EINVAL
		}
		d := time.Duration(tv.ToNsecCapped())
		deadline = time.Now().Add(d)
		noWait = d == 0
		defer func() {
			left := time.Until(deadline)
			if left < 0 {
				left = 0
			}
			rem := linux.NsecToTimeval(int64(left))
			copyOutObj(t, a[4], &rem)
		}()
	}
	return doSelect(t, int(a.Int(0)), a[1], a[2], a[3], deadline, noWait)
}

// Pselect6 implements Linux syscall pselect6(2).
func Pselect6(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	deadline, noWait, err := timespecDeadline(t, a[4])
	if err != nil {
		return 0, err
	}
	var maskAddr uintptr
	if a[5] != 0 {
		// struct { const sigset_t *ss; size_t ss_len; }
		var b [16]byte
		if _, err := t.CopyIn(a[5], b[:]); err != nil {
			return 0, unix.EFAULT
		}
		maskAddr = uintptr(binary.LittleEndian.Uint64(b[:]))
		if maskAddr != 0 && binary.LittleEndian.Uint64(b[8:]) != 8 {
			return 0, unix.EINVAL
		}
	}
	return withSigmask(t, maskAddr, func() (uintptr, error) {
		return doSelect(t, int(a.Int(0)), a[1], a[2], a[3], deadline, noWait)
	})
}
