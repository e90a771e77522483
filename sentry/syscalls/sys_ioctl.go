package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/arch"
	"github.com/runsc-cri/runsc-cri/sentry/kernel"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

func init() {
	addFamily(map[uintptr]Entry{
		unix.SYS_IOCTL: {Handler: Ioctl, Support: Partial, Note: "generic requests (FIONBIO, FIOASYNC, FIOCLEX, FIONCLEX, FIONREAD) and what each file implements; others ENOTTY"},
	})
}

// Ioctl implements Linux syscall ioctl(2).
func Ioctl(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	fd, cmd, arg := args.Int(0), args.Uint(1), args.Ptr(2)
	f, err := getFileNoPath(t, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	switch cmd {
	case linux.FIOCLEX:
		return 0, t.FDTable().SetFlags(fd, vfs.FDFlags{CloseOnExec: true})
	case linux.FIONCLEX:
		return 0, t.FDTable().SetFlags(fd, vfs.FDFlags{CloseOnExec: false})
	case linux.FIONBIO, linux.FIOASYNC:
		var b [4]byte
		if _, err := t.CopyIn(arg, b[:]); err != nil {
			return 0, unix.EFAULT
		}
		bit := uint32(unix.O_NONBLOCK)
		if cmd == linux.FIOASYNC {
			bit = unix.O_ASYNC
		}
		fl := f.StatusFlags()
		if binary.LittleEndian.Uint32(b[:]) != 0 {
			fl |= bit
		} else {
			fl &^= bit
		}
		return 0, f.SetStatusFlags(t, fl)
	case linux.FIONREAD:
		st, err := f.Stat(t)
		if err == nil && uint32(st.Mode)&linux.S_IFMT == linux.S_IFREG {
			// Regular files: the bytes between the offset and the end.
			n := int64(st.Size) - f.Offset()
			if n < 0 {
				n = 0
			}
			var b [4]byte
			binary.LittleEndian.PutUint32(b[:], uint32(min(n, 1<<31-1)))
			if _, err := t.CopyOut(arg, b[:]); err != nil {
				return 0, unix.EFAULT
			}
			return 0, nil
		}
	}
	return f.Ioctl(t, cmd, arg)
}
