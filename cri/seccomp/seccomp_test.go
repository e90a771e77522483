package seccomp

import (
	"encoding/binary"
	"errors"
	"math/rand"
	"testing"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/bpf"
)

const (
	allow    = uint32(linux.SECCOMP_RET_ALLOW)
	errEPERM = uint32(linux.SECCOMP_RET_ERRNO) | 1
	kill     = uint32(linux.SECCOMP_RET_KILL_PROCESS)
)

// The profiles critest writes.
const (
	blockHostname = `{
     "defaultAction": "SCMP_ACT_ALLOW",
     "syscalls": [
         {
             "names": ["sethostname"],
             "action": "SCMP_ACT_ERRNO"
         }
     ]
}`
	blockChmod = `{
     "defaultAction": "SCMP_ACT_ALLOW",
     "syscalls": [
         {
             "names": ["chmod", "fchmodat"],
             "action": "SCMP_ACT_ERRNO"
         }
     ]
}`
)

type prog struct {
	t *testing.T
	p bpf.Program
}

func compile(t *testing.T, p *Profile, o Options) prog {
	t.Helper()
	insns, err := p.Compile(o)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	// The sentry checks what Linux checks; pkg/bpf's validation plus the
	// load rule is the same here.
	in := make([]bpf.Instruction, len(insns))
	for i, x := range insns {
		if x.OpCode == bpf.Ld|bpf.W|bpf.Abs && (x.K >= 64 || x.K%4 != 0) {
			t.Fatalf("instruction %d: load at %d", i, x.K)
		}
		in[i] = bpf.Instruction(x)
	}
	bp, err := bpf.Compile(in, false)
	if err != nil {
		t.Fatalf("bpf.Compile: %v", err)
	}
	if len(Program(insns).Bytes()) != 8*len(insns) {
		t.Fatal("Bytes: wrong length")
	}
	return prog{t, bp}
}

func (p prog) run(arch, nr uint32, args ...uint64) uint32 {
	p.t.Helper()
	d := make([]byte, 64)
	binary.LittleEndian.PutUint32(d[0:], nr)
	binary.LittleEndian.PutUint32(d[4:], arch)
	for i, a := range args {
		binary.LittleEndian.PutUint64(d[16+8*i:], a)
	}
	r, err := bpf.Exec[bpf.NativeEndian](p.p, d)
	if err != nil {
		p.t.Fatalf("Exec: %v", err)
	}
	return r
}

func (p prog) x86(nr uint32, args ...uint64) uint32 {
	p.t.Helper()
	return p.run(linux.AUDIT_ARCH_X86_64, nr, args...)
}

