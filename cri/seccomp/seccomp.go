// Package seccomp turns a container's seccomp profile (the OCI runtime
// spec / Docker JSON format) into a classic BPF program for the sentry,
// which runs it before every system call of the container's processes
// (control.Process.Seccomp).
//
// Model. A Profile is parsed from JSON (Parse) or is the runtime's own
// default (RuntimeDefault). Compile resolves the rules for one container
// (a rule may depend on the container's capabilities, as Docker's
// "includes"/"excludes" say) and generates the program:
//
//  1. the architecture: x86-64 goes on; x32 system calls (x86-64 with
//     bit 30 of the number) and i386 ones get the profile's default
//     action when the profile names that architecture, KILL_PROCESS
//     otherwise (the names in the rules are x86-64 numbers only);
//  2. the system call number, by binary search over the numbers that
//     have rules;
//  3. for that number, its rules in profile order: the first whose
//     argument conditions all hold gives the action; none, the default.
//
// Conditions compare the full 64-bit arguments (both 32-bit halves of
// seccomp_data). Within one rule conditions are ANDed, except that
// several conditions all on the same argument are ORed (each becomes a
// rule of its own), as runc does.
//
// There is no state and no locking: everything is a pure function.
package seccomp

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/bpf"
)

// ErrInvalid marks a profile that cannot be used (bad JSON, an unknown
// action, operator, flag or architecture).
var ErrInvalid = errors.New("invalid seccomp profile")

// Profile is a seccomp profile in the OCI / Docker JSON format.
type Profile struct {
	DefaultAction   string   `json:"defaultAction"`
	DefaultErrnoRet *uint    `json:"defaultErrnoRet,omitempty"`
	Architectures   []string `json:"architectures,omitempty"`
	ArchMap         []struct {
		Arch    string   `json:"architecture"`
		SubArch []string `json:"subArchitectures"`
	} `json:"archMap,omitempty"`
	Flags        []string `json:"flags,omitempty"`
	ListenerPath string   `json:"listenerPath,omitempty"`
	Syscalls     []Rule   `json:"syscalls,omitempty"`
}

// Rule is one entry of a profile's syscalls list.
type Rule struct {
	Names    []string `json:"names,omitempty"`
	Name     string   `json:"name,omitempty"` // old Docker profiles
	Action   string   `json:"action"`
	ErrnoRet *uint    `json:"errnoRet,omitempty"`
	Args     []Arg    `json:"args,omitempty"`
	Includes *Filter  `json:"includes,omitempty"`
	Excludes *Filter  `json:"excludes,omitempty"`
}

// Arg is an argument condition: argument Index compared with Value by Op
// (for SCMP_CMP_MASKED_EQ, Value is the mask and ValueTwo the result).
type Arg struct {
	Index    uint   `json:"index"`
	Value    uint64 `json:"value"`
	ValueTwo uint64 `json:"valueTwo,omitempty"`
	Op       string `json:"op"`
}

// Filter is Docker's condition on a rule: the container's capabilities
// and the architecture (minKernel is not checked: the sentry is the
// kernel).
type Filter struct {
	Caps   []string `json:"caps,omitempty"`
	Arches []string `json:"arches,omitempty"`
}

// Options are the container's properties that rules may depend on.
type Options struct {
	// Caps is the container's capability (bounding) set, bit n for
	// capability n.
	Caps uint64
}

