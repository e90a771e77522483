package seccomp

import (
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/bpf"
	gs "gvisor.dev/gvisor/pkg/seccomp"
)

type call struct {
	name string
	nr   int32
	args [6]uint64
	want uint32
}

const (
	allowed = uint32(linux.SECCOMP_RET_ALLOW)
	killed  = uint32(linux.SECCOMP_RET_KILL_PROCESS)
	eacces  = uint32(linux.SECCOMP_RET_ERRNO) | uint32(unix.EACCES)
)

func run(t *testing.T, rules gs.SyscallRules, o Options, calls []call) {
	t.Helper()
	insns, err := Program(rules, o)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := bpf.Compile(insns, false)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, (&linux.SeccompData{}).SizeBytes())
	for _, c := range calls {
		d := linux.SeccompData{Nr: c.nr, Arch: linux.AUDIT_ARCH_X86_64, Args: c.args}
		got, err := bpf.Exec[bpf.NativeEndian](prog, gs.DataAsBPFInput(&d, buf))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s: action %#x, want %#x", c.name, got, c.want)
		}
	}
}

func TestSentryProgram(t *testing.T) {
	run(t, SentryRules(), Options{}, []call{
		{"execve", unix.SYS_EXECVE, [6]uint64{}, killed},
		{"openat", unix.SYS_OPENAT, [6]uint64{3}, eacces},
		{"open", unix.SYS_OPEN, [6]uint64{}, eacces},
		{"socket(AF_INET)", unix.SYS_SOCKET, [6]uint64{unix.AF_INET, unix.SOCK_STREAM}, killed},
		{"socket(AF_UNIX)", unix.SYS_SOCKET, [6]uint64{unix.AF_UNIX, unix.SOCK_STREAM}, allowed},
		{"mmap(PROT_EXEC)", unix.SYS_MMAP, [6]uint64{0, 4096, unix.PROT_READ | unix.PROT_EXEC}, killed},
		{"mmap(RW)", unix.SYS_MMAP, [6]uint64{0, 4096, unix.PROT_READ | unix.PROT_WRITE}, allowed},
		{"clone(fork)", unix.SYS_CLONE, [6]uint64{uint64(unix.SIGCHLD)}, killed},
		{"clone(thread)", unix.SYS_CLONE, [6]uint64{goThreadFlags}, allowed},
		{"ioctl(TIOCSTI)", unix.SYS_IOCTL, [6]uint64{0, unix.TIOCSTI}, killed},
		{"ioctl(TCGETS)", unix.SYS_IOCTL, [6]uint64{0, unix.TCGETS}, allowed},
		{"fcntl(F_SETOWN)", unix.SYS_FCNTL, [6]uint64{0, unix.F_SETOWN}, killed},
		{"prctl(PR_SET_DUMPABLE)", unix.SYS_PRCTL, [6]uint64{unix.PR_SET_DUMPABLE}, killed},
		{"mount", unix.SYS_MOUNT, [6]uint64{}, killed},
		{"getpid", unix.SYS_GETPID, [6]uint64{}, allowed},
		{"futex", unix.SYS_FUTEX, [6]uint64{}, allowed},
		{"ptrace", unix.SYS_PTRACE, [6]uint64{unix.PTRACE_SYSEMU}, allowed},
		{"wait4", unix.SYS_WAIT4, [6]uint64{}, allowed},
		{"process_vm_readv", unix.SYS_PROCESS_VM_READV, [6]uint64{}, allowed},
	})
}

func TestGoferProgram(t *testing.T) {
	run(t, GoferRules(), Options{}, []call{
		{"execve", unix.SYS_EXECVE, [6]uint64{}, killed},
		{"ptrace", unix.SYS_PTRACE, [6]uint64{unix.PTRACE_ATTACH, 1}, killed},
		{"socket(AF_INET)", unix.SYS_SOCKET, [6]uint64{unix.AF_INET}, killed},
		{"openat", unix.SYS_OPENAT, [6]uint64{3}, allowed},
		{"getdents64", unix.SYS_GETDENTS64, [6]uint64{}, allowed},
		{"renameat2", unix.SYS_RENAMEAT2, [6]uint64{}, allowed},
	})
}

// TestLogMode: a missing call is allowed and logged in debug mode, but
// a foreign architecture still kills.
func TestLogMode(t *testing.T) {
	run(t, SentryRules(), Options{Log: true}, []call{
		{"execve", unix.SYS_EXECVE, [6]uint64{}, secRetLog},
		{"getpid", unix.SYS_GETPID, [6]uint64{}, allowed},
	})
	insns, err := Program(SentryRules(), Options{Log: true})
	if err != nil {
		t.Fatal(err)
	}
	prog, _ := bpf.Compile(insns, false)
	buf := make([]byte, (&linux.SeccompData{}).SizeBytes())
	d := linux.SeccompData{Nr: unix.SYS_GETPID, Arch: 0x40000003}
	if got, _ := bpf.Exec[bpf.NativeEndian](prog, gs.DataAsBPFInput(&d, buf)); got != killed {
		t.Errorf("i386 getpid: action %#x, want kill", got)
	}
}