func mustParse(t *testing.T, s string) *Profile {
	t.Helper()
	p, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

func TestCritestProfiles(t *testing.T) {
	h := compile(t, mustParse(t, blockHostname), Options{})
	if got := h.x86(170); got != errEPERM { // sethostname
		t.Errorf("sethostname: %#x, want ERRNO(EPERM)", got)
	}
	for _, nr := range []uint32{0, 1, 39, 90, 171, 435} {
		if got := h.x86(nr); got != allow {
			t.Errorf("nr %d: %#x, want ALLOW", nr, got)
		}
	}
	c := compile(t, mustParse(t, blockChmod), Options{})
	for _, nr := range []uint32{90, 268} { // chmod, fchmodat
		if got := c.x86(nr); got != errEPERM {
			t.Errorf("nr %d: %#x, want ERRNO(EPERM)", nr, got)
		}
	}
	if got := c.x86(91); got != allow { // fchmod
		t.Errorf("fchmod: %#x", got)
	}
	// Only x86-64 was named: i386, x32 and other machines are killed.
	if got := c.run(0x40000003, 15); got != kill {
		t.Errorf("i386: %#x", got)
	}
	if got := c.x86(x32Bit | 90); got != kill {
		t.Errorf("x32: %#x", got)
	}
	if got := c.run(0xc00000b7, 90); got != kill { // aarch64
		t.Errorf("aarch64: %#x", got)
	}
}

func TestActionsAndErrno(t *testing.T) {
	p := mustParse(t, `{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,
	 "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X32"],
	 "syscalls":[
	  {"names":["getpid"],"action":"SCMP_ACT_ALLOW"},
	  {"names":["getppid"],"action":"SCMP_ACT_ERRNO","errnoRet":13},
	  {"names":["getuid"],"action":"SCMP_ACT_KILL"},
	  {"names":["getgid"],"action":"SCMP_ACT_KILL_PROCESS"},
	  {"names":["geteuid"],"action":"SCMP_ACT_TRAP"},
	  {"names":["getegid"],"action":"SCMP_ACT_LOG"},
	  {"names":["gettid"],"action":"SCMP_ACT_TRACE"},
	  {"name":"getsid","action":"SCMP_ACT_ALLOW"},
	  {"names":["no_such_call","arm_fadvise64_64"],"action":"SCMP_ACT_ALLOW"}]}`)
	c := compile(t, p, Options{})
	for nr, want := range map[uint32]uint32{
		39:  allow,
		110: uint32(linux.SECCOMP_RET_ERRNO) | 13,
		102: uint32(linux.SECCOMP_RET_KILL_THREAD),
		104: kill,
		107: uint32(linux.SECCOMP_RET_TRAP),
		108: retLog,
		186: uint32(linux.SECCOMP_RET_TRACE) | 1,
		124: allow,
		0:   uint32(linux.SECCOMP_RET_ERRNO) | 38,
	} {
		if got := c.x86(nr); got != want {
			t.Errorf("nr %d: %#x, want %#x", nr, got, want)
		}
	}
	// X32 named: its calls get the default; -1 too.
	if got := c.x86(x32Bit | 39); got != uint32(linux.SECCOMP_RET_ERRNO)|38 {
		t.Errorf("x32: %#x", got)
	}
	if got := c.x86(0xffffffff); got != uint32(linux.SECCOMP_RET_ERRNO)|38 {
		t.Errorf("-1: %#x", got)
	}
	if got := c.run(0x40000003, 20); got != kill {
		t.Errorf("i386 not named: %#x", got)
	}
}

func TestInvalidProfiles(t *testing.T) {
	for _, s := range []string{
		`{`,
		`{"syscalls":[]}`,
		`{"defaultAction":"SCMP_ACT_BOGUS"}`,
		`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_NOPE"}]}`,
		`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_NOTIFY"}]}`,
		`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}`,
		`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_SOMETIMES"}]}]}`,
		`{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_VAX"]}`,
		`{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_BOGUS"]}`,
	} {
		p, err := Parse([]byte(s))
		if err == nil {
			_, err = p.Compile(Options{})
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", s, err)
		}
	}
}

// TestArgumentComparisons checks each operator on 64-bit values against
// Go's own comparison, with values that differ in either half.
func TestArgumentComparisons(t *testing.T) {
	vals := []uint64{0, 1, 2, 0xffffffff, 1 << 32, 1<<32 + 1, 2 << 32, 0xffffffff00000000, ^uint64(0), 40, 0x7e020000}
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 20; i++ {
		vals = append(vals, r.Uint64(), uint64(r.Uint32()), r.Uint64()&0xffffffff00000003)
	}
	ops := map[string]func(x, v, two uint64) bool{
		"SCMP_CMP_EQ":        func(x, v, _ uint64) bool { return x == v },
		"SCMP_CMP_NE":        func(x, v, _ uint64) bool { return x != v },
		"SCMP_CMP_LT":        func(x, v, _ uint64) bool { return x < v },
		"SCMP_CMP_LE":        func(x, v, _ uint64) bool { return x <= v },
		"SCMP_CMP_GT":        func(x, v, _ uint64) bool { return x > v },
		"SCMP_CMP_GE":        func(x, v, _ uint64) bool { return x >= v },
		"SCMP_CMP_MASKED_EQ": func(x, v, two uint64) bool { return x&v == two },
	}
	for op, f := range ops {
		for _, v := range vals {
			two := v & 0x0000ffff0000ffff
			p := &Profile{DefaultAction: "SCMP_ACT_ALLOW", Syscalls: []Rule{{
				Names: []string{"write"}, Action: "SCMP_ACT_ERRNO",
				Args: []Arg{{Index: 2, Value: v, ValueTwo: two, Op: op}},
			}}}
			c := compile(t, p, Options{})
			for _, x := range vals {
				want := allow
				if f(x, v, two) {
					want = errEPERM
				}
				if got := c.x86(1, 0, 0, x); got != want {
					t.Fatalf("%s value %#x (two %#x) arg %#x: %#x, want %#x", op, v, two, x, got, want)
				}
			}
		}
	}
}

func TestArgumentsAndOr(t *testing.T) {
	// Different arguments: AND. The same argument twice: OR (runc).
	p := mustParse(t, `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
	 {"names":["write"],"action":"SCMP_ACT_ERRNO","args":[
	   {"index":0,"value":3,"op":"SCMP_CMP_EQ"},{"index":2,"value":10,"op":"SCMP_CMP_GT"}]},
	 {"names":["read"],"action":"SCMP_ACT_ERRNO","args":[
	   {"index":0,"value":3,"op":"SCMP_CMP_EQ"},{"index":0,"value":5,"op":"SCMP_CMP_EQ"}]}]}`)
	c := compile(t, p, Options{})
	for _, tc := range []struct {
		nr   uint32
		args []uint64
		want uint32
	}{
		{1, []uint64{3, 0, 11}, errEPERM},
		{1, []uint64{3, 0, 10}, allow},
		{1, []uint64{4, 0, 11}, allow},
		{0, []uint64{3}, errEPERM},
		{0, []uint64{5}, errEPERM},
		{0, []uint64{4}, allow},
	} {
		if got := c.x86(tc.nr, tc.args...); got != tc.want {
			t.Errorf("nr %d args %v: %#x, want %#x", tc.nr, tc.args, got, tc.want)
		}
	}
}

func TestRuntimeDefault(t *testing.T) {
	sysAdmin := uint64(1) << 21
	def := compile(t, RuntimeDefault(), Options{Caps: 0xa80425fb}) // the OCI default set
	adm := compile(t, RuntimeDefault(), Options{Caps: 0xa80425fb | sysAdmin})
	const (
		cloneNewNS = 0x20000
		sigchld    = 17
		cloneVM    = 0x100
	)
	for _, tc := range []struct {
		name      string
		nr        uint32
		args      []uint64
		def, with uint32
	}{
		{"getpid", 39, nil, allow, allow},
		{"read", 0, nil, allow, allow},
		{"execve", 59, nil, allow, allow},
		{"mount", 165, nil, errEPERM, allow},
		{"sethostname", 170, nil, errEPERM, allow},
		{"reboot", 169, nil, errEPERM, errEPERM},
		{"kexec_load", 246, nil, errEPERM, errEPERM},
		{"socket inet", 41, []uint64{2}, allow, allow},
		{"socket vsock", 41, []uint64{afVsock}, errEPERM, errEPERM},
		{"personality query", 135, []uint64{0xffffffff}, allow, allow},
		{"personality odd", 135, []uint64{0x1}, errEPERM, errEPERM},
		{"clone thread", 56, []uint64{cloneVM | sigchld}, allow, allow},
		{"clone newns", 56, []uint64{cloneNewNS | sigchld}, errEPERM, allow},
		{"clone3", 435, nil, uint32(linux.SECCOMP_RET_ERRNO) | enosys, allow},
		{"ptrace", 101, nil, allow, allow},
		{"unknown 999", 999, nil, errEPERM, errEPERM},
	} {
		if got := def.x86(tc.nr, tc.args...); got != tc.def {
			t.Errorf("%s default caps: %#x, want %#x", tc.name, got, tc.def)
		}
		if got := adm.x86(tc.nr, tc.args...); got != tc.with {
			t.Errorf("%s with CAP_SYS_ADMIN: %#x, want %#x", tc.name, got, tc.with)
		}
	}
	// i386 and x32 calls are refused with EPERM, other machines killed.
	if got := def.run(0x40000003, 20); got != errEPERM {
		t.Errorf("i386: %#x", got)
	}
	if got := def.x86(x32Bit | 39); got != errEPERM {
		t.Errorf("x32: %#x", got)
	}
	if got := def.run(0xc00000b7, 39); got != kill {
		t.Errorf("aarch64: %#x", got)
	}
	insns, _ := RuntimeDefault().Compile(Options{})
	t.Logf("RuntimeDefault: %d instructions", len(insns))
}

// FuzzProfile: any JSON either is refused or compiles to a program that
// validates and runs.
func FuzzProfile(f *testing.F) {
	f.Add(blockHostname)
	f.Add(blockChmod)
	f.Add(`{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86"],"syscalls":[{"names":["write"],"action":"SCMP_ACT_ALLOW","args":[{"index":1,"value":5,"valueTwo":4,"op":"SCMP_CMP_MASKED_EQ"},{"index":2,"value":1,"op":"SCMP_CMP_LE"}]}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse([]byte(s))
		if err != nil {
			return
		}
		insns, err := p.Compile(Options{Caps: ^uint64(0)})
		if err != nil {
			return
		}
		in := make([]bpf.Instruction, len(insns))
		for i, x := range insns {
			in[i] = bpf.Instruction(x)
		}
		bp, err := bpf.Compile(in, false)
		if err != nil {
			t.Fatalf("a compiled profile does not validate: %v", err)
		}
		d := make([]byte, 64)
		binary.LittleEndian.PutUint32(d[4:], linux.AUDIT_ARCH_X86_64)
		if _, err := bpf.Exec[bpf.NativeEndian](bp, d); err != nil {
			t.Fatalf("Exec: %v", err)
		}
	})
}
