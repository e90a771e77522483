// Package seccomp builds and installs the host seccomp filters that
// confine runsc-cri's own processes: the sentry (boot --pod, boot
// --spec, do) and the gofer. (Container seccomp profiles, which the
// sentry enforces on application system calls, are cri/seccomp; this
// package is about the host calls the Go processes themselves make.)
//
// Model. SentryRules and GoferRules are allowlists built with gVisor's
// pkg/seccomp builder (SyscallRules, with argument matchers where an
// argument decides what the call can reach: socket only AF_UNIX, clone
// only the thread flags the Go runtime uses, prctl and fcntl only known
// operations). Program turns a rule set into a BPF program whose
// default action is SECCOMP_RET_KILL_PROCESS, or SECCOMP_RET_LOG in
// debug mode (Options.Log): a call missing from the list is then
// allowed but logged by the kernel, so `dmesg | grep audit` (type=1326,
// "syscall=N") names it. Install loads the program on every thread of
// the calling process (SECCOMP_FILTER_FLAG_TSYNC, after
// PR_SET_NO_NEW_PRIVS); it must run after start-up work is done and
// before any application code runs. A filter cannot be removed.
//
// The mode comes from ModeEnv: unset or "on", "log", or "off" (no
// filter, for debugging).
//
// There is no state and no locking: rule sets are built on each call.
package seccomp

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/bpf"
	gs "gvisor.dev/gvisor/pkg/seccomp"
)

// Options configure a filter.
type Options struct {
	// Log makes calls outside the allowlist succeed and be logged by
	// the kernel (SECCOMP_RET_LOG) instead of killing the process.
	Log bool
}

// Program builds the BPF program for rules with the default action
// Options selects. Calls from a foreign architecture kill the process.
func Program(rules gs.SyscallRules, o Options) ([]bpf.Instruction, error) {
	def := gs.KillProcess
	if o.Log {
		// pkg/seccomp has no LOG action: build with TRAP as the
		// default (used nowhere else) and rewrite those returns.
		def = gs.Trap
	}
	p := gs.Program{
		RuleSets: []gs.RuleSet{
			{Rules: rules, Action: gs.Allow},
			// clone3 passes its flags in memory, where seccomp
			// cannot look: say ENOSYS, so that glibc falls back to
			// clone, whose flags are checked.
			{Rules: gs.MakeSyscallRules(map[uintptr]gs.SyscallRule{unix.SYS_CLONE3: gs.MatchAll{}}),
				Action: gs.ReturnError.Code(uint16(unix.ENOSYS))},
			// Opens by path that the allowlist does not take fail
			// with EACCES rather than kill: glibc (cgo binaries)
			// reads /sys/devices/system/cpu/online in the first new
			// thread and copes with a failure. The file is not
			// opened either way.
			{Rules: gs.MakeSyscallRules(map[uintptr]gs.SyscallRule{
				unix.SYS_OPENAT: gs.MatchAll{}, unix.SYS_OPEN: gs.MatchAll{}}),
				Action: gs.ReturnError.Code(uint16(unix.EACCES))},
		},
		Options: gs.ProgramOptions{
			DefaultAction: def,
			BadArchAction: gs.KillProcess,
			HotSyscalls:   []uintptr{unix.SYS_FUTEX, unix.SYS_WAIT4, unix.SYS_PTRACE, unix.SYS_NANOSLEEP},
		},
	}
	insns, _, err := p.Build()
	if err != nil {
		return nil, fmt.Errorf("seccomp: building filter: %w", err)
	}
	if o.Log {
		for i, in := range insns {
			if in.OpCode == bpf.Ret|bpf.K && in.K == uint32(linux.SECCOMP_RET_TRAP) {
				insns[i].K = secRetLog
			}
		}
	}
	return insns, nil
}

// Install builds the program for rules and installs it on all threads
// of the calling process.
func Install(rules gs.SyscallRules, o Options) error {
	insns, err := Program(rules, o)
	if err != nil {
		return err
	}
	if err := gs.SetFilter(insns); err != nil {
		return fmt.Errorf("seccomp: installing filter: %w", err)
	}
	return nil
}

