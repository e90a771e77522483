package syscalls

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/arch"
	"github.com/runsc-cri/runsc-cri/sentry/kernel"
)

func init() {
	addFamily(map[uintptr]Entry{
		unix.SYS_RT_SIGACTION:      {Handler: RtSigaction, Support: Full},
		unix.SYS_RT_SIGPROCMASK:    {Handler: RtSigprocmask, Support: Full},
		unix.SYS_RT_SIGRETURN:      {Handler: RtSigreturn, Support: Full},
		unix.SYS_SIGALTSTACK:       {Handler: Sigaltstack, Support: Full},
		unix.SYS_KILL:              {Handler: Kill, Support: Full},
		unix.SYS_TKILL:             {Handler: Tkill, Support: Full},
		unix.SYS_TGKILL:            {Handler: Tgkill, Support: Full},
		unix.SYS_RT_SIGPENDING:     {Handler: RtSigpending, Support: Full},
		unix.SYS_RT_SIGSUSPEND:     {Handler: RtSigsuspend, Support: Full},
		unix.SYS_PAUSE:             {Handler: Pause, Support: Full},
		unix.SYS_RT_SIGTIMEDWAIT:   {Handler: RtSigtimedwait, Support: Full},
		unix.SYS_RT_SIGQUEUEINFO:   {Handler: RtSigqueueinfo, Support: Full},
		unix.SYS_RT_TGSIGQUEUEINFO: {Handler: RtTgsigqueueinfo, Support: Full},
	})
}

// RtSigaction implements Linux syscall rt_sigaction(2).
func RtSigaction(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	if a[3] != 8 {
		return 0, unix.EINVAL
	}
	sig := linux.Signal(a.Int(0))
	var act *linux.SigAction
	if a[1] != 0 {
		act = new(linux.SigAction)
		if err := copyInObj(t, a[1], act); err != nil {
			return 0, err
		}
	}
	old, err := t.SigAction(sig, act)
	if err != nil {
		return 0, err
	}
	if a[2] != 0 {
		if err := copyOutObj(t, a[2], &old); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

func copyInSigset(t *kernel.Task, addr uintptr, size uintptr) (linux.SignalSet, error) {
	if size != 8 {
		return 0, unix.EINVAL
	}
	var b [8]byte
	if _, err := t.CopyIn(addr, b[:]); err != nil {
		return 0, unix.EFAULT
	}
	return linux.SignalSet(binary.LittleEndian.Uint64(b[:])), nil
}

func copyOutSigset(t *kernel.Task, addr uintptr, s linux.SignalSet) error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(s))
	if _, err := t.CopyOut(addr, b[:]); err != nil {
		return unix.EFAULT
	}
	return nil
}

