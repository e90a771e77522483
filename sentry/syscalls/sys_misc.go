package syscalls

import (
	"crypto/rand"
	"encoding/binary"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/arch"
	"github.com/runsc-cri/runsc-cri/sentry/kernel"
	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
)

func init() {
	addFamily(map[uintptr]Entry{
		unix.SYS_UNAME:                  {Handler: Uname, Support: Full},
		unix.SYS_SETHOSTNAME:            {Handler: Sethostname, Support: Full},
		unix.SYS_SETDOMAINNAME:          {Handler: Setdomainname, Support: Full},
		unix.SYS_SYSINFO:                {Handler: Sysinfo, Support: Full},
		unix.SYS_GETRANDOM:              {Handler: Getrandom, Support: Full},
		unix.SYS_PRCTL:                  {Handler: Prctl, Support: Partial, Note: "names, dumpable, pdeathsig, keepcaps, subreaper, no_new_privs, capability bounding, seccomp"},
		unix.SYS_GETRLIMIT:              {Handler: Getrlimit, Support: Full},
		unix.SYS_SETRLIMIT:              {Handler: Setrlimit, Support: Partial, Note: "limits are recorded; RLIMIT_NOFILE, STACK and NPROC are enforced"},
		unix.SYS_PRLIMIT64:              {Handler: Prlimit64, Support: Partial, Note: "as setrlimit"},
		unix.SYS_GETRUSAGE:              {Handler: Getrusage, Support: Partial, Note: "CPU times only"},
		unix.SYS_SCHED_YIELD:            {Handler: SchedYield, Support: Full},
		unix.SYS_SCHED_GETAFFINITY:      {Handler: SchedGetaffinity, Support: Full},
		unix.SYS_SCHED_SETAFFINITY:      {Handler: SchedSetaffinity, Support: Partial, Note: "accepted, not applied"},
		unix.SYS_SCHED_GETSCHEDULER:     {Handler: SchedGetscheduler, Support: Full},
		unix.SYS_SCHED_SETSCHEDULER:     {Handler: SchedSetscheduler, Support: Partial, Note: "SCHED_OTHER only"},
		unix.SYS_SCHED_GETPARAM:         {Handler: SchedGetparam, Support: Full},
		unix.SYS_SCHED_SETPARAM:         {Handler: SchedSetparam, Support: Partial, Note: "priority 0 only"},
		unix.SYS_SCHED_GET_PRIORITY_MAX: {Handler: SchedGetPriorityMax, Support: Full},
		unix.SYS_SCHED_GET_PRIORITY_MIN: {Handler: SchedGetPriorityMin, Support: Full},
		unix.SYS_GETCPU:                 {Handler: Getcpu, Support: Full},
		unix.SYS_GETPRIORITY:            {Handler: Getpriority, Support: Partial, Note: "always nice 0"},
		unix.SYS_SETPRIORITY:            {Handler: Setpriority, Support: Partial, Note: "accepted, not applied"},
		unix.SYS_PERSONALITY:            {Handler: Personality, Support: Partial, Note: "PER_LINUX only"},
		unix.SYS_MEMBARRIER:             {Handler: nil, Support: Unimplemented, Note: "ENOSYS"},
		unix.SYS_PTRACE:                 {Handler: Denied, Support: Partial, Note: "EPERM: tracing is not available in the sandbox"},
		unix.SYS_KEXEC_LOAD:             {Handler: Denied, Support: Partial, Note: "EPERM"},
		unix.SYS_KEXEC_FILE_LOAD:        {Handler: Denied, Support: Partial, Note: "EPERM"},
		unix.SYS_REBOOT:                 {Handler: Denied, Support: Partial, Note: "EPERM"},
		unix.SYS_INIT_MODULE:            {Handler: Denied, Support: Partial, Note: "EPERM"},
		unix.SYS_FINIT_MODULE:           {Handler: Denied, Support: Partial, Note: "EPERM"},
		unix.SYS_DELETE_MODULE:          {Handler: Denied, Support: Partial, Note: "EPERM"},
		unix.SYS_SWAPON:                 {Handler: Denied, Support: Partial, Note: "EPERM"},
		unix.SYS_SWAPOFF:                {Handler: Denied, Support: Partial, Note: "EPERM"},
		unix.SYS_ACCT:                   {Handler: Denied, Support: Partial, Note: "EPERM"},
		unix.SYS_IOPL:                   {Handler: Denied, Support: Partial, Note: "EPERM"},
		unix.SYS_IOPERM:                 {Handler: Denied, Support: Partial, Note: "EPERM"},
		unix.SYS_SYSLOG:                 {Handler: Denied, Support: Partial, Note: "EPERM: no kernel log"},
		unix.SYS_UNSHARE:                {Handler: Unshare, Support: Partial, Note: "CLONE_FILES, CLONE_FS and CLONE_NEWNS; other namespaces EPERM"},
		unix.SYS_SETNS:                  {Handler: Denied, Support: Partial, Note: "EPERM"},
		unix.SYS_PROCESS_VM_READV:       {Handler: Denied, Support: Partial, Note: "EPERM"},
		unix.SYS_PROCESS_VM_WRITEV:      {Handler: Denied, Support: Partial, Note: "EPERM"},
	})
}

