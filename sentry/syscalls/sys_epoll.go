package syscalls

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/arch"
	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/anon"
	"github.com/runsc-cri/runsc-cri/sentry/kernel"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

func init() {
	addFamily(map[uintptr]Entry{
		unix.SYS_EPOLL_CREATE:  {Handler: EpollCreate, Support: Full},
		unix.SYS_EPOLL_CREATE1: {Handler: EpollCreate1, Support: Full},
		unix.SYS_EPOLL_CTL:     {Handler: EpollCtl, Support: Partial, Note: "EPOLLEXCLUSIVE and EPOLLWAKEUP are accepted and ignored"},
		unix.SYS_EPOLL_WAIT:    {Handler: EpollWait, Support: Full},
		unix.SYS_EPOLL_PWAIT:   {Handler: EpollPwait, Support: Full},
		unix.SYS_EPOLL_PWAIT2:  {Handler: EpollPwait2, Support: Full},
		unix.SYS_EVENTFD:       {Handler: Eventfd, Support: Full},
		unix.SYS_EVENTFD2:      {Handler: Eventfd2, Support: Full},
	})
}

// newFD installs f in the task's table and drops the caller's reference.
func newFD(t *kernel.Task, f *vfs.FileDescription, cloexec bool) (uintptr, error) {
	defer f.DecRef(t)
	lim, _ := t.Rlimit(linux.RLIMIT_NOFILE)
	fd, err := t.FDTable().NewFD(0, f, vfs.FDFlags{CloseOnExec: cloexec}, lim)
	return uintptr(fd), err
}

// EpollCreate implements Linux syscall epoll_create(2).
func EpollCreate(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	if a.Int(0) <= 0 {
		return 0, unix.EINVAL
	}
	return newFD(t, anon.NewEpoll(t.Kernel().VFS(), 0), false)
}

// EpollCreate1 implements Linux syscall epoll_create1(2).
func EpollCreate1(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	flags := a.Int(0)
	if flags&^linux.EPOLL_CLOEXEC != 0 {
		return 0, unix.EINVAL
	}
	return newFD(t, anon.NewEpoll(t.Kernel().VFS(), 0), flags&linux.EPOLL_CLOEXEC != 0)
}

func getEpoll(t *kernel.Task, fd int32) (*vfs.FileDescription, *anon.EpollInstance, error) {
	f, _ := t.FDTable().Get(fd)
	if f == nil {
		return nil, nil, unix.EBADF
	}
	ep, ok := f.Impl().(*anon.EpollInstance)
	if !ok {
		f.DecRef(t)
		return nil, nil, unix.EINVAL
	}
	return f, ep, nil
}

// EpollCtl implements Linux syscall epoll_ctl(2).
func EpollCtl(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	epf, ep, err := getEpoll(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer epf.DecRef(t)
	op, fd := int(a.Int(1)), a.Int(2)
	f, _ := t.FDTable().Get(fd)
	if f == nil {
		return 0, unix.EBADF
	}
	defer f.DecRef(t)
	if f == epf {
		return 0, unix.EINVAL
	}
	if _, ok := f.Impl().(vfs.DirectoryFile); ok || f.IsPath() {
		return 0, unix.EPERM
	}
	var events uint32
	var data uint64
	if op != linux.EPOLL_CTL_DEL {
		var b [12]byte
		if _, err := t.CopyIn(a[3], b[:]); err != nil {
			return 0, unix.EFAULT
		}
		events = binary.LittleEndian.Uint32(b[0:])
		data = binary.LittleEndian.Uint64(b[4:])
	}
	return 0, ep.Ctl(t, op, f, fd, events, data)
}

func epollWait(t *kernel.Task, epfd int32, evAddr uintptr, max int32, deadline time.Time, noWait bool) (uintptr, error) {
	if max <= 0 || max > 1<<20 {
		return 0, unix.EINVAL
	}
	epf, ep, err := getEpoll(t, epfd)
	if err != nil {
		return 0, err
	}
	defer epf.DecRef(t)
	var evs []anon.Event
	collect := func() int {
		evs = ep.ReadEvents(int(max))
		return len(evs)
	}
	if collect() == 0 && !noWait {
		e := waiter.NewEntry()
		ep.EventRegister(e, waiter.ReadableEvents)
		for collect() == 0 {
			if err := t.BlockDeadline(e.C, deadline); err != nil {
				ep.EventUnregister(e)
				if err == unix.ETIMEDOUT {
					return 0, nil
				}
				if err == kernel.ERESTARTSYS {
					return 0, unix.EINTR
				}
				return 0, err
			}
		}
		ep.EventUnregister(e)
	}
	buf := make([]byte, 12*len(evs))
	for i, e := range evs {
		binary.LittleEndian.PutUint32(buf[12*i:], e.Events)
		binary.LittleEndian.PutUint64(buf[12*i+4:], e.Data)
	}
	if len(buf) > 0 {
		if _, err := t.CopyOut(evAddr, buf); err != nil {
			return 0, unix.EFAULT
		}
	}
	return uintptr(len(evs)), nil
}

func msDeadline(ms int32) (time.Time, bool) {
	if ms < 0 {
		return time.Time{}, false
	}
	return time.Now().Add(time.Duration(ms) * time.Millisecond), ms == 0
}

// EpollWait implements Linux syscall epoll_wait(2).
func EpollWait(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	d, noWait := msDeadline(a.Int(3))
	return epollWait(t, a.Int(0), a[1], a.Int(2), d, noWait)
}

// EpollPwait implements Linux syscall epoll_pwait(2).
func EpollPwait(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	d, noWait := msDeadline(a.Int(3))
	if a[4] != 0 && a[5] != 8 {
		return 0, unix.EINVAL
	}
	return withSigmask(t, a[4], func() (uintptr, error) {
		return epollWait(t, a.Int(0), a[1], a.Int(2), d, noWait)
	})
}

// EpollPwait2 implements Linux syscall epoll_pwait2(2).
func EpollPwait2(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	d, noWait, err := timespecDeadline(t, a[3])
	if err != nil {
		return 0, err
	}
	if a[4] != 0 && a[5] != 8 {
		return 0, unix.EINVAL
	}
	return withSigmask(t, a[4], func() (uintptr, error) {
		return epollWait(t, a.Int(0), a[1], a.Int(2), d, noWait)
	})
}

// Eventfd implements Linux syscall eventfd(2).
func Eventfd(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	return newFD(t, anon.NewEventFD(t.Kernel().VFS(), uint64(a.Uint(0)), false, 0), false)
}

// Eventfd2 implements Linux syscall eventfd2(2).
func Eventfd2(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	flags := a.Int(1)
	if flags&^(linux.EFD_CLOEXEC|linux.EFD_NONBLOCK|linux.EFD_SEMAPHORE) != 0 {
		return 0, unix.EINVAL
	}
	var oflags uint32
	if flags&linux.EFD_NONBLOCK != 0 {
		oflags |= unix.O_NONBLOCK
	}
	f := anon.NewEventFD(t.Kernel().VFS(), uint64(a.Uint(0)), flags&linux.EFD_SEMAPHORE != 0, oflags)
	return newFD(t, f, flags&linux.EFD_CLOEXEC != 0)
}
