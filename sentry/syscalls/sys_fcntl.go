package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/arch"
	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/pipe"
	"github.com/runsc-cri/runsc-cri/sentry/kernel"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

func init() {
	addFamily(map[uintptr]Entry{
		unix.SYS_FCNTL: {Handler: Fcntl, Support: Partial, Note: "leases, notify and seals unsupported (EINVAL); F_SETOWN/F_SETSIG are recorded but no SIGIO is sent"},
		unix.SYS_FLOCK: {Handler: Flock, Support: Full},
	})
}

// Fcntl implements Linux syscall fcntl(2).
func Fcntl(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	fd, cmd := args.Int(0), args.Int(1)
	f, flags := t.FDTable().Get(fd)
	if f == nil {
		return 0, unix.EBADF
	}
	defer f.DecRef(t)
	if f.IsPath() {
		switch cmd {
		case unix.F_DUPFD, unix.F_DUPFD_CLOEXEC, unix.F_GETFD, unix.F_SETFD, unix.F_GETFL:
		default:
			return 0, unix.EBADF
		}
	}
	switch cmd {
	case unix.F_DUPFD, unix.F_DUPFD_CLOEXEC:
		min := args.Int(2)
		limit := nofileLimit(t)
		if min < 0 || uint64(min) >= limit {
			return 0, unix.EINVAL
		}
		nfd, err := t.FDTable().NewFD(min, f, vfs.FDFlags{CloseOnExec: cmd == unix.F_DUPFD_CLOEXEC}, limit)
		if err != nil {
			return 0, err
		}
		return uintptr(nfd), nil
	case unix.F_GETFD:
		if flags.CloseOnExec {
			return unix.FD_CLOEXEC, nil
		}
		return 0, nil
	case unix.F_SETFD:
		return 0, t.FDTable().SetFlags(fd, vfs.FDFlags{CloseOnExec: args.Int(2)&unix.FD_CLOEXEC != 0})
	case unix.F_GETFL:
		return uintptr(f.StatusFlags()), nil
	case unix.F_SETFL:
		return 0, f.SetStatusFlags(t, args.Uint(2))
	case unix.F_GETLK, unix.F_SETLK, unix.F_SETLKW, unix.F_OFD_GETLK, unix.F_OFD_SETLK, unix.F_OFD_SETLKW:
		return 0, fcntlLock(t, f, cmd, args.Ptr(2))
	case unix.F_GETPIPE_SZ:
		p := pipe.FromFile(f)
		if p == nil {
			return 0, unix.EBADF
		}
		return uintptr(p.Size()), nil
	case unix.F_SETPIPE_SZ:
		p := pipe.FromFile(f)
		if p == nil {
			return 0, unix.EBADF
		}
		n, err := p.SetSize(t.Credentials(), int64(args.Uint(2)))
		return uintptr(n), err
	case unix.F_GETOWN:
		return uintptr(f.AsyncOwner()), nil
	case unix.F_SETOWN:
		f.SetAsyncOwner(args.Int(2))
		return 0, nil
	case unix.F_GETOWN_EX:
		var b [8]byte
		owner := f.AsyncOwner()
		typ := uint32(linux.F_OWNER_PID)
		if owner < 0 {
			typ, owner = linux.F_OWNER_PGRP, -owner
		}
		binary.LittleEndian.PutUint32(b[0:], typ)
		binary.LittleEndian.PutUint32(b[4:], uint32(owner))
		if _, err := t.CopyOut(args.Ptr(2), b[:]); err != nil {
			return 0, unix.EFAULT
		}
		return 0, nil
	case unix.F_SETOWN_EX:
		var b [8]byte
		if _, err := t.CopyIn(args.Ptr(2), b[:]); err != nil {
			return 0, unix.EFAULT
		}
		typ, pid := binary.LittleEndian.Uint32(b[0:]), int32(binary.LittleEndian.Uint32(b[4:]))
		switch typ {
		case linux.F_OWNER_TID, linux.F_OWNER_PID:
			f.SetAsyncOwner(pid)
		case linux.F_OWNER_PGRP:
			f.SetAsyncOwner(-pid)
		default:
			return 0, unix.EINVAL
		}
		return 0, nil
	case unix.F_GETSIG:
		return 0, nil
	case unix.F_SETSIG:
		if args.Int(2) < 0 || args.Int(2) > 64 {
			return 0, unix.EINVAL
		}
		return 0, nil
	case unix.F_GETLEASE:
		return unix.F_UNLCK, nil
	}
	return 0, unix.EINVAL
}

