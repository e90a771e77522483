package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/arch"
	"github.com/runsc-cri/runsc-cri/sentry/kernel"
)

func init() {
	addFamily(map[uintptr]Entry{
		unix.SYS_CLONE:           {Handler: Clone, Support: Partial, Note: "new namespaces (CLONE_NEW*) and CLONE_PIDFD return EPERM"},
		unix.SYS_CLONE3:          {Handler: Clone3, Support: Partial, Note: "as clone; set_tid and cgroup unsupported"},
		unix.SYS_FORK:            {Handler: Fork, Support: Full},
		unix.SYS_VFORK:           {Handler: Vfork, Support: Full},
		unix.SYS_EXECVE:          {Handler: Execve, Support: Full},
		unix.SYS_EXECVEAT:        {Handler: Execveat, Support: Full},
		unix.SYS_EXIT:            {Handler: Exit, Support: Full},
		unix.SYS_EXIT_GROUP:      {Handler: ExitGroup, Support: Full},
		unix.SYS_WAIT4:           {Handler: Wait4, Support: Full},
		unix.SYS_WAITID:          {Handler: Waitid, Support: Partial, Note: "P_PIDFD unsupported"},
		unix.SYS_GETPID:          {Handler: Getpid, Support: Full},
		unix.SYS_GETTID:          {Handler: Gettid, Support: Full},
		unix.SYS_GETPPID:         {Handler: Getppid, Support: Full},
		unix.SYS_SET_TID_ADDRESS: {Handler: SetTidAddress, Support: Full},
		unix.SYS_SET_ROBUST_LIST: {Handler: SetRobustList, Support: Full},
		unix.SYS_GET_ROBUST_LIST: {Handler: GetRobustList, Support: Partial, Note: "only for the calling thread"},
		unix.SYS_SETSID:          {Handler: Setsid, Support: Full},
		unix.SYS_GETSID:          {Handler: Getsid, Support: Full},
		unix.SYS_SETPGID:         {Handler: Setpgid, Support: Full},
		unix.SYS_GETPGID:         {Handler: Getpgid, Support: Full},
		unix.SYS_GETPGRP:         {Handler: Getpgrp, Support: Full},
		unix.SYS_ARCH_PRCTL:      {Handler: ArchPrctl, Support: Partial, Note: "ARCH_SET/GET_FS/GS; CPUID faulting unsupported"},
		unix.SYS_RSEQ:            {Handler: nil, Support: Unimplemented, Note: "ENOSYS: glibc falls back"},
	})
}

// Clone implements Linux syscall clone(2) (amd64 argument order: flags,
// stack, parent_tid, child_tid, tls).
func Clone(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	flags := uint64(a[0])
	tid, err := t.Clone(kernel.CloneOptions{
		Flags:      flags &^ 0xff,
		ExitSignal: linux.Signal(flags & 0xff),
		Stack:      a[1],
		ParentTID:  a[2],
		ChildTID:   a[3],
		TLS:        a[4],
	})
	return uintptr(tid), err
}

// Clone3 implements Linux syscall clone3(2).
func Clone3(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	size := a[1]
	if size < cloneArgsSizeVer0 {
		return 0, unix.EINVAL
	}
	if size > 4096 {
		return 0, unix.E2BIG
	}
	buf := make([]byte, size)
	if _, err := t.CopyIn(a[0], buf); err != nil {
		return 0, unix.EFAULT
	}
	o, err := decodeCloneArgs(buf)
	if err != nil {
		return 0, err
	}
	tid, err := t.Clone(o)
	return uintptr(tid), err
}

// Sizes of struct clone_args: the first version, and the one we know.
const (
	cloneArgsSizeVer0 = 64
	cloneArgsSize     = 88
)

// maxUserAddr is the end of the application half of the address space.
const maxUserAddr = 1 << 47

