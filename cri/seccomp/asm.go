package seccomp

import (
	"fmt"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/bpf"
)

// asm is a small forward-only BPF assembler with named labels. Jump
// targets are a label, "" (the next instruction) or "+1" (skip one).
type asm struct {
	insns  []linux.BPFInstruction
	refs   []ref // unresolved jumps
	labels map[string]int
	n      int
}

type ref struct {
	pc     int
	jt, jf string // conditional targets
	ja     string // unconditional target
}

func (a *asm) stmt(code uint16, k uint32) {
	a.insns = append(a.insns, linux.BPFInstruction{OpCode: code, K: k})
}

func (a *asm) ret(k uint32) { a.stmt(bpf.Ret|bpf.K, k) }

func (a *asm) jump(code uint16, k uint32, jt, jf string) {
	a.refs = append(a.refs, ref{pc: len(a.insns), jt: jt, jf: jf})
	a.stmt(code, k)
}

func (a *asm) ja(target string) {
	a.refs = append(a.refs, ref{pc: len(a.insns), ja: target})
	a.stmt(bpf.Jmp|bpf.Ja, 0)
}

func (a *asm) label(name string) {
	if a.labels == nil {
		a.labels = map[string]int{}
	}
	a.labels[name] = len(a.insns)
}

// fresh returns a new unique label name.
func (a *asm) fresh() string {
	a.n++
	return fmt.Sprintf(".L%d", a.n)
}

func (a *asm) offset(pc int, target string) (int, error) {
	switch target {
	case "":
		return 0, nil
	case "+1":
		return 1, nil
	}
	at, ok := a.labels[target]
	if !ok {
		return 0, fmt.Errorf("seccomp: internal error: undefined label %q", target)
	}
	off := at - pc - 1
	if off < 0 {
		return 0, fmt.Errorf("seccomp: internal error: backward jump to %q", target)
	}
	return off, nil
}

// assemble resolves the jumps.
func (a *asm) assemble() (Program, error) {
	for _, r := range a.refs {
		in := &a.insns[r.pc]
		if r.ja != "" {
			off, err := a.offset(r.pc, r.ja)
			if err != nil {
				return nil, err
			}
			in.K = uint32(off)
			continue
		}
		jt, err := a.offset(r.pc, r.jt)
		if err != nil {
			return nil, err
		}
		jf, err := a.offset(r.pc, r.jf)
		if err != nil {
			return nil, err
		}
		if jt > 255 || jf > 255 {
			return nil, fmt.Errorf("seccomp: internal error: conditional jump too long (%d, %d)", jt, jf)
		}
		in.JumpIfTrue, in.JumpIfFalse = uint8(jt), uint8(jf)
	}
	if len(a.insns) > bpf.MaxInstructions {
		return nil, fmt.Errorf("%w: the filter needs %d instructions, more than %d", ErrInvalid, len(a.insns), bpf.MaxInstructions)
	}
	return Program(a.insns), nil
}
