package syscalls

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/arch"
	"github.com/runsc-cri/runsc-cri/sentry/kernel"
)

func init() {
	addFamily(map[uintptr]Entry{
		unix.SYS_GETDENTS64: {Handler: Getdents64, Support: Full},
		unix.SYS_GETDENTS:   {Handler: Getdents, Support: Full},
	})
}

// maxDentsBuf bounds the kernel buffer of one getdents call; a larger user
// buffer just gets fewer entries than would fit.
const maxDentsBuf = 64 << 10

// Getdents64 implements Linux syscall getdents64(2).
func Getdents64(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return getdents(t, args, false)
}

// Getdents implements Linux syscall getdents(2).
func Getdents(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return getdents(t, args, true)
}

func getdents(t *kernel.Task, args *arch.SyscallArguments, old bool) (uintptr, error) {
	f, err := getFileNoPath(t, args.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	size := int(args.Uint(2))
	if size < 0 {
		return 0, unix.EINVAL
	}
	buf := make([]byte, min(size, maxDentsBuf))
	n, err := f.Getdents(t, buf, old)
	if err != nil {
		return 0, err
	}
	if _, err := t.CopyOut(args.Ptr(1), buf[:n]); err != nil {
		return 0, unix.EFAULT
	}
	return uintptr(n), nil
}