// decodeCloneArgs parses a struct clone_args of len(buf) bytes (64 to 4096)
// as clone3(2) does: a longer struct than we know must end in zeros
// (E2BIG), a stack must have a size and lie in user space (EINVAL).
// FuzzDecodeCloneArgs feeds it hostile input.
func decodeCloneArgs(buf []byte) (kernel.CloneOptions, error) {
	if len(buf) < cloneArgsSizeVer0 {
		return kernel.CloneOptions{}, unix.EINVAL
	}
	for _, b := range buf[min(len(buf), cloneArgsSize):] {
		if b != 0 {
			return kernel.CloneOptions{}, unix.E2BIG
		}
	}
	le := binary.LittleEndian
	field := func(off int) uint64 {
		if off+8 > len(buf) {
			return 0
		}
		return le.Uint64(buf[off:])
	}
	// struct clone_args: flags, pidfd, child_tid, parent_tid, exit_signal,
	// stack, stack_size, tls, set_tid, set_tid_size, cgroup.
	flags := field(0)
	exitSig := field(32)
	stack, stackSize := field(40), field(48)
	if exitSig > uint64(linux.SignalMaximum) || flags&0xff != 0 {
		return kernel.CloneOptions{}, unix.EINVAL
	}
	if field(64) != 0 || field(72) != 0 {
		return kernel.CloneOptions{}, unix.EINVAL // set_tid
	}
	if flags&linux.CLONE_INTO_CGROUP != 0 {
		return kernel.CloneOptions{}, unix.EINVAL
	}
	var sp uintptr
	switch {
	case stack == 0 && stackSize != 0, stack != 0 && stackSize == 0:
		return kernel.CloneOptions{}, unix.EINVAL
	case stack != 0:
		// Linux's access_ok: the whole stack in user space, with no
		// wrap-around (stack+size once wrapped to a small address).
		if stack >= maxUserAddr || stackSize > maxUserAddr-stack {
			return kernel.CloneOptions{}, unix.EINVAL
		}
		sp = uintptr(stack + stackSize)
	}
	return kernel.CloneOptions{
		Flags:      flags,
		ExitSignal: linux.Signal(exitSig),
		Stack:      sp,
		ParentTID:  uintptr(field(24)),
		ChildTID:   uintptr(field(16)),
		TLS:        uintptr(field(56)),
	}, nil
}

// Fork implements Linux syscall fork(2).
func Fork(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	tid, err := t.Clone(kernel.CloneOptions{ExitSignal: linux.SIGCHLD})
	return uintptr(tid), err
}

// Vfork implements Linux syscall vfork(2).
func Vfork(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	tid, err := t.Clone(kernel.CloneOptions{Flags: linux.CLONE_VM | linux.CLONE_VFORK, ExitSignal: linux.SIGCHLD})
	return uintptr(tid), err
}

// maxArgs bounds argv/envp entries (like Linux's MAX_ARG_STRINGS, kept
// smaller) and maxArgBytes their total size.
const (
	maxArgs     = 1 << 17
	maxArgBytes = 32 << 20
)

// copyInStrings reads a NULL-terminated array of string pointers.
func copyInStrings(t *kernel.Task, addr uintptr) ([]string, error) {
	var out []string
	total := 0
	if addr == 0 {
		return nil, nil
	}
	var p [8]byte
	for i := 0; ; i++ {
		if i >= maxArgs {
			return nil, unix.E2BIG
		}
		if _, err := t.CopyIn(addr+uintptr(i*8), p[:]); err != nil {
			return nil, unix.EFAULT
		}
		sp := uintptr(binary.LittleEndian.Uint64(p[:]))
		if sp == 0 {
			return out, nil
		}
		s, err := t.CopyInString(sp, linux.PATH_MAX*32)
		if err != nil {
			if err == unix.ENAMETOOLONG {
				return nil, unix.E2BIG
			}
			return nil, err
		}
		total += len(s) + 1
		if total > maxArgBytes {
			return nil, unix.E2BIG
		}
		out = append(out, s)
	}
}

// Execve implements Linux syscall execve(2).
func Execve(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	return execveat(t, linux.AT_FDCWD, a[0], a[1], a[2], 0)
}