// Denied implements the privileged calls a sandboxed program never gets.
func Denied(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	return 0, unix.EPERM
}

// Release is the kernel version the sandbox reports.
const (
	Release = "4.4.0"
	Version = "#1 SMP Sun Jan 10 15:06:54 PST 2016"
)

// Uname implements Linux syscall uname(2).
func Uname(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	var u linux.UtsName
	copy(u.Sysname[:], "Linux")
	copy(u.Nodename[:], t.Kernel().Hostname())
	copy(u.Release[:], Release)
	copy(u.Version[:], Version)
	copy(u.Machine[:], "x86_64")
	copy(u.Domainname[:], "(none)")
	return 0, copyOutObj(t, a[0], &u)
}

// Sethostname implements Linux syscall sethostname(2).
func Sethostname(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	if !t.Credentials().HasCapability(auth.CapSysAdmin) {
		return 0, unix.EPERM
	}
	n := int(a.Int(1))
	if n < 0 || n > 64 {
		return 0, unix.EINVAL
	}
	b := make([]byte, n)
	if _, err := t.CopyIn(a[0], b); err != nil {
		return 0, unix.EFAULT
	}
	t.Kernel().SetHostname(string(b))
	return 0, nil
}

// Setdomainname implements Linux syscall setdomainname(2).
func Setdomainname(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	if !t.Credentials().HasCapability(auth.CapSysAdmin) {
		return 0, unix.EPERM
	}
	if a.Int(1) < 0 || a.Int(1) > 64 {
		return 0, unix.EINVAL
	}
	return 0, nil
}

// Sysinfo implements Linux syscall sysinfo(2).
func Sysinfo(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	mf := t.Kernel().MemFile()
	total := mf.Size()
	used := mf.Used()
	si := linux.Sysinfo{
		Uptime:   int64(time.Since(t.Kernel().BootTime()).Seconds()),
		TotalRAM: total,
		FreeRAM:  total - used,
		Procs:    uint16(len(t.Kernel().ThreadGroups())),
		Unit:     1,
	}
	return 0, copyOutObj(t, a[0], &si)
}

// Getrandom implements Linux syscall getrandom(2).
func Getrandom(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	if a.Uint(2)&^(unix.GRND_NONBLOCK|unix.GRND_RANDOM|unix.GRND_INSECURE) != 0 {
		return 0, unix.EINVAL
	}
	n := a[1]
	if n > 1<<25 {
		n = 1 << 25
	}
	got, err := t.WithBlocks(a[0], n, true, func(blocks [][]byte) (int, error) {
		total := 0
		for _, b := range blocks {
			rand.Read(b)
			total += len(b)
		}
		return total, nil
	})
	return uintptr(got), err
}

