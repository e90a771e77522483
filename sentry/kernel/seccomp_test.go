package kernel

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/bpf"
)

func stmt(code uint16, k uint32) linux.BPFInstruction {
	return linux.BPFInstruction{OpCode: code, K: k}
}

func jump(code uint16, k uint32, jt, jf uint8) linux.BPFInstruction {
	return linux.BPFInstruction{OpCode: code, K: k, JumpIfTrue: jt, JumpIfFalse: jf}
}

// retIfNr returns ret for system call nr and ALLOW otherwise.
func retIfNr(nr, ret uint32) []linux.BPFInstruction {
	return []linux.BPFInstruction{
		stmt(bpf.Ld|bpf.W|bpf.Abs, 0),
		jump(bpf.Jmp|bpf.Jeq|bpf.K, nr, 0, 1),
		stmt(bpf.Ret|bpf.K, ret),
		stmt(bpf.Ret|bpf.K, uint32(linux.SECCOMP_RET_ALLOW)),
	}
}

func mustFilter(t *testing.T, insns []linux.BPFInstruction) *SeccompFilter {
	t.Helper()
	f, err := NewSeccompFilter(insns)
	if err != nil {
		t.Fatalf("NewSeccompFilter: %v", err)
	}
	return f
}

func data(nr uint32, args ...uint64) []byte {
	d := make([]byte, seccompDataSize)
	binary.LittleEndian.PutUint32(d[0:], nr)
	binary.LittleEndian.PutUint32(d[4:], linux.AUDIT_ARCH_X86_64)
	for i, a := range args {
		binary.LittleEndian.PutUint64(d[16+8*i:], a)
	}
	return d
}

func chain(fs ...*SeccompFilter) *seccompFilter {
	var l *seccompFilter
	for _, f := range fs {
		l = &seccompFilter{prog: f.prog, insns: f.insns, prev: l}
	}
	return l
}

func TestSeccompValidation(t *testing.T) {
	ret := stmt(bpf.Ret|bpf.K, 0)
	for _, tc := range []struct {
		name  string
		insns []linux.BPFInstruction
		ok    bool
	}{
		{"empty", nil, false},
		{"ret only", []linux.BPFInstruction{ret}, true},
		{"no final ret", []linux.BPFInstruction{stmt(bpf.Ld|bpf.W|bpf.Abs, 0)}, false},
		{"unaligned load", []linux.BPFInstruction{stmt(bpf.Ld|bpf.W|bpf.Abs, 2), ret}, false},
		{"load past seccomp_data", []linux.BPFInstruction{stmt(bpf.Ld|bpf.W|bpf.Abs, 64), ret}, false},
		{"last word", []linux.BPFInstruction{stmt(bpf.Ld|bpf.W|bpf.Abs, 60), ret}, true},
		{"half-word load", []linux.BPFInstruction{stmt(bpf.Ld|bpf.H|bpf.Abs, 0), ret}, false},
		{"indirect load", []linux.BPFInstruction{stmt(bpf.Ld|bpf.W|bpf.Ind, 0), ret}, false},
		{"mod", []linux.BPFInstruction{stmt(bpf.Alu|bpf.Mod|bpf.K, 3), ret}, false},
		{"div by zero", []linux.BPFInstruction{stmt(bpf.Alu|bpf.Div|bpf.K, 0), ret}, false},
		{"jump out", []linux.BPFInstruction{jump(bpf.Jmp|bpf.Jeq|bpf.K, 0, 5, 0), ret}, false},
		{"ja out", []linux.BPFInstruction{stmt(bpf.Jmp|bpf.Ja, 1), ret}, false},
		{"bad mem", []linux.BPFInstruction{stmt(bpf.St, 16), ret}, false},
		{"len", []linux.BPFInstruction{stmt(bpf.Ld|bpf.W|bpf.Len, 0), stmt(bpf.Ret|bpf.A, 0)}, true},
		{"garbage opcode", []linux.BPFInstruction{{OpCode: 0xffff}, ret}, false},
	} {
		_, err := NewSeccompFilter(tc.insns)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && err != unix.EINVAL {
			t.Errorf("%s: err %v, want EINVAL", tc.name, err)
		}
	}
	long := make([]linux.BPFInstruction, bpf.MaxInstructions+1)
	long[len(long)-1] = ret
	if _, err := NewSeccompFilter(long); err != unix.EINVAL {
		t.Errorf("4097 instructions: %v, want EINVAL", err)
	}
	if _, err := NewSeccompFilter(long[1:]); err != nil {
		t.Errorf("4096 instructions: %v", err)
	}
}

func TestSeccompPrecedence(t *testing.T) {
	errno := uint32(linux.SECCOMP_RET_ERRNO) | 1
	trap := uint32(linux.SECCOMP_RET_TRAP) | 7
	kill := uint32(linux.SECCOMP_RET_KILL_PROCESS)
	a := mustFilter(t, retIfNr(39, errno))
	b := mustFilter(t, retIfNr(39, trap))
	c := mustFilter(t, retIfNr(1, kill))
	d := mustFilter(t, retIfNr(39, uint32(linux.SECCOMP_RET_ERRNO)|2))
	l := chain(a, b, c)
	if got := evalSeccompFilters(l, data(39)); got != trap {
		t.Errorf("getpid: %#x, want trap %#x (TRAP beats ERRNO)", got, trap)
	}
	if got := evalSeccompFilters(l, data(1)); got != kill {
		t.Errorf("write: %#x, want kill", got)
	}
	if got := evalSeccompFilters(l, data(0)); got != uint32(linux.SECCOMP_RET_ALLOW) {
		t.Errorf("read: %#x, want allow", got)
	}
	// Equal actions: the newest filter's data wins.
	if got := evalSeccompFilters(chain(a, d), data(39)); got != uint32(linux.SECCOMP_RET_ERRNO)|2 {
		t.Errorf("two ERRNO filters: %#x, want the newest", got)
	}
	// KILL_PROCESS (negative as s32) beats KILL_THREAD (0).
	kt := mustFilter(t, retIfNr(1, uint32(linux.SECCOMP_RET_KILL_THREAD)))
	if got := evalSeccompFilters(chain(c, kt), data(1)); got != kill {
		t.Errorf("kill thread vs process: %#x", got)
	}
	// LOG is below ALLOW, above it in precedence.
	lg := mustFilter(t, retIfNr(0, SeccompRetLog))
	if got := evalSeccompFilters(chain(lg), data(0)); got != SeccompRetLog {
		t.Errorf("log: %#x", got)
	}
}

