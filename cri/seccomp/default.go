package seccomp

import "strings"

// The runtime's default profile (Kubernetes' RuntimeDefault): an allow
// list of what ordinary containers use, the same set of names as the
// default profiles of Docker and containerd (the widely deployed
// baseline, so images that work there work here), and EPERM for the
// rest. Calls that administer the machine are allowed only to containers
// holding the capability that Linux would check anyway; clone may not
// create namespaces without CAP_SYS_ADMIN, and clone3 (whose flags a
// filter cannot read) answers ENOSYS so that libcs fall back to clone.

// defaultAllowed are allowed to every container.
var defaultAllowed = []string{
	"accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat",
	"capget", "capset", "chdir", "chmod", "chown", "clock_adjtime", "clock_getres",
	"clock_gettime", "clock_nanosleep", "close", "close_range", "connect",
	"copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1",
	"epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait",
	"epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group",
	"faccessat", "faccessat2", "fadvise64", "fallocate", "fanotify_mark", "fchdir",
	"fchmod", "fchmodat", "fchmodat2", "fchown", "fchownat", "fcntl", "fdatasync",
	"fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat",
	"fstatfs", "fsync", "ftruncate", "futex", "futex_requeue", "futex_wait",
	"futex_waitv", "futex_wake", "futimesat", "getcpu", "getcwd", "getdents",
	"getdents64", "getegid", "geteuid", "getgid", "getgroups", "getitimer",
	"getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
	"getrandom", "getresgid", "getresuid", "getrlimit", "get_robust_list", "getrusage",
	"getsid", "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday",
	"getuid", "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1",
	"inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents",
	"io_pgetevents", "ioprio_get", "ioprio_set", "io_setup", "io_submit", "kill",
	"landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown",
	"lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr", "lremovexattr",
	"lseek", "lsetxattr", "lstat", "madvise", "map_shadow_stack", "membarrier",
	"memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod", "mknodat",
	"mlock", "mlock2", "mlockall", "mmap", "mprotect", "mq_getsetattr", "mq_notify",
	"mq_open", "mq_timedreceive", "mq_timedsend", "mq_unlink", "mremap", "msgctl",
	"msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap",
	"name_to_handle_at", "nanosleep", "newfstatat", "open", "openat", "openat2", "pause",
	"pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free",
	"pkey_mprotect", "poll", "ppoll", "prctl", "pread64", "preadv", "preadv2",
	"prlimit64", "process_mrelease", "pselect6", "pwrite64", "pwritev", "pwritev2",
	"read", "readahead", "readlink", "readlinkat", "readv", "recvfrom", "recvmmsg",
	"recvmsg", "remap_file_pages", "removexattr", "rename", "renameat", "renameat2",
	"restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
	"rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
	"rt_sigtimedwait", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
	"sched_getparam", "sched_get_priority_max", "sched_get_priority_min",
	"sched_getscheduler", "sched_rr_get_interval", "sched_setaffinity", "sched_setattr",
	"sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl",
	"semget", "semop", "semtimedop", "sendfile", "sendmmsg", "sendmsg", "sendto",
	"setfsgid", "setfsuid", "setgid", "setgroups", "setitimer", "setpgid", "setpriority",
	"setregid", "setresgid", "setresuid", "setreuid", "setrlimit", "set_robust_list",
	"setsid", "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setxattr",
	"shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd",
	"signalfd4", "socketpair", "splice", "stat", "statfs", "statx", "symlink",
	"symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time",
	"timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
	"timer_settime", "timerfd_create", "timerfd_gettime", "timerfd_settime", "times",
	"tkill", "truncate", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat",
	"utimes", "vfork", "vmsplice", "wait4", "waitid", "write", "writev",
	// x86-64 only.
	"arch_prctl", "modify_ldt",
	// Tracing and inspecting one's own processes (Linux checks the
	// ptrace access mode; Docker allows these since kernel 4.8).
	"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev",
	"ptrace",
}