// Prctl implements Linux syscall prctl(2).
func Prctl(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	switch a.Int(0) {
	case linux.PR_SET_NAME:
		name, err := t.CopyInString(a[1], 16)
		if err != nil && err != unix.ENAMETOOLONG {
			return 0, err
		}
		if len(name) > 15 {
			name = name[:15]
		}
		t.SetName(name)
		return 0, nil
	case linux.PR_GET_NAME:
		var b [16]byte
		copy(b[:15], t.Name())
		if _, err := t.CopyOut(a[1], b[:]); err != nil {
			return 0, unix.EFAULT
		}
		return 0, nil
	case linux.PR_SET_PDEATHSIG:
		sig := linux.Signal(a.Int(1))
		if sig != 0 && !sig.IsValid() {
			return 0, unix.EINVAL
		}
		t.ThreadGroup().SetPdeathSignal(sig)
		return 0, nil
	case linux.PR_GET_PDEATHSIG:
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(t.ThreadGroup().PdeathSignal()))
		if _, err := t.CopyOut(a[1], b[:]); err != nil {
			return 0, unix.EFAULT
		}
		return 0, nil
	case linux.PR_SET_DUMPABLE:
		if a[1] > 1 {
			return 0, unix.EINVAL
		}
		t.ThreadGroup().SetDumpable(a[1] == 1)
		return 0, nil
	case linux.PR_GET_DUMPABLE:
		if t.ThreadGroup().Dumpable() {
			return 1, nil
		}
		return 0, nil
	case linux.PR_SET_KEEPCAPS:
		if a[1] > 1 {
			return 0, unix.EINVAL
		}
		n := t.Credentials().Fork()
		n.KeepCaps = a[1] == 1
		t.SetCredentials(n)
		return 0, nil
	case linux.PR_GET_KEEPCAPS:
		if t.Credentials().KeepCaps {
			return 1, nil
		}
		return 0, nil
	case linux.PR_SET_CHILD_SUBREAPER:
		t.ThreadGroup().SetSubreaper(a[1] != 0)
		return 0, nil
	case linux.PR_GET_CHILD_SUBREAPER:
		var b [4]byte
		if t.ThreadGroup().Subreaper() {
			b[0] = 1
		}
		if _, err := t.CopyOut(a[1], b[:]); err != nil {
			return 0, unix.EFAULT
		}
		return 0, nil
	case linux.PR_SET_NO_NEW_PRIVS:
		if a[1] != 1 || a[2] != 0 || a[3] != 0 || a[4] != 0 {
			return 0, unix.EINVAL
		}
		if !t.Credentials().NoNewPrivs {
			n := t.Credentials().Fork()
			n.NoNewPrivs = true
			t.SetCredentials(n)
		}
		return 0, nil
	case linux.PR_GET_NO_NEW_PRIVS:
		if t.Credentials().NoNewPrivs {
			return 1, nil
		}
		return 0, nil
	case linux.PR_CAPBSET_READ:
		if a[1] > 63 {
			return 0, unix.EINVAL
		}
		if t.Credentials().Bounding.Has(int(a[1])) {
			return 1, nil
		}
		return 0, nil
	case linux.PR_CAPBSET_DROP:
		if a[1] > 63 {
			return 0, unix.EINVAL
		}
		c := t.Credentials()
		if !c.HasCapability(auth.CapSetpcap) {
			return 0, unix.EPERM
		}
		n := c.Fork()
		n.Bounding &^= 1 << a[1]
		t.SetCredentials(n)
		return 0, nil
	case linux.PR_CAP_AMBIENT:
		if a.Int(1) == linux.PR_CAP_AMBIENT_IS_SET {
			return 0, nil
		}
		return 0, nil
	case linux.PR_SET_TIMERSLACK, linux.PR_SET_THP_DISABLE:
		return 0, nil
	case linux.PR_GET_TIMERSLACK:
		return 50000, nil
	case linux.PR_GET_SECCOMP:
		return uintptr(t.SeccompMode()), nil
	case linux.PR_SET_SECCOMP:
		return prctlSeccomp(t, a)
	case linux.PR_SET_MM:
		return 0, unix.EPERM
	}
	return 0, unix.EINVAL
}

