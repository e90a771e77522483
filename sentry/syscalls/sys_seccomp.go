package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/bpf"

	"github.com/runsc-cri/runsc-cri/sentry/arch"
	"github.com/runsc-cri/runsc-cri/sentry/kernel"
	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
)

func init() {
	addFamily(map[uintptr]Entry{
		unix.SYS_SECCOMP: {Handler: Seccomp, Support: Partial, Note: "strict and filter modes, TSYNC, LOG, SPEC_ALLOW, GET_ACTION_AVAIL, GET_NOTIF_SIZES; no user notification listener (NEW_LISTENER EINVAL, USER_NOTIF and TRACE return ENOSYS)"},
	})
}

// seccomp(2) operations.
const (
	seccompSetModeStrict = 0
)

// seccompKnownFlags are the SECCOMP_SET_MODE_FILTER flags Linux defines.
const seccompKnownFlags = kernel.SeccompFilterFlagTsync | kernel.SeccompFilterFlagLog |
	kernel.SeccompFilterFlagSpecAllow | kernel.SeccompFilterFlagNewListener |
	kernel.SeccompFilterFlagTsyncESRCH | kernel.SeccompFilterFlagWaitKill

// Seccomp implements Linux syscall seccomp(2).
func Seccomp(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	op, flags, uargs := a.Uint(0), a.Uint(1), a.Ptr(2)
	switch op {
	case seccompSetModeStrict:
		if flags != 0 || uargs != 0 {
			return 0, unix.EINVAL
		}
		return 0, t.SetSeccompStrict()
	case linux.SECCOMP_SET_MODE_FILTER:
		if flags&^seccompKnownFlags != 0 {
			return 0, unix.EINVAL
		}
		if flags&kernel.SeccompFilterFlagNewListener != 0 {
			// No user-space notification in the sandbox: refused as a
			// kernel without the feature refuses an unknown flag.
			return 0, unix.EINVAL
		}
		if flags&kernel.SeccompFilterFlagWaitKill != 0 {
			// Only meaningful with NEW_LISTENER.
			return 0, unix.EINVAL
		}
		return seccompSetFilter(t, flags, uargs)
	case linux.SECCOMP_GET_ACTION_AVAIL:
		if flags != 0 {
			return 0, unix.EINVAL
		}
		var b [4]byte
		if _, err := t.CopyIn(uargs, b[:]); err != nil {
			return 0, unix.EFAULT
		}
		if !kernel.SeccompActionAvailable(binary.LittleEndian.Uint32(b[:])) {
			return 0, unix.EOPNOTSUPP
		}
		return 0, nil
	case linux.SECCOMP_GET_NOTIF_SIZES:
		if flags != 0 {
			return 0, unix.EINVAL
		}
		// struct seccomp_notif (80), seccomp_notif_resp (24), seccomp_data (64).
		var b [6]byte
		binary.LittleEndian.PutUint16(b[0:], 80)
		binary.LittleEndian.PutUint16(b[2:], 24)
		binary.LittleEndian.PutUint16(b[4:], 64)
		if _, err := t.CopyOut(uargs, b[:]); err != nil {
			return 0, unix.EFAULT
		}
		return 0, nil
	}
	return 0, unix.EINVAL
}

// seccompSetFilter reads the struct sock_fprog at addr and installs it.
// Checks come in Linux's order: the program header (EFAULT), its length
// (EINVAL), the privilege (EACCES), the instructions (EFAULT, EINVAL),
// then the installation (ENOMEM, a TSYNC conflict).
func seccompSetFilter(t *kernel.Task, flags uint32, addr uintptr) (uintptr, error) {
	var hdr [16]byte
	if _, err := t.CopyIn(addr, hdr[:]); err != nil {
		return 0, unix.EFAULT
	}
	n := int(binary.LittleEndian.Uint16(hdr[0:]))
	ptr := uintptr(binary.LittleEndian.Uint64(hdr[8:]))
	if n == 0 || n > bpf.MaxInstructions {
		return 0, unix.EINVAL
	}
	c := t.Credentials()
	if !c.NoNewPrivs && !c.HasCapability(auth.CapSysAdmin) {
		return 0, unix.EACCES
	}
	b := make([]byte, 8*n)
	if _, err := t.CopyIn(ptr, b); err != nil {
		return 0, unix.EFAULT
	}
	f, err := kernel.DecodeSeccompFilter(b)
	if err != nil {
		return 0, err
	}
	tid, err := t.AppendSeccompFilter(f, flags)
	return uintptr(tid), err
}

// prctlSeccomp implements PR_SET_SECCOMP (mode, filter).
func prctlSeccomp(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	switch a[1] {
	case kernel.SeccompModeStrict:
		// Linux ignores the filter argument here.
		return 0, t.SetSeccompStrict()
	case kernel.SeccompModeFilter:
		return seccompSetFilter(t, 0, a[2])
	}
	return 0, unix.EINVAL
}
