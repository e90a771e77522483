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