func copyOutRlimit(t *kernel.Task, addr uintptr, l kernel.Rlimit) error {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[0:], l.Cur)
	binary.LittleEndian.PutUint64(b[8:], l.Max)
	if _, err := t.CopyOut(addr, b[:]); err != nil {
		return unix.EFAULT
	}
	return nil
}

func copyInRlimit(t *kernel.Task, addr uintptr) (kernel.Rlimit, error) {
	var b [16]byte
	if _, err := t.CopyIn(addr, b[:]); err != nil {
		return kernel.Rlimit{}, unix.EFAULT
	}
	return kernel.Rlimit{Cur: binary.LittleEndian.Uint64(b[0:]), Max: binary.LittleEndian.Uint64(b[8:])}, nil
}

// Getrlimit implements Linux syscall getrlimit(2).
func Getrlimit(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	old, err := t.PRlimit(t.ThreadGroup(), int(a.Int(0)), nil)
	if err != nil {
		return 0, err
	}
	return 0, copyOutRlimit(t, a[1], old)
}

// Setrlimit implements Linux syscall setrlimit(2).
func Setrlimit(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	nl, err := copyInRlimit(t, a[1])
	if err != nil {
		return 0, err
	}
	_, err = t.PRlimit(t.ThreadGroup(), int(a.Int(0)), &nl)
	return 0, err
}

// Prlimit64 implements Linux syscall prlimit64(2).
func Prlimit64(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	tg := t.ThreadGroup()
	if pid := kernel.ThreadID(a.Int(0)); pid != 0 {
		tg = t.Kernel().ThreadGroupByID(pid)
		if tg == nil {
			return 0, unix.ESRCH
		}
	}
	var nl *kernel.Rlimit
	if a[2] != 0 {
		l, err := copyInRlimit(t, a[2])
		if err != nil {
			return 0, err
		}
		nl = &l
	}
	old, err := t.PRlimit(tg, int(a.Int(1)), nl)
	if err != nil {
		return 0, err
	}
	if a[3] != 0 {
		return 0, copyOutRlimit(t, a[3], old)
	}
	return 0, nil
}

// Getrusage implements Linux syscall getrusage(2).
func Getrusage(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	var ru linux.Rusage
	switch a.Int(0) {
	case linux.RUSAGE_SELF:
		u, s, _, _ := processTimes(t)
		ru = rusageFrom(u, s)
		for _, o := range t.ThreadGroup().Tasks() {
			ru.MinFlt += int64(o.PageFaults()) // live threads' faults only
		}
	case linux.RUSAGE_CHILDREN:
		_, _, cu, cs := processTimes(t)
		ru = rusageFrom(cu, cs)
	case linux.RUSAGE_THREAD:
		u, s := t.CPUTime()
		ru = rusageFrom(u, s)
		ru.MinFlt = int64(t.PageFaults())
	default:
		return 0, unix.EINVAL
	}
	ru.MaxRSS = int64(t.MemoryManager().ResidentSize() / 1024)
	return 0, copyOutObj(t, a[1], &ru)
}

// SchedYield implements Linux syscall sched_yield(2).
func SchedYield(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	runtime.Gosched()
	return 0, nil
}

