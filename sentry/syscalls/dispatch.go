package syscalls

import (
	"log/slog"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/arch"
	"github.com/runsc-cri/runsc-cri/sentry/kernel"
)

// Dispatch is the kernel's SyscallFunc: it looks nr up in the table and
// runs its handler. Unknown and unimplemented calls return ENOSYS, are
// counted, and are logged once per number.
func Dispatch(t *kernel.Task, nr uintptr, args *arch.SyscallArguments) (uintptr, error) {
	if nr < maxSyscall {
		build()
		if e := &table[nr]; e.Handler != nil {
			return e.Handler(t, args)
		}
	}
	if t.Kernel().CountUnimplemented(nr) {
		name := "unknown"
		if nr < maxSyscall && table[nr].Name != "" {
			name = table[nr].Name
		}
		t.Kernel().Log().Debug("unimplemented syscall", "nr", nr, "name", name, "tid", t.ThreadID())
	}
	return 0, unix.ENOSYS
}

// Tracing returns a SyscallFunc that logs every call and its result at
// debug level (runsc-cri do --debug), like strace.
func Tracing(log *slog.Logger) kernel.SyscallFunc {
	return func(t *kernel.Task, nr uintptr, args *arch.SyscallArguments) (uintptr, error) {
		name := "unknown"
		if nr < maxSyscall {
			build()
			if table[nr].Name != "" {
				name = table[nr].Name
			}
		}
		a := *args
		rv, err := Dispatch(t, nr, args)
		log.Debug("syscall", "tid", t.ThreadID(), "name", name,
			"args", [6]string{hex(a[0]), hex(a[1]), hex(a[2]), hex(a[3]), hex(a[4]), hex(a[5])},
			"ret", hex(rv), "err", err)
		return rv, err
	}
}

func hex(v uintptr) string {
	const digits = "0123456789abcdef"
	if v == 0 {
		return "0x0"
	}
	var b [18]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = digits[v&0xf]
		v >>= 4
	}
	i--
	b[i] = 'x'
	i--
	b[i] = '0'
	return string(b[i:])
}
