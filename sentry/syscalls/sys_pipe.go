package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/arch"
	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/pipe"
	"github.com/runsc-cri/runsc-cri/sentry/kernel"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

func init() {
	addFamily(map[uintptr]Entry{
		unix.SYS_PIPE:  {Handler: Pipe, Support: Full},
		unix.SYS_PIPE2: {Handler: Pipe2, Support: Partial, Note: "O_DIRECT (packet mode) is accepted but pipes stay byte streams"},
	})
}

// Pipe implements Linux syscall pipe(2).
func Pipe(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return 0, pipe2(t, args.Ptr(0), 0)
}

// Pipe2 implements Linux syscall pipe2(2).
func Pipe2(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return 0, pipe2(t, args.Ptr(0), args.Uint(1))
}

func pipe2(t *kernel.Task, addr uintptr, flags uint32) error {
	if flags&^(unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_DIRECT) != 0 {
		return unix.EINVAL
	}
	r, w := pipe.NewConnectedFiles(t, t.Kernel().VFS(), flags)
	defer r.DecRef(t)
	defer w.DecRef(t)
	fdt := t.FDTable()
	fl := vfs.FDFlags{CloseOnExec: flags&unix.O_CLOEXEC != 0}
	limit := nofileLimit(t)
	rfd, err := fdt.NewFD(0, r, fl, limit)
	if err != nil {
		return err
	}
	wfd, err := fdt.NewFD(0, w, fl, limit)
	if err != nil {
		fdt.Remove(rfd)
		return err
	}
	var b [8]byte
	binary.LittleEndian.PutUint32(b[0:], uint32(rfd))
	binary.LittleEndian.PutUint32(b[4:], uint32(wfd))
	if _, err := t.CopyOut(addr, b[:]); err != nil {
		fdt.Remove(rfd)
		fdt.Remove(wfd)
		return unix.EFAULT
	}
	return nil
}