// SchedGetaffinity implements Linux syscall sched_getaffinity(2).
func SchedGetaffinity(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	size := a[1]
	n := runtime.NumCPU()
	need := uintptr((n + 63) / 64 * 8)
	if size < need || size%8 != 0 {
		return 0, unix.EINVAL
	}
	b := make([]byte, need)
	for i := 0; i < n; i++ {
		b[i/8] |= 1 << (i % 8)
	}
	if _, err := t.CopyOut(a[2], b); err != nil {
		return 0, unix.EFAULT
	}
	return need, nil
}

// SchedSetaffinity implements Linux syscall sched_setaffinity(2).
func SchedSetaffinity(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	return 0, nil
}

// SchedGetscheduler implements Linux syscall sched_getscheduler(2).
func SchedGetscheduler(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	if a.Int(0) < 0 {
		return 0, unix.EINVAL
	}
	return 0, nil // SCHED_OTHER
}

// SchedSetscheduler implements Linux syscall sched_setscheduler(2).
func SchedSetscheduler(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	if a.Int(1) != 0 {
		return 0, unix.EPERM
	}
	return 0, nil
}

// SchedGetparam implements Linux syscall sched_getparam(2).
func SchedGetparam(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	var b [4]byte
	if _, err := t.CopyOut(a[1], b[:]); err != nil {
		return 0, unix.EFAULT
	}
	return 0, nil
}

// SchedSetparam implements Linux syscall sched_setparam(2).
func SchedSetparam(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	var b [4]byte
	if _, err := t.CopyIn(a[1], b[:]); err != nil {
		return 0, unix.EFAULT
	}
	if binary.LittleEndian.Uint32(b[:]) != 0 {
		return 0, unix.EINVAL
	}
	return 0, nil
}

// SchedGetPriorityMax implements Linux syscall sched_get_priority_max(2).
func SchedGetPriorityMax(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	switch a.Int(0) {
	case linux.SCHED_NORMAL, linux.SCHED_BATCH, linux.SCHED_IDLE:
		return 0, nil
	case linux.SCHED_FIFO, linux.SCHED_RR:
		return 99, nil
	}
	return 0, unix.EINVAL
}

// SchedGetPriorityMin implements Linux syscall sched_get_priority_min(2).
func SchedGetPriorityMin(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	switch a.Int(0) {
	case linux.SCHED_NORMAL, linux.SCHED_BATCH, linux.SCHED_IDLE:
		return 0, nil
	case linux.SCHED_FIFO, linux.SCHED_RR:
		return 1, nil
	}
	return 0, unix.EINVAL
}

// Getcpu implements Linux syscall getcpu(2).
func Getcpu(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	var b [4]byte
	if a[0] != 0 {
		if _, err := t.CopyOut(a[0], b[:]); err != nil {
			return 0, unix.EFAULT
		}
	}
	if a[1] != 0 {
		if _, err := t.CopyOut(a[1], b[:]); err != nil {
			return 0, unix.EFAULT
		}
	}
	return 0, nil
}

// Getpriority implements Linux syscall getpriority(2): 20 - nice.
func Getpriority(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	if a.Int(0) < 0 || a.Int(0) > 2 {
		return 0, unix.EINVAL
	}
	return 20, nil
}

// Setpriority implements Linux syscall setpriority(2).
func Setpriority(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	if a.Int(0) < 0 || a.Int(0) > 2 {
		return 0, unix.EINVAL
	}
	return 0, nil
}

// Personality implements Linux syscall personality(2).
func Personality(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	p := a.Uint(0)
	if p == 0xffffffff || p == 0 {
		return 0, nil
	}
	return 0, unix.EINVAL
}

// Unshare implements Linux syscall unshare(2).
func Unshare(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	flags := uint64(a[0])
	if flags&linux.CLONE_NEWNS != 0 {
		return 0, unshareMountNamespace(t, flags)
	}
	if flags&^(linux.CLONE_FILES|linux.CLONE_FS|linux.CLONE_SYSVSEM) != 0 {
		return 0, unix.EPERM
	}
	return 0, t.Unshare(flags)
}