// Execveat implements Linux syscall execveat(2).
func Execveat(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	return execveat(t, a.Int(0), a[1], a[2], a[3], int(a.Int(4)))
}

func execveat(t *kernel.Task, dirfd int32, pathAddr, argvAddr, envvAddr uintptr, flags int) (uintptr, error) {
	if flags&^(linux.AT_EMPTY_PATH|linux.AT_SYMLINK_NOFOLLOW) != 0 {
		return 0, unix.EINVAL
	}
	path, err := t.CopyInString(pathAddr, linux.PATH_MAX)
	if err != nil {
		return 0, err
	}
	if path == "" && flags&linux.AT_EMPTY_PATH == 0 {
		return 0, unix.ENOENT
	}
	argv, err := copyInStrings(t, argvAddr)
	if err != nil {
		return 0, err
	}
	envv, err := copyInStrings(t, envvAddr)
	if err != nil {
		return 0, err
	}
	return 0, t.Execve(dirfd, path, argv, envv)
}

// Exit implements Linux syscall exit(2).
func Exit(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	t.Exit(int(a.Int(0)))
	return 0, kernel.ErrRegistersSet
}

// ExitGroup implements Linux syscall exit_group(2).
func ExitGroup(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	t.ExitGroup(int(a.Int(0)))
	return 0, kernel.ErrRegistersSet
}

func waitOptions(pid int32, options int) (kernel.WaitOptions, error) {
	if options&^(linux.WNOHANG|linux.WUNTRACED|linux.WCONTINUED|linux.WEXITED|linux.WNOWAIT|linux.WALL|linux.WCLONE|linux.WNOTHREAD) != 0 {
		return kernel.WaitOptions{}, unix.EINVAL
	}
	return kernel.WaitOptions{
		Pid:       kernel.ThreadID(pid),
		Stopped:   options&linux.WUNTRACED != 0,
		Continued: options&linux.WCONTINUED != 0,
		NoHang:    options&linux.WNOHANG != 0,
		NoWait:    options&linux.WNOWAIT != 0,
		WClone:    options&linux.WCLONE != 0,
		WAll:      options&linux.WALL != 0,
	}, nil
}

// Wait4 implements Linux syscall wait4(2).
func Wait4(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	o, err := waitOptions(a.Int(0), int(a.Int(2)))
	if err != nil {
		return 0, err
	}
	if a.Int(2)&(linux.WEXITED|linux.WNOWAIT) != 0 {
		return 0, unix.EINVAL
	}
	o.Exited = true
	if a.Int(0) == -1<<31 {
		return 0, unix.ESRCH
	}
	r, err := t.Wait(o)
	if err != nil || r == nil {
		return 0, err
	}
	if a[1] != 0 {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(r.Status))
		if _, err := t.CopyOut(a[1], b[:]); err != nil {
			return 0, unix.EFAULT
		}
	}
	if a[3] != 0 {
		ru := rusageFrom(r.UserNS, r.SysNS)
		if err := copyOutObj(t, a[3], &ru); err != nil {
			return 0, err
		}
	}
	return uintptr(r.Pid), nil
}