// RtSigprocmask implements Linux syscall rt_sigprocmask(2).
func RtSigprocmask(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	if a[3] != 8 {
		return 0, unix.EINVAL
	}
	old := t.SignalMask()
	if a[1] != 0 {
		set, err := copyInSigset(t, a[1], a[3])
		if err != nil {
			return 0, err
		}
		switch a.Int(0) {
		case linux.SIG_BLOCK:
			t.SetSignalMask(old | set)
		case linux.SIG_UNBLOCK:
			t.SetSignalMask(old &^ set)
		case linux.SIG_SETMASK:
			t.SetSignalMask(set)
		default:
			return 0, unix.EINVAL
		}
	}
	if a[2] != 0 {
		if err := copyOutSigset(t, a[2], old); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// RtSigreturn implements Linux syscall rt_sigreturn(2).
func RtSigreturn(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	return 0, t.SigReturn()
}

// Sigaltstack implements Linux syscall sigaltstack(2).
func Sigaltstack(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	var ss *linux.SignalStack
	if a[0] != 0 {
		ss = new(linux.SignalStack)
		if err := copyInObj(t, a[0], ss); err != nil {
			return 0, err
		}
	}
	old, err := t.SigAltStack(ss)
	if err != nil {
		return 0, err
	}
	if a[1] != 0 {
		if err := copyOutObj(t, a[1], &old); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// Kill implements Linux syscall kill(2).
func Kill(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	pid := kernel.ThreadID(a.Int(0))
	sig := linux.Signal(a.Int(1))
	if sig != 0 && !sig.IsValid() {
		return 0, unix.EINVAL
	}
	return 0, t.Kill(pid, sig, t.SignalInfoKill(sig, linux.SI_USER))
}

// Tkill implements Linux syscall tkill(2).
func Tkill(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	return 0, tgkill(t, 0, kernel.ThreadID(a.Int(0)), linux.Signal(a.Int(1)))
}

// Tgkill implements Linux syscall tgkill(2).
func Tgkill(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	tgid := kernel.ThreadID(a.Int(0))
	if tgid <= 0 {
		return 0, unix.EINVAL
	}
	return 0, tgkill(t, tgid, kernel.ThreadID(a.Int(1)), linux.Signal(a.Int(2)))
}

func tgkill(t *kernel.Task, tgid, tid kernel.ThreadID, sig linux.Signal) error {
	if tid <= 0 || (sig != 0 && !sig.IsValid()) {
		return unix.EINVAL
	}
	target := t.Kernel().TaskByID(tid)
	if target == nil || (tgid != 0 && target.ThreadGroup().ID() != tgid) {
		return unix.ESRCH
	}
	return t.SignalThread(target, t.SignalInfoKill(sig, linux.SI_TKILL))
}

// RtSigpending implements Linux syscall rt_sigpending(2).
func RtSigpending(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	if a[1] != 8 {
		return 0, unix.EINVAL
	}
	return 0, copyOutSigset(t, a[0], t.PendingSignals()&t.SignalMask())
}

// RtSigsuspend implements Linux syscall rt_sigsuspend(2).
func RtSigsuspend(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	mask, err := copyInSigset(t, a[0], a[1])
	if err != nil {
		return 0, err
	}
	t.SetSavedSignalMask(mask)
	t.Block(nil)
	return 0, kernel.ERESTARTNOHAND
}

// Pause implements Linux syscall pause(2).
func Pause(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	t.Block(nil)
	return 0, kernel.ERESTARTNOHAND
}

// RtSigtimedwait implements Linux syscall rt_sigtimedwait(2).
func RtSigtimedwait(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	set, err := copyInSigset(t, a[0], a[3])
	if err != nil {
		return 0, err
	}
	var deadline time.Time
	if a[2] != 0 {
		var ts linux.Timespec
		if err := copyInObj(t, a[2], &ts); err != nil {
			return 0, err
		}
		if !ts.Valid() {
			return 0, unix.EINVAL
		}
		deadline = time.Now().Add(time.Duration(ts.ToNsec()))
	}
	info, err := t.SigTimedWait(set, deadline)
	if err != nil {
		if err == unix.ETIMEDOUT {
			return 0, unix.EAGAIN
		}
		return 0, err
	}
	if a[1] != 0 {
		if err := copyOutObj(t, a[1], info); err != nil {
			return 0, err
		}
	}
	return uintptr(info.Signo), nil
}

// RtSigqueueinfo implements Linux syscall rt_sigqueueinfo(2).
func RtSigqueueinfo(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	var info linux.SignalInfo
	if err := copyInObj(t, a[2], &info); err != nil {
		return 0, err
	}
	sig := linux.Signal(a.Int(1))
	if !sig.IsValid() {
		return 0, unix.EINVAL
	}
	info.Signo = int32(sig)
	if info.Code >= 0 || info.Code == linux.SI_TKILL {
		return 0, unix.EPERM
	}
	return 0, t.Kill(kernel.ThreadID(a.Int(0)), sig, &info)
}

// RtTgsigqueueinfo implements Linux syscall rt_tgsigqueueinfo(2).
func RtTgsigqueueinfo(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	var info linux.SignalInfo
	if err := copyInObj(t, a[3], &info); err != nil {
		return 0, err
	}
	sig := linux.Signal(a.Int(2))
	if !sig.IsValid() {
		return 0, unix.EINVAL
	}
	info.Signo = int32(sig)
	if info.Code >= 0 || info.Code == linux.SI_TKILL {
		return 0, unix.EPERM
	}
	target := t.Kernel().TaskByID(kernel.ThreadID(a.Int(1)))
	if target == nil || target.ThreadGroup().ID() != kernel.ThreadID(a.Int(0)) {
		return 0, unix.ESRCH
	}
	return 0, t.SignalThread(target, &info)
}