// InstallSentryFilters confines a sentry process.
func InstallSentryFilters(o Options) error { return Install(SentryRules(), o) }

// InstallGoferFilters confines a gofer process.
func InstallGoferFilters(o Options) error { return Install(GoferRules(), o) }

// matchAll allows a call whatever its arguments.
var matchAll = gs.MatchAll{}

// allow adds every number in nos with no argument checks.
func allow(r gs.SyscallRules, nos ...uintptr) {
	for _, n := range nos {
		r.Set(n, matchAll)
	}
}

// goThreadFlags are the clone flags of the Go runtime's newosproc.
const goThreadFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES |
	unix.CLONE_SIGHAND | unix.CLONE_SYSVSEM | unix.CLONE_THREAD

// glibcThreadFlags are the clone flags of glibc's pthread_create.
const glibcThreadFlags = goThreadFlags | unix.CLONE_SETTLS |
	unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID

// runtimeRules are what every Go process here needs: the runtime's
// memory, threads, signals, timers and scheduler calls, and I/O on
// descriptors it already holds.
func runtimeRules() gs.SyscallRules {
	r := gs.NewSyscallRules()
	allow(r,
		unix.SYS_READ, unix.SYS_WRITE, unix.SYS_PREAD64, unix.SYS_PWRITE64,
		unix.SYS_READV, unix.SYS_WRITEV, unix.SYS_PREADV, unix.SYS_PWRITEV,
		unix.SYS_PREADV2, unix.SYS_PWRITEV2, unix.SYS_LSEEK,
		unix.SYS_CLOSE, unix.SYS_DUP, unix.SYS_DUP3, unix.SYS_FSTAT,
		unix.SYS_MUNMAP, unix.SYS_MADVISE, unix.SYS_MREMAP, unix.SYS_MINCORE,
		unix.SYS_BRK, unix.SYS_FUTEX, unix.SYS_SCHED_YIELD,
		unix.SYS_SCHED_GETAFFINITY, unix.SYS_NANOSLEEP, unix.SYS_CLOCK_NANOSLEEP,
		unix.SYS_CLOCK_GETTIME, unix.SYS_GETTIMEOFDAY, unix.SYS_RT_SIGACTION,
		unix.SYS_RT_SIGPROCMASK, unix.SYS_RT_SIGRETURN, unix.SYS_SIGALTSTACK,
		unix.SYS_GETPID, unix.SYS_GETTID, unix.SYS_GETPPID, unix.SYS_TGKILL,
		unix.SYS_EXIT, unix.SYS_EXIT_GROUP, unix.SYS_RESTART_SYSCALL,
		unix.SYS_EPOLL_CREATE1, unix.SYS_EPOLL_CTL, unix.SYS_EPOLL_PWAIT,
		unix.SYS_EPOLL_WAIT, unix.SYS_PPOLL, unix.SYS_POLL, unix.SYS_EVENTFD2,
		unix.SYS_PIPE2, unix.SYS_TIMER_CREATE, unix.SYS_TIMER_SETTIME,
		unix.SYS_TIMER_DELETE, unix.SYS_TIMERFD_CREATE, unix.SYS_TIMERFD_SETTIME,
		unix.SYS_TIMERFD_GETTIME, unix.SYS_SETITIMER, unix.SYS_GETRUSAGE,
		unix.SYS_GETRANDOM, unix.SYS_UNAME, unix.SYS_MEMBARRIER,
		unix.SYS_SENDMSG, unix.SYS_RECVMSG, unix.SYS_SENDTO, unix.SYS_RECVFROM,
		unix.SYS_SENDMMSG, unix.SYS_RECVMMSG, unix.SYS_SHUTDOWN,
		unix.SYS_GETSOCKNAME, unix.SYS_GETPEERNAME, unix.SYS_GETSOCKOPT,
		unix.SYS_SETSOCKOPT, unix.SYS_ACCEPT4, unix.SYS_FTRUNCATE,
		unix.SYS_FALLOCATE, unix.SYS_FSYNC, unix.SYS_FDATASYNC,
	)
	// mmap: anything but executable mappings.
	r.Set(unix.SYS_MMAP, gs.PerArg{gs.AnyValue{}, gs.AnyValue{},
		gs.MaskedEqual(unix.PROT_EXEC, 0)})
	r.Set(unix.SYS_MPROTECT, gs.PerArg{gs.AnyValue{}, gs.AnyValue{},
		gs.MaskedEqual(unix.PROT_EXEC, 0)})
	// clone: new threads of this process only (the Go runtime's, and
	// glibc's pthread_create in a cgo binary once clone3 said ENOSYS).
	r.Set(unix.SYS_CLONE, gs.Or{
		gs.PerArg{gs.EqualTo(goThreadFlags)},
		gs.PerArg{gs.EqualTo(glibcThreadFlags)},
	})
	allow(r, unix.SYS_RSEQ, unix.SYS_SET_ROBUST_LIST)
	// fcntl: descriptor flags and status flags only.
	r.Set(unix.SYS_FCNTL, gs.Or{
		gs.PerArg{gs.AnyValue{}, gs.EqualTo(unix.F_GETFD)},
		gs.PerArg{gs.AnyValue{}, gs.EqualTo(unix.F_SETFD)},
		gs.PerArg{gs.AnyValue{}, gs.EqualTo(unix.F_GETFL)},
		gs.PerArg{gs.AnyValue{}, gs.EqualTo(unix.F_SETFL)},
		gs.PerArg{gs.AnyValue{}, gs.EqualTo(unix.F_DUPFD_CLOEXEC)},
	})
	// socket and socketpair: AF_UNIX only.
	r.Set(unix.SYS_SOCKET, gs.PerArg{gs.EqualTo(unix.AF_UNIX)})
	r.Set(unix.SYS_SOCKETPAIR, gs.PerArg{gs.EqualTo(unix.AF_UNIX)})
	// prctl: the few options Go and we use.
	r.Set(unix.SYS_PRCTL, gs.Or{
		gs.PerArg{gs.EqualTo(unix.PR_SET_NAME)},
		gs.PerArg{gs.EqualTo(unix.PR_GET_NAME)},
		gs.PerArg{gs.EqualTo(unix.PR_SET_PDEATHSIG)},
		gs.PerArg{gs.EqualTo(linux.PR_SET_NO_NEW_PRIVS)},
	})
	return r
}