// Parse decodes a JSON profile and checks what Compile cannot ignore.
func Parse(data []byte) (*Profile, error) {
	var p Profile
	d := json.NewDecoder(strings.NewReader(string(data)))
	if err := d.Decode(&p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if p.DefaultAction == "" {
		return nil, fmt.Errorf("%w: defaultAction is missing", ErrInvalid)
	}
	return &p, nil
}

// Program is a compiled filter.
type Program []linux.BPFInstruction

// Bytes encodes the program as struct sock_filter entries (the form of
// control.Process.Seccomp).
func (p Program) Bytes() []byte {
	b := make([]byte, 8*len(p))
	for i, in := range p {
		binary.LittleEndian.PutUint16(b[8*i:], in.OpCode)
		b[8*i+2] = in.JumpIfTrue
		b[8*i+3] = in.JumpIfFalse
		binary.LittleEndian.PutUint32(b[8*i+4:], in.K)
	}
	return b
}

// Actions beyond the gVisor abi names.
const (
	retLog = 0x7ffc0000
	eperm  = 1
)

// action turns a profile action name into a return value.
func action(name string, errnoRet *uint) (uint32, error) {
	data := func(def uint) uint32 {
		v := def
		if errnoRet != nil {
			v = *errnoRet
		}
		if v > 0xffff {
			v = 0xffff
		}
		return uint32(v)
	}
	switch name {
	case "SCMP_ACT_ALLOW":
		return uint32(linux.SECCOMP_RET_ALLOW), nil
	case "SCMP_ACT_ERRNO":
		return uint32(linux.SECCOMP_RET_ERRNO) | data(eperm), nil
	case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD":
		return uint32(linux.SECCOMP_RET_KILL_THREAD), nil
	case "SCMP_ACT_KILL_PROCESS":
		return uint32(linux.SECCOMP_RET_KILL_PROCESS), nil
	case "SCMP_ACT_TRAP":
		return uint32(linux.SECCOMP_RET_TRAP), nil
	case "SCMP_ACT_TRACE":
		return uint32(linux.SECCOMP_RET_TRACE) | data(eperm), nil
	case "SCMP_ACT_LOG":
		return retLog, nil
	case "SCMP_ACT_NOTIFY":
		return 0, fmt.Errorf("%w: SCMP_ACT_NOTIFY is not supported (no seccomp agent in the sandbox)", ErrInvalid)
	}
	return 0, fmt.Errorf("%w: unknown action %q", ErrInvalid, name)
}

// Architecture names of the profile format.
const (
	archX8664 = "SCMP_ARCH_X86_64"
	archX86   = "SCMP_ARCH_X86"
	archX32   = "SCMP_ARCH_X32"
	auditI386 = 0x40000003
	x32Bit    = 0x40000000
)

var knownArches = map[string]bool{
	archX8664: true, archX86: true, archX32: true,
	"SCMP_ARCH_AARCH64": true, "SCMP_ARCH_ARM": true, "SCMP_ARCH_MIPS": true, "SCMP_ARCH_MIPS64": true,
	"SCMP_ARCH_MIPS64N32": true, "SCMP_ARCH_MIPSEL": true, "SCMP_ARCH_MIPSEL64": true,
	"SCMP_ARCH_MIPSEL64N32": true, "SCMP_ARCH_PPC": true, "SCMP_ARCH_PPC64": true, "SCMP_ARCH_PPC64LE": true,
	"SCMP_ARCH_S390": true, "SCMP_ARCH_S390X": true, "SCMP_ARCH_PARISC": true, "SCMP_ARCH_PARISC64": true,
	"SCMP_ARCH_RISCV64": true, "SCMP_ARCH_LOONGARCH64": true, "SCMP_ARCH_M68K": true, "SCMP_ARCH_SH": true,
	"SCMP_ARCH_SHEB": true,
}

var knownFlags = map[string]bool{
	"SECCOMP_FILTER_FLAG_TSYNC": true, "SECCOMP_FILTER_FLAG_LOG": true,
	"SECCOMP_FILTER_FLAG_SPEC_ALLOW": true, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": true,
}

// applies reports whether a rule with these includes/excludes applies to
// an x86-64 container with caps.
func applies(r *Rule, o Options) (bool, error) {
	hasCaps := func(names []string) (bool, error) {
		for _, n := range names {
			c, ok := capNumber(n)
			if !ok {
				return false, fmt.Errorf("%w: unknown capability %q", ErrInvalid, n)
			}
			if o.Caps&(1<<c) == 0 {
				return false, nil
			}
		}
		return true, nil
	}
	isAmd64 := func(arches []string) bool {
		for _, a := range arches {
			if a == "amd64" || a == "x86_64" || a == archX8664 {
				return true
			}
		}
		return false
	}
	if in := r.Includes; in != nil {
		if len(in.Arches) > 0 && !isAmd64(in.Arches) {
			return false, nil
		}
		if ok, err := hasCaps(in.Caps); err != nil || !ok {
			return false, err
		}
	}
	if ex := r.Excludes; ex != nil {
		if len(ex.Arches) > 0 && isAmd64(ex.Arches) {
			return false, nil
		}
		if len(ex.Caps) > 0 {
			ok, err := hasCaps(ex.Caps)
			if err != nil || ok {
				return false, err
			}
		}
	}
	return true, nil
}

// cond is one resolved argument condition.
type cond struct {
	arg      uint
	op       string
	val, two uint64
}

// clause is a resolved rule for one system call: conds ANDed, then ret.
type clause struct {
	conds []cond
	ret   uint32
}

var knownOps = map[string]bool{
	"SCMP_CMP_NE": true, "SCMP_CMP_LT": true, "SCMP_CMP_LE": true, "SCMP_CMP_EQ": true,
	"SCMP_CMP_GE": true, "SCMP_CMP_GT": true, "SCMP_CMP_MASKED_EQ": true,
}

// Compile generates the filter of p for a container described by o.
func (p *Profile) Compile(o Options) (Program, error) {
	def, err := action(p.DefaultAction, p.DefaultErrnoRet)
	if err != nil {
		return nil, err
	}
	for _, f := range p.Flags {
		if !knownFlags[f] {
			return nil, fmt.Errorf("%w: unknown flag %q", ErrInvalid, f)
		}
	}
	arches := map[string]bool{}
	for _, a := range p.Architectures {
		if !knownArches[a] {
			return nil, fmt.Errorf("%w: unknown architecture %q", ErrInvalid, a)
		}
		arches[a] = true
	}
	for _, m := range p.ArchMap {
		if m.Arch == archX8664 {
			for _, s := range m.SubArch {
				arches[s] = true
			}
			arches[archX8664] = true
		}
	}
	// An empty list means the native architecture only.
	if len(p.Architectures) > 0 && len(p.ArchMap) == 0 && !arches[archX8664] {
		// The profile is for other machines: nothing here may run.
		def = uint32(linux.SECCOMP_RET_KILL_PROCESS)
	}
	badArch := uint32(linux.SECCOMP_RET_KILL_PROCESS)
	x32Action, i386Action := badArch, badArch
	if arches[archX32] {
		x32Action = def
	}
	if arches[archX86] {
		i386Action = def
	}

	rules := map[uint32][]clause{}
	for i := range p.Syscalls {
		r := &p.Syscalls[i]
		ret, err := action(r.Action, r.ErrnoRet)
		if err != nil {
			return nil, err
		}
		var conds []cond
		for _, a := range r.Args {
			if a.Index > 5 {
				return nil, fmt.Errorf("%w: argument index %d", ErrInvalid, a.Index)
			}
			if !knownOps[a.Op] {
				return nil, fmt.Errorf("%w: unknown operator %q", ErrInvalid, a.Op)
			}
			conds = append(conds, cond{arg: a.Index, op: a.Op, val: a.Value, two: a.ValueTwo})
		}
		ok, err := applies(r, o)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		var clauses []clause
		if len(conds) > 1 && sameArg(conds) {
			for _, c := range conds {
				clauses = append(clauses, clause{conds: []cond{c}, ret: ret})
			}
		} else {
			clauses = []clause{{conds: conds, ret: ret}}
		}
		names := r.Names
		if r.Name != "" {
			names = append([]string{r.Name}, names...)
		}
		for _, n := range names {
			nr, ok := syscallNumbers[n]
			if !ok {
				continue // another architecture's call, as runc ignores it
			}
			rules[nr] = append(rules[nr], clauses...)
		}
	}
	return generate(rules, def, x32Action, i386Action)
}

func sameArg(cs []cond) bool {
	for _, c := range cs[1:] {
		if c.arg != cs[0].arg {
			return false
		}
	}
	return true
}

// Offsets in struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
)