func TestSeccompArgumentFilter(t *testing.T) {
	// Deny write(3, ...) with EBADF-like errno 9 only: the low and high
	// words of args[0] are both checked.
	f := mustFilter(t, []linux.BPFInstruction{
		stmt(bpf.Ld|bpf.W|bpf.Abs, 4),
		jump(bpf.Jmp|bpf.Jeq|bpf.K, linux.AUDIT_ARCH_X86_64, 1, 0),
		stmt(bpf.Ret|bpf.K, uint32(linux.SECCOMP_RET_KILL_PROCESS)),
		stmt(bpf.Ld|bpf.W|bpf.Abs, 0),
		jump(bpf.Jmp|bpf.Jeq|bpf.K, 1, 0, 5),
		stmt(bpf.Ld|bpf.W|bpf.Abs, 16),
		jump(bpf.Jmp|bpf.Jeq|bpf.K, 3, 0, 3),
		stmt(bpf.Ld|bpf.W|bpf.Abs, 20),
		jump(bpf.Jmp|bpf.Jeq|bpf.K, 0, 0, 1),
		stmt(bpf.Ret|bpf.K, uint32(linux.SECCOMP_RET_ERRNO)|9),
		stmt(bpf.Ret|bpf.K, uint32(linux.SECCOMP_RET_ALLOW)),
	})
	l := chain(f)
	for _, tc := range []struct {
		nr   uint32
		arg0 uint64
		want uint32
	}{
		{1, 3, uint32(linux.SECCOMP_RET_ERRNO) | 9},
		{1, 4, uint32(linux.SECCOMP_RET_ALLOW)},
		{1, 3 | 1<<32, uint32(linux.SECCOMP_RET_ALLOW)},
		{0, 3, uint32(linux.SECCOMP_RET_ALLOW)},
	} {
		if got := evalSeccompFilters(l, data(tc.nr, tc.arg0)); got != tc.want {
			t.Errorf("nr %d arg0 %#x: %#x, want %#x", tc.nr, tc.arg0, got, tc.want)
		}
	}
	d := data(1, 3)
	binary.LittleEndian.PutUint32(d[4:], 0x40000003) // i386
	if got := evalSeccompFilters(l, d); got != uint32(linux.SECCOMP_RET_KILL_PROCESS) {
		t.Errorf("foreign arch: %#x", got)
	}
}

func TestSeccompTotalLength(t *testing.T) {
	k := &Kernel{}
	tk := &Task{k: k, tg: &ThreadGroup{tasks: map[*Task]struct{}{}}}
	tk.tg.tasks[tk] = struct{}{}
	big := make([]linux.BPFInstruction, bpf.MaxInstructions)
	big[len(big)-1] = stmt(bpf.Ret|bpf.K, uint32(linux.SECCOMP_RET_ALLOW))
	f := mustFilter(t, big)
	n := 0
	var err error
	for n = 0; n < 10; n++ {
		if err = tk.InstallSeccompFilter(f); err != nil {
			break
		}
	}
	// (4096+4)*7 fits in 32768, an eighth does not.
	if err != unix.ENOMEM || n != 7 {
		t.Fatalf("installed %d filters, then %v; want 7 then ENOMEM", n, err)
	}
	if tk.SeccompMode() != SeccompModeFilter || tk.SeccompFilterCount() != 7 {
		t.Errorf("mode %d filters %d", tk.SeccompMode(), tk.SeccompFilterCount())
	}
	if err := tk.SetSeccompStrict(); err != unix.EINVAL {
		t.Errorf("strict after filter: %v, want EINVAL", err)
	}
}

// FuzzSeccompFilter: whatever bytes an application passes as a program,
// decoding and running it never panics, and anything accepted returns.
func FuzzSeccompFilter(f *testing.F) {
	f.Add([]byte{0x06, 0, 0, 0, 0, 0, 0xff, 0x7f})                         // ret ALLOW
	f.Add([]byte{0x20, 0, 0, 0, 0, 0, 0, 0, 0x06, 0, 0, 0, 0, 0, 0, 0})    // ld nr; ret 0
	f.Add([]byte{0x15, 0, 9, 9, 1, 0, 0, 0, 0x06, 0, 0, 0, 0, 0, 0, 0})    // jump out of range
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3}) // garbage
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 8*bpf.MaxInstructions+8 {
			return
		}
		sf, err := DecodeSeccompFilter(b)
		if err != nil {
			if err != unix.EINVAL {
				t.Fatalf("error %v, want EINVAL", err)
			}
			return
		}
		evalSeccompFilters(chain(sf), data(39, 1, 2, 3))
	})
}