// SentryRules is the sentry's allowlist: the runtime's, plus the ptrace
// platform (ptrace, wait4, kill of its stubs, process_vm_readv/writev,
// pidfds), the memory file, and packet sockets handed in for pod NICs.
// openat is not allowed: the sentry must open host files before the
// filter is installed or receive them from the gofer.
func SentryRules() gs.SyscallRules {
	r := runtimeRules()
	allow(r,
		unix.SYS_PTRACE, unix.SYS_WAIT4, unix.SYS_WAITID, unix.SYS_KILL,
		unix.SYS_PROCESS_VM_READV, unix.SYS_PROCESS_VM_WRITEV,
		unix.SYS_PIDFD_OPEN, unix.SYS_PIDFD_SEND_SIGNAL,
		unix.SYS_SCHED_SETAFFINITY, unix.SYS_GETCPU,
		unix.SYS_BIND, unix.SYS_CONNECT, unix.SYS_LISTEN,
	)
	// ioctl: terminal and FIONREAD/FIONBIO on donated descriptors.
	r.Set(unix.SYS_IOCTL, gs.Or{
		gs.PerArg{gs.AnyValue{}, gs.EqualTo(unix.TCGETS)},
		gs.PerArg{gs.AnyValue{}, gs.EqualTo(unix.TCSETS)},
		gs.PerArg{gs.AnyValue{}, gs.EqualTo(unix.TIOCGWINSZ)},
		gs.PerArg{gs.AnyValue{}, gs.EqualTo(unix.TIOCSWINSZ)},
		gs.PerArg{gs.AnyValue{}, gs.EqualTo(linux.FIONREAD)},
		gs.PerArg{gs.AnyValue{}, gs.EqualTo(linux.FIONBIO)},
	})
	return r
}

// ptmxFlags are the exact open flags of the pod sentry's /dev/ptmx
// opens (sentry/boot openPty).
const ptmxFlags = unix.O_RDWR | unix.O_NOCTTY | unix.O_CLOEXEC | unix.O_NONBLOCK