func argLow(i uint) uint32  { return uint32(16 + 8*i) }
func argHigh(i uint) uint32 { return uint32(16 + 8*i + 4) }

// generate writes the program (see the package comment).
func generate(rules map[uint32][]clause, def, x32Action, i386Action uint32) (Program, error) {
	var a asm
	// The architecture and x32 checks come first, so that every
	// conditional jump stays short.
	a.stmt(bpf.Ld|bpf.W|bpf.Abs, offArch)
	a.jump(bpf.Jmp|bpf.Jeq|bpf.K, linux.AUDIT_ARCH_X86_64, "x86_64", "")
	a.jump(bpf.Jmp|bpf.Jeq|bpf.K, auditI386, "", "+1")
	a.ret(i386Action)
	a.ret(uint32(linux.SECCOMP_RET_KILL_PROCESS))
	a.label("x86_64")
	a.stmt(bpf.Ld|bpf.W|bpf.Abs, offNr)
	a.jump(bpf.Jmp|bpf.Jge|bpf.K, x32Bit, "", "native")
	// -1 is no system call (a tracer's skip): the default applies.
	a.jump(bpf.Jmp|bpf.Jeq|bpf.K, 0xffffffff, "", "+1")
	a.ret(def)
	a.ret(x32Action)
	a.label("native")

	nrs := make([]uint32, 0, len(rules))
	for nr := range rules {
		nrs = append(nrs, nr)
	}
	sort.Slice(nrs, func(i, j int) bool { return nrs[i] < nrs[j] })
	a.search(nrs, rules, def)

	for _, nr := range nrs {
		cls := rules[nr]
		if len(cls[0].conds) == 0 {
			continue // the first rule always applies: inlined by search
		}
		a.label(fmt.Sprintf("nr%d", nr))
		for i, c := range cls {
			fail := fmt.Sprintf("nr%d.%d", nr, i)
			for _, cd := range c.conds {
				a.cond(cd, fail)
			}
			a.ret(c.ret)
			a.label(fail)
			if len(c.conds) == 0 {
				break // later rules cannot be reached
			}
		}
		a.ret(def)
	}
	return a.assemble()
}

