package ptrace

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/arch"
)

// errDead reports that a stub thread is gone (killed, exited, reaped).
var errDead = fmt.Errorf("ptrace: stub thread is dead: %w", unix.ESRCH)

// errExited is errDead when the caller's wait4 collected the thread's exit
// (so nobody must reap it any more).
var errExited = fmt.Errorf("ptrace: stub thread exited: %w", unix.ESRCH)

// injectRegs returns the registers that run system call nr with args at
// site in the stub. OrigRax is -1 so that the kernel never applies its
// syscall-restart logic to the registers we install.
func injectRegs(site uintptr, nr uintptr, args [6]uintptr) arch.Registers {
	return arch.Registers{
		Rip:     uint64(site),
		Rax:     uint64(nr),
		OrigRax: ^uint64(0),
		Rdi:     uint64(args[0]),
		Rsi:     uint64(args[1]),
		Rdx:     uint64(args[2]),
		R10:     uint64(args[3]),
		R8:      uint64(args[4]),
		R9:      uint64(args[5]),
		Cs:      arch.UserCS,
		Ss:      arch.UserDS,
		Eflags:  arch.EflagsIF | 0x2,
	}
}

// inject runs the system call described by regs (see injectRegs) in tid,
// which must be in a ptrace-stop and traced by the calling OS thread, and
// waits until the thread traps at trap (the int3 after the call). It returns
// the call's result. The thread's registers are clobbered; other signals
// that arrive meanwhile are discarded.
func inject(tid int, regs *arch.Registers, trap uintptr) (uintptr, error) {
	var r arch.Registers
	if err := injectRegsOut(tid, regs, trap, &r); err != nil {
		return 0, err
	}
	ret := r.Rax
	if ret > ^uint64(4095) {
		return 0, unix.Errno(-int64(ret))
	}
	return uintptr(ret), nil
}

// injectRegsOut runs the code regs point at in tid, as inject does, and
// stores the registers at the trap in out.
func injectRegsOut(tid int, regs *arch.Registers, trap uintptr, out *arch.Registers) error {
	if e := ptraceSetRegs(tid, regs); e != 0 {
		return injectErr(tid, e)
	}
	if e := ptraceResume(unix.PTRACE_CONT, tid); e != 0 {
		return injectErr(tid, e)
	}
	var status uint32
	for {
		if _, e := wait4(tid, &status, 0); e != 0 {
			if e == unix.EINTR {
				continue
			}
			return errExited // ECHILD: reaped by someone else
		}
		ws := unix.WaitStatus(status)
		if !ws.Stopped() {
			return errExited
		}
		if ws.StopSignal() == unix.SIGTRAP && stopEvent(status) == 0 {
			if e := ptraceGetRegs(tid, out); e != 0 {
				return injectErr(tid, e)
			}
			if out.Rip == uint64(trap)+1 {
				return nil
			}
			return fmt.Errorf("ptrace: injected call in %d trapped at %#x, not %#x", tid, out.Rip, trap+1)
		}
		// Anything else (a stray signal, a group stop): discard it.
		if e := ptraceResume(unix.PTRACE_CONT, tid); e != 0 {
			return injectErr(tid, e)
		}
	}
}

// stopEvent returns the PTRACE_EVENT_* of a stop status (0 for signal
// stops). Unlike WaitStatus.TrapCause it also decodes group stops, whose
// stop signal is not SIGTRAP.
func stopEvent(status uint32) int { return int(status>>16) & 0xff }

// injectErr turns a ptrace failure on tid into an error.
func injectErr(tid int, e unix.Errno) error {
	if e == unix.ESRCH {
		return errDead
	}
	return fmt.Errorf("ptrace on stub thread %d: %w", tid, e)
}

// injectSyscall runs nr(args) in tid through the plain injection site.
func injectSyscall(tid int, nr uintptr, args ...uintptr) (uintptr, error) {
	var a [6]uintptr
	copy(a[:], args)
	regs := injectRegs(stubSyscall, nr, a)
	return inject(tid, &regs, stubSyscall+2)
}

// seize attaches the calling OS thread to tid, which waits in the stub,
// and stops it.
func seize(tid int) error {
	if e := ptraceOp(unix.PTRACE_SEIZE, tid, 0, unix.PTRACE_O_EXITKILL|unix.PTRACE_O_TRACESYSGOOD); e != 0 {
		return fmt.Errorf("PTRACE_SEIZE %d: %w", tid, e)
	}
	if e := ptraceOp(unix.PTRACE_INTERRUPT, tid, 0, 0); e != 0 {
		return fmt.Errorf("PTRACE_INTERRUPT %d: %w", tid, e)
	}
	var status uint32
	for {
		if _, e := wait4(tid, &status, 0); e != 0 {
			if e == unix.EINTR {
				continue
			}
			return fmt.Errorf("wait for seized %d: %w", tid, e)
		}
		ws := unix.WaitStatus(status)
		if !ws.Stopped() {
			return fmt.Errorf("seized stub thread %d died (status %#x)", tid, status)
		}
		if stopEvent(status) == unix.PTRACE_EVENT_STOP {
			return nil
		}
		// A signal-delivery stop before the interrupt stop: discard.
		if e := ptraceResume(unix.PTRACE_CONT, tid); e != 0 {
			return fmt.Errorf("PTRACE_CONT %d: %w", tid, e)
		}
	}
}

// reap waits until tid (a tracee of this process or a child) is gone.
func reap(tid int) {
	var status uint32
	for {
		_, e := wait4(tid, &status, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return // ECHILD: somebody else reaped it
		}
		ws := unix.WaitStatus(status)
		if ws.Exited() || ws.Signaled() {
			return
		}
		// Still stopped (SIGKILL not yet acted on): let it die.
		ptraceResume(unix.PTRACE_CONT, tid)
	}
}
