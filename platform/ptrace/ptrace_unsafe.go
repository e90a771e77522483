package ptrace

import (
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/arch"
)

// Raw ptrace wrappers. Requests on a stopped tracee never block, so they use
// RawSyscall (no scheduler hand-off); wait4 blocks and uses Syscall.

func ptraceGetRegs(tid int, r *arch.Registers) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_GETREGS, uintptr(tid), 0, uintptr(unsafe.Pointer(r)), 0, 0)
	return e
}

func ptraceSetRegs(tid int, r *arch.Registers) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_SETREGS, uintptr(tid), 0, uintptr(unsafe.Pointer(r)), 0, 0)
	return e
}

// userRaxOffset is the offset of rax in struct user (PTRACE_POKEUSER).
const userRaxOffset = unsafe.Offsetof(arch.Registers{}.Rax)

// ptracePokeUserRax sets tid's rax.
func ptracePokeUserRax(tid int, v uint64) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_POKEUSR, uintptr(tid), userRaxOffset, uintptr(v), 0, 0)
	return e
}

// ptraceResume resumes tid with request req (PTRACE_CONT, PTRACE_SYSEMU),
// delivering no signal.
func ptraceResume(req int, tid int) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, uintptr(req), uintptr(tid), 0, 0, 0, 0)
	return e
}

// ptraceOp issues a request without a data pointer (SEIZE, INTERRUPT,
// SETOPTIONS).
func ptraceOp(req int, tid int, addr, data uintptr) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, uintptr(req), uintptr(tid), addr, data, 0, 0)
	return e
}

// siginfo is the prefix of siginfo_t the platform reads.
type siginfo struct {
	Signo int32
	Errno int32
	Code  int32
	_     int32
	Addr  uint64 // si_addr for SIGSEGV/SIGBUS/SIGILL/SIGFPE/SIGTRAP
	_     [104]byte
}

func ptraceGetSiginfo(tid int, si *siginfo) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_GETSIGINFO, uintptr(tid), 0, uintptr(unsafe.Pointer(si)), 0, 0)
	return e
}

// ptraceRegset gets (req = PTRACE_GETREGSET) or sets a register set into or
// from b and returns the length the kernel used.
func ptraceRegset(req int, tid int, note uintptr, b []byte) (int, unix.Errno) {
	if len(b) == 0 {
		return 0, unix.EINVAL
	}
	iov := unix.Iovec{Base: &b[0], Len: uint64(len(b))}
	_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, uintptr(req), uintptr(tid), note, uintptr(unsafe.Pointer(&iov)), 0, 0)
	return int(iov.Len), e
}

// wait4 waits for tid with __WALL|options and stores the status.
func wait4(tid int, status *uint32, options int) (int, unix.Errno) {
	r, _, e := unix.Syscall6(unix.SYS_WAIT4, uintptr(tid), uintptr(unsafe.Pointer(status)), uintptr(unix.WALL|options), 0, 0, 0)
	return int(r), e
}

func tgkill(tgid, tid int, sig unix.Signal) unix.Errno {
	_, _, e := unix.RawSyscall(unix.SYS_TGKILL, uintptr(tgid), uintptr(tid), uintptr(sig))
	return e
}

func gettid() int {
	r, _, _ := unix.RawSyscall(unix.SYS_GETTID, 0, 0, 0)
	return int(r)
}

// kernelSigaction is struct sigaction as rt_sigaction(2) takes it on amd64.
type kernelSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

// saNoCldStop is SA_NOCLDSTOP.
const saNoCldStop = 1

// quietStops adds SA_NOCLDSTOP to the sentry's SIGCHLD action (keeping Go's
// handler), so that the many ptrace stops of the stubs do not each send
// the sentry a SIGCHLD that wakes a thread and runs the Go signal handler.
// Exits of children are still signalled.
func quietStops() error {
	var act kernelSigaction
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGCHLD), 0, uintptr(unsafe.Pointer(&act)), 8, 0, 0); e != 0 {
		return e
	}
	if act.flags&saNoCldStop != 0 || act.handler == 0 || act.handler == 1 {
		return nil // already quiet, or SIG_DFL/SIG_IGN: no signal is delivered anyway
	}
	act.flags |= saNoCldStop
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGCHLD), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0); e != 0 {
		return e
	}
	return nil
}