// search emits a binary search over nrs (sorted) with A holding the
// system call number: a match jumps to the number's rules (or returns an
// unconditional rule's action at once), no match returns def.
func (a *asm) search(nrs []uint32, rules map[uint32][]clause, def uint32) {
	if len(nrs) <= 4 {
		for _, nr := range nrs {
			cls := rules[nr]
			if len(cls) > 0 && len(cls[0].conds) == 0 {
				a.jump(bpf.Jmp|bpf.Jeq|bpf.K, nr, "", "+1")
				a.ret(cls[0].ret)
				continue
			}
			a.jump(bpf.Jmp|bpf.Jeq|bpf.K, nr, "", "+1")
			a.ja(fmt.Sprintf("nr%d", nr))
		}
		a.ret(def)
		return
	}
	mid := len(nrs) / 2
	right := a.fresh()
	a.jump(bpf.Jmp|bpf.Jge|bpf.K, nrs[mid], "", "+1")
	a.ja(right)
	a.search(nrs[:mid], rules, def)
	a.label(right)
	a.search(nrs[mid:], rules, def)
}

// cond emits code that falls through when cd holds and jumps to fail
// otherwise.
func (a *asm) cond(cd cond, fail string) {
	hi, lo := uint32(cd.val>>32), uint32(cd.val)
	ldHi := func() { a.stmt(bpf.Ld|bpf.W|bpf.Abs, argHigh(cd.arg)) }
	ldLo := func() { a.stmt(bpf.Ld|bpf.W|bpf.Abs, argLow(cd.arg)) }
	ok := a.fresh()
	switch cd.op {
	case "SCMP_CMP_EQ":
		ldHi()
		a.jump(bpf.Jmp|bpf.Jeq|bpf.K, hi, "", fail)
		ldLo()
		a.jump(bpf.Jmp|bpf.Jeq|bpf.K, lo, "", fail)
	case "SCMP_CMP_NE":
		ldHi()
		a.jump(bpf.Jmp|bpf.Jeq|bpf.K, hi, "", ok)
		ldLo()
		a.jump(bpf.Jmp|bpf.Jeq|bpf.K, lo, fail, "")
	case "SCMP_CMP_MASKED_EQ":
		mhi, mlo := uint32(cd.val>>32), uint32(cd.val)
		whi, wlo := uint32(cd.two>>32), uint32(cd.two)
		ldHi()
		a.stmt(bpf.Alu|bpf.And|bpf.K, mhi)
		a.jump(bpf.Jmp|bpf.Jeq|bpf.K, whi, "", fail)
		ldLo()
		a.stmt(bpf.Alu|bpf.And|bpf.K, mlo)
		a.jump(bpf.Jmp|bpf.Jeq|bpf.K, wlo, "", fail)
	case "SCMP_CMP_GT", "SCMP_CMP_GE", "SCMP_CMP_LT", "SCMP_CMP_LE":
		// x > v  <=>  hi > vhi || (hi == vhi && lo > vlo); >= likewise.
		// x < v is !(x >= v); x <= v is !(x > v).
		lowOp := uint16(bpf.Jgt)
		if cd.op == "SCMP_CMP_GE" || cd.op == "SCMP_CMP_LT" {
			lowOp = bpf.Jge
		}
		yes, no := ok, fail
		if cd.op == "SCMP_CMP_LT" || cd.op == "SCMP_CMP_LE" {
			yes, no = fail, ok
		}
		ldHi()
		a.jump(bpf.Jmp|bpf.Jgt|bpf.K, hi, yes, "")
		a.jump(bpf.Jmp|bpf.Jeq|bpf.K, hi, "", no)
		ldLo()
		a.jump(bpf.Jmp|lowOp|bpf.K, lo, yes, no)
	}
	a.label(ok)
}