// Waitid implements Linux syscall waitid(2).
func Waitid(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	idtype, id, options := a.Int(0), a.Int(1), int(a.Int(3))
	if options&(linux.WEXITED|linux.WUNTRACED|linux.WCONTINUED) == 0 {
		return 0, unix.EINVAL
	}
	var pid int32
	switch idtype {
	case linux.P_ALL:
		pid = -1
	case linux.P_PID:
		if id <= 0 {
			return 0, unix.EINVAL
		}
		pid = id
	case linux.P_PGID:
		if id < 0 {
			return 0, unix.EINVAL
		}
		pid = -id
		if id == 0 {
			pid = 0
		}
	default:
		return 0, unix.EINVAL
	}
	o, err := waitOptions(pid, options)
	if err != nil {
		return 0, err
	}
	o.Exited = options&linux.WEXITED != 0
	r, err := t.Wait(o)
	if err != nil {
		return 0, err
	}
	if a[2] != 0 {
		info := linux.SignalInfo{}
		if r != nil {
			info.Signo = int32(linux.SIGCHLD)
			info.Code = r.Code
			info.SetPID(int32(r.Pid))
			info.SetUID(int32(r.UID))
			info.SetStatus(r.Signal)
		}
		if err := copyOutObj(t, a[2], &info); err != nil {
			return 0, err
		}
	}
	if a[4] != 0 && r != nil {
		ru := rusageFrom(r.UserNS, r.SysNS)
		if err := copyOutObj(t, a[4], &ru); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// Getpid implements Linux syscall getpid(2).
func Getpid(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	return uintptr(t.ThreadGroup().ID()), nil
}

// Gettid implements Linux syscall gettid(2).
func Gettid(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	return uintptr(t.ThreadID()), nil
}

// Getppid implements Linux syscall getppid(2).
func Getppid(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	return uintptr(t.ThreadGroup().ParentID()), nil
}

// SetTidAddress implements Linux syscall set_tid_address(2).
func SetTidAddress(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	t.SetClearChildTID(a[0])
	return uintptr(t.ThreadID()), nil
}

// SetRobustList implements Linux syscall set_robust_list(2).
func SetRobustList(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	if a[1] != 24 {
		return 0, unix.EINVAL
	}
	t.SetRobustList(a[0], a[1])
	return 0, nil
}

// GetRobustList implements Linux syscall get_robust_list(2).
func GetRobustList(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	if a.Int(0) != 0 && kernel.ThreadID(a.Int(0)) != t.ThreadID() {
		return 0, unix.EPERM
	}
	head, n := t.RobustList()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(head))
	if _, err := t.CopyOut(a[1], b[:]); err != nil {
		return 0, unix.EFAULT
	}
	binary.LittleEndian.PutUint64(b[:], uint64(n))
	if _, err := t.CopyOut(a[2], b[:]); err != nil {
		return 0, unix.EFAULT
	}
	return 0, nil
}

// Setsid implements Linux syscall setsid(2).
func Setsid(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	id, err := t.SetSID()
	return uintptr(id), err
}

// Getsid implements Linux syscall getsid(2).
func Getsid(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	id, err := t.GetSID(kernel.ThreadID(a.Int(0)))
	return uintptr(id), err
}

// Setpgid implements Linux syscall setpgid(2).
func Setpgid(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	return 0, t.SetPGID(kernel.ThreadID(a.Int(0)), kernel.ThreadID(a.Int(1)))
}

// Getpgid implements Linux syscall getpgid(2).
func Getpgid(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	id, err := t.GetPGID(kernel.ThreadID(a.Int(0)))
	return uintptr(id), err
}

// Getpgrp implements Linux syscall getpgrp(2).
func Getpgrp(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	id, err := t.GetPGID(0)
	return uintptr(id), err
}

// ArchPrctl implements Linux syscall arch_prctl(2).
func ArchPrctl(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	r := t.Registers()
	var b [8]byte
	switch a.Int(0) {
	case linux.ARCH_SET_FS:
		if a[1] >= 1<<47 {
			return 0, unix.EPERM
		}
		r.FsBase = uint64(a[1])
		r.Fs = 0
	case linux.ARCH_SET_GS:
		if a[1] >= 1<<47 {
			return 0, unix.EPERM
		}
		r.GsBase = uint64(a[1])
		r.Gs = 0
	case linux.ARCH_GET_FS:
		binary.LittleEndian.PutUint64(b[:], r.FsBase)
		if _, err := t.CopyOut(a[1], b[:]); err != nil {
			return 0, unix.EFAULT
		}
	case linux.ARCH_GET_GS:
		binary.LittleEndian.PutUint64(b[:], r.GsBase)
		if _, err := t.CopyOut(a[1], b[:]); err != nil {
			return 0, unix.EFAULT
		}
	default:
		return 0, unix.EINVAL
	}
	return 0, nil
}