// capRules are allowed only with a capability.
var capRules = []struct {
	cap   string
	names []string
}{
	{"CAP_SYS_ADMIN", []string{"bpf", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
		"lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open",
		"quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog", "umount2",
		"unshare", "clone", "clone3"}},
	{"CAP_SYS_BOOT", []string{"reboot"}},
	{"CAP_SYS_CHROOT", []string{"chroot"}},
	{"CAP_SYS_MODULE", []string{"delete_module", "init_module", "finit_module"}},
	{"CAP_SYS_PACCT", []string{"acct"}},
	{"CAP_SYS_PTRACE", []string{"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv",
		"process_vm_writev", "ptrace"}},
	{"CAP_SYS_RAWIO", []string{"iopl", "ioperm"}},
	{"CAP_SYS_TIME", []string{"settimeofday", "clock_settime"}},
	{"CAP_SYS_TTY_CONFIG", []string{"vhangup"}},
	{"CAP_SYS_NICE", []string{"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"}},
	{"CAP_SYSLOG", []string{"syslog"}},
	{"CAP_BPF", []string{"bpf"}},
	{"CAP_PERFMON", []string{"perf_event_open"}},
}

// Constants of the conditional rules.
const (
	afVsock = 40
	// cloneNamespaceFlags are CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|
	// NEWUSER|NEWPID|NEWNET.
	cloneNamespaceFlags = 0x7e020000
	enosys              = 38
)

// RuntimeDefault returns the runtime's default profile.
func RuntimeDefault() *Profile {
	errnoRet := uint(eperm)
	p := &Profile{
		DefaultAction:   "SCMP_ACT_ERRNO",
		DefaultErrnoRet: &errnoRet,
		Architectures:   []string{archX8664, archX86, archX32},
	}
	p.Syscalls = append(p.Syscalls, Rule{Names: defaultAllowed, Action: "SCMP_ACT_ALLOW"})
	// socket: every family but vsock (which reaches the host).
	p.Syscalls = append(p.Syscalls, Rule{Names: []string{"socket"}, Action: "SCMP_ACT_ALLOW",
		Args: []Arg{{Index: 0, Value: afVsock, Op: "SCMP_CMP_NE"}}})
	// personality: Linux, the 32-bit address space, no randomisation,
	// and querying.
	for _, v := range []uint64{0x0, 0x8, 0x20000, 0x20008, 0xffffffff} {
		p.Syscalls = append(p.Syscalls, Rule{Names: []string{"personality"}, Action: "SCMP_ACT_ALLOW",
			Args: []Arg{{Index: 0, Value: v, Op: "SCMP_CMP_EQ"}}})
	}
	for _, r := range capRules {
		p.Syscalls = append(p.Syscalls, Rule{Names: r.names, Action: "SCMP_ACT_ALLOW",
			Includes: &Filter{Caps: []string{r.cap}}})
	}
	// Without CAP_SYS_ADMIN: clone without namespace flags, clone3 ENOSYS.
	p.Syscalls = append(p.Syscalls,
		Rule{Names: []string{"clone"}, Action: "SCMP_ACT_ALLOW",
			Args:     []Arg{{Index: 0, Value: cloneNamespaceFlags, ValueTwo: 0, Op: "SCMP_CMP_MASKED_EQ"}},
			Excludes: &Filter{Caps: []string{"CAP_SYS_ADMIN"}}},
		Rule{Names: []string{"clone3"}, Action: "SCMP_ACT_ERRNO", ErrnoRet: ptr(enosys),
			Excludes: &Filter{Caps: []string{"CAP_SYS_ADMIN"}}})
	return p
}

func ptr(v uint) *uint { return &v }

// capNames are the capability names by number.
var capNames = []string{
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
	"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
	"IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
	"SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
	"LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
	"WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
}

// capNumber returns the number of a capability named "CAP_X" or "X".
func capNumber(name string) (uint, bool) {
	up := strings.TrimPrefix(strings.ToUpper(name), "CAP_")
	for i, n := range capNames {
		if n == up {
			return uint(i), true
		}
	}
	return 0, false
}