// PodSentryRules is SentryRules plus what a pod sentry needs for tty
// containers: openat(AT_FDCWD, ..., exactly ptmxFlags) (seccomp cannot
// check the path) and the pty ioctls.
func PodSentryRules() gs.SyscallRules {
	r := SentryRules()
	r.Set(unix.SYS_OPENAT, gs.PerArg{gs.EqualTo(atFDCWD), gs.AnyValue{}, gs.EqualTo(ptmxFlags)})
	// unlinkat(AT_FDCWD, path, 0): closing the control listener
	// removes its socket file (net.UnixListener unlinks on close).
	r.Set(unix.SYS_UNLINKAT, gs.PerArg{gs.EqualTo(atFDCWD), gs.AnyValue{}, gs.EqualTo(0)})
	r.Add(unix.SYS_IOCTL, gs.Or{
		gs.PerArg{gs.AnyValue{}, gs.EqualTo(unix.TIOCSPTLCK)},
		gs.PerArg{gs.AnyValue{}, gs.EqualTo(unix.TIOCGPTPEER)},
		gs.PerArg{gs.AnyValue{}, gs.EqualTo(unix.TIOCGPTN)},
	})
	return r
}

// atFDCWD is AT_FDCWD as Go passes it: sign-extended to 64 bits.
const atFDCWD = ^uintptr(-unix.AT_FDCWD - 1)

// GoferRules is the gofer's allowlist: the runtime's plus the
// descriptor-relative file operations it serves.
func GoferRules() gs.SyscallRules {
	r := runtimeRules()
	allow(r,
		unix.SYS_OPENAT, unix.SYS_OPENAT2, unix.SYS_NEWFSTATAT, unix.SYS_STATX,
		unix.SYS_FSTATFS, unix.SYS_GETDENTS64, unix.SYS_FCHMOD, unix.SYS_FCHMODAT,
		unix.SYS_FCHOWN, unix.SYS_FCHOWNAT, unix.SYS_UTIMENSAT, unix.SYS_MKDIRAT,
		unix.SYS_MKNODAT, unix.SYS_UNLINKAT, unix.SYS_RENAMEAT, unix.SYS_RENAMEAT2,
		unix.SYS_SYMLINKAT, unix.SYS_LINKAT, unix.SYS_READLINKAT,
		unix.SYS_FGETXATTR, unix.SYS_FSETXATTR, unix.SYS_FLISTXATTR,
		unix.SYS_FREMOVEXATTR, unix.SYS_FACCESSAT, unix.SYS_FACCESSAT2,
	)
	r.Set(unix.SYS_IOCTL, gs.Or{
		gs.PerArg{gs.AnyValue{}, gs.EqualTo(linux.FIONREAD)},
		gs.PerArg{gs.AnyValue{}, gs.EqualTo(linux.FIONBIO)},
	})
	return r
}

// secRetLog is SECCOMP_RET_LOG (allow after logging), which
// pkg/abi/linux does not name.
const secRetLog = 0x7ffc0000

// ModeEnv is the environment variable that selects the filter mode of
// runsc-cri's processes ("on" when unset, "log" or "off"); children
// inherit it.
const ModeEnv = "RUNSC_CRI_HOST_SECCOMP"

// Modes of ModeEnv.
const (
	ModeOn  = "on"
	ModeLog = "log"
	ModeOff = "off"
)

// ModeFromEnv returns the mode ModeEnv selects.
func ModeFromEnv() (string, error) {
	switch m := os.Getenv(ModeEnv); m {
	case "", ModeOn:
		return ModeOn, nil
	case ModeLog, ModeOff:
		return m, nil
	default:
		return "", fmt.Errorf("%s=%q: want on, log or off", ModeEnv, m)
	}
}

// InstallFromEnv installs rules in the mode ModeEnv selects.
func InstallFromEnv(rules gs.SyscallRules) error {
	mode, err := ModeFromEnv()
	if err != nil || mode == ModeOff {
		return err
	}
	return Install(rules, Options{Log: mode == ModeLog})
}