// fcntlLock handles the record-lock commands.
func fcntlLock(t *kernel.Task, f *vfs.FileDescription, cmd int32, addr uintptr) error {
	var fl linux.Flock
	if err := copyInObj(t, addr, &fl); err != nil {
		return err
	}
	ofd := cmd == unix.F_OFD_GETLK || cmd == unix.F_OFD_SETLK || cmd == unix.F_OFD_SETLKW
	if ofd && fl.PID != 0 {
		return unix.EINVAL
	}
	var base int64
	switch fl.Whence {
	case unix.SEEK_SET:
	case unix.SEEK_CUR:
		base = f.Offset()
	case unix.SEEK_END:
		st, err := f.Stat(t)
		if err != nil {
			return err
		}
		base = int64(st.Size)
	default:
		return unix.EINVAL
	}
	start := base + fl.Start
	if (fl.Start > 0 && start < base) || start < 0 {
		return unix.EINVAL
	}
	var end uint64
	switch {
	case fl.Len > 0:
		e := start + fl.Len
		if e < start {
			return unix.EOVERFLOW
		}
		end = uint64(e)
	case fl.Len == 0:
		end = vfs.LockEOF
	default:
		s := start + fl.Len
		if s < 0 {
			return unix.EINVAL
		}
		end = uint64(start)
		start = s
	}
	var owner any = t.FDTable()
	pid := int32(t.ThreadGroup().ID())
	if ofd {
		owner, pid = f, -1
	}
	switch cmd {
	case unix.F_GETLK, unix.F_OFD_GETLK:
		if fl.Type != unix.F_RDLCK && fl.Type != unix.F_WRLCK {
			return unix.EINVAL
		}
		c := f.TestRecord(owner, fl.Type, uint64(start), end)
		if c == nil {
			fl.Type = unix.F_UNLCK
		} else {
			fl.Type = c.Type
			fl.Whence = unix.SEEK_SET
			fl.Start = int64(c.Start)
			fl.Len = 0
			if c.End != vfs.LockEOF {
				fl.Len = int64(c.End - c.Start)
			}
			fl.PID = c.PID
		}
		return copyOutObj(t, addr, &fl)
	}
	blocking := cmd == unix.F_SETLKW || cmd == unix.F_OFD_SETLKW
	return lockLoop(t, f, blocking, func() error {
		return f.LockRecord(owner, pid, fl.Type, uint64(start), end)
	})
}

// lockLoop retries lock while it conflicts, if blocking.
func lockLoop(t *kernel.Task, f *vfs.FileDescription, blocking bool, lock func() error) error {
	err := lock()
	if err != unix.EAGAIN || !blocking {
		return err
	}
	e := waiter.NewEntry()
	f.LockEventRegister(e)
	defer f.LockEventUnregister(e)
	for {
		if err := lock(); err != unix.EAGAIN {
			return err
		}
		if err := t.Block(e.C); err != nil {
			return err
		}
	}
}

// Flock implements Linux syscall flock(2).
func Flock(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	f, err := getFileNoPath(t, args.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	op := int(args.Int(1))
	nb := op&unix.LOCK_NB != 0
	op &^= unix.LOCK_NB
	switch op {
	case unix.LOCK_SH, unix.LOCK_EX, unix.LOCK_UN:
	default:
		return 0, unix.EINVAL
	}
	return 0, lockLoop(t, f, !nb, func() error { return f.Flock(op) })
}
