package kernel

// Seccomp: system call filtering for application tasks.
//
// Model. A task's seccomp state is an immutable value (seccompState) that
// the task points to through an atomic pointer: nil means "no seccomp"
// and keeps the system call path to one predictable branch. A state is
// either strict mode (read, write, exit and rt_sigreturn only) or filter
// mode, a singly linked list of classic BPF programs, newest first. Adding
// a filter builds a new node pointing to the old list, so clone simply
// copies the pointer (children share the parent's filters, as in Linux)
// and execve keeps it.
//
// Filters see every system call that reaches the sentry. vDSO functions
// (clock_gettime, gettimeofday, time, getcpu) run in the application
// without a system call, so no filter sees them, as on Linux. LOG acts
// as ALLOW (there is no audit log). There is no user-space notification
// listener: USER_NOTIF, like TRACE without a tracer, answers ENOSYS.
//
// Locking. Every store to Task.seccomp happens under Kernel.mu (the tree
// lock): the task itself installing a filter, clone copying it, or a
// sibling synchronising the thread group (SECCOMP_FILTER_FLAG_TSYNC). The
// syscall path only loads the pointer.

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/bpf"

	"github.com/runsc-cri/runsc-cri/sentry/arch"
	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
)

// Seccomp modes as /proc/[pid]/status and PR_GET_SECCOMP report them.
const (
	SeccompModeNone   = 0
	SeccompModeStrict = 1
	SeccompModeFilter = 2
)

// Seccomp return actions that the gVisor abi package does not name.
const (
	SeccompRetLog = 0x7ffc0000
	// seccompMaxErrno caps SECCOMP_RET_ERRNO data, as Linux's MAX_ERRNO.
	seccompMaxErrno = 4095
	// seccompMaxTotalInsns bounds the instructions of a new filter plus
	// those of the task's filters, counting a 4-instruction overhead for
	// each older one (Linux's MAX_INSNS_PER_PATH); past it installing
	// answers ENOMEM.
	seccompMaxTotalInsns = 1 << 15
	// seccompDataSize is sizeof(struct seccomp_data).
	seccompDataSize = 64
)

// Filter flags of seccomp(SECCOMP_SET_MODE_FILTER).
const (
	SeccompFilterFlagTsync       = 1
	SeccompFilterFlagLog         = 2
	SeccompFilterFlagSpecAllow   = 4
	SeccompFilterFlagNewListener = 8
	SeccompFilterFlagTsyncESRCH  = 16
	SeccompFilterFlagWaitKill    = 32
)

// seccompFilter is one installed program; prev is the filter installed
// before it (nil for the first).
type seccompFilter struct {
	prog  bpf.Program
	insns int // instructions, for the total length limit
	total int // insns + 4 for this and every older filter
	log   bool
	prev  *seccompFilter
}

// seccompState is a task's immutable seccomp state.
type seccompState struct {
	mode    int
	filters *seccompFilter // newest first; nil in strict mode
	count   int            // number of filters
}

// SeccompFilter is a validated classic BPF seccomp program, ready to be
// installed on tasks (see NewSeccompFilter).
type SeccompFilter struct {
	prog  bpf.Program
	insns int
}

// NewSeccompFilter validates insns as Linux validates a seccomp filter
// (at most 4096 instructions, only the opcodes a seccomp program may use,
// aligned 32-bit loads inside struct seccomp_data, jumps in range, a
// return at the end) and returns it, or EINVAL.
func NewSeccompFilter(insns []linux.BPFInstruction) (*SeccompFilter, error) {
	if len(insns) == 0 || len(insns) > bpf.MaxInstructions {
		return nil, unix.EINVAL
	}
	prog := make([]bpf.Instruction, len(insns))
	for i, in := range insns {
		if !seccompOpcodeAllowed(in) {
			return nil, unix.EINVAL
		}
		prog[i] = bpf.Instruction(in)
	}
	p, err := bpf.Compile(prog, false)
	if err != nil {
		return nil, unix.EINVAL
	}
	return &SeccompFilter{prog: p, insns: len(insns)}, nil
}

// initialState is the state of a new process whose only filter is f.
func (f *SeccompFilter) initialState() *seccompState {
	return &seccompState{
		mode:    SeccompModeFilter,
		count:   1,
		filters: &seccompFilter{prog: f.prog, insns: f.insns, total: f.insns + 4},
	}
}

// DecodeSeccompFilter decodes len(b)/8 struct sock_filter entries (code
// u16, jt u8, jf u8, k u32, little-endian) and validates them.
func DecodeSeccompFilter(b []byte) (*SeccompFilter, error) {
	if len(b)%8 != 0 {
		return nil, unix.EINVAL
	}
	insns := make([]linux.BPFInstruction, len(b)/8)
	for i := range insns {
		e := b[i*8:]
		insns[i] = linux.BPFInstruction{
			OpCode:      binary.LittleEndian.Uint16(e[0:]),
			JumpIfTrue:  e[2],
			JumpIfFalse: e[3],
			K:           binary.LittleEndian.Uint32(e[4:]),
		}
	}
	return NewSeccompFilter(insns)
}

// seccompOpcodeAllowed is Linux's seccomp opcode whitelist: no packet
// loads other than aligned words of seccomp_data, no extensions.
func seccompOpcodeAllowed(in linux.BPFInstruction) bool {
	switch in.OpCode {
	case bpf.Ld | bpf.W | bpf.Abs:
		return in.K < seccompDataSize && in.K&3 == 0
	case bpf.Ld | bpf.W | bpf.Len, bpf.Ldx | bpf.W | bpf.Len,
		bpf.Alu | bpf.Add | bpf.K, bpf.Alu | bpf.Add | bpf.X,
		bpf.Alu | bpf.Sub | bpf.K, bpf.Alu | bpf.Sub | bpf.X,
		bpf.Alu | bpf.Mul | bpf.K, bpf.Alu | bpf.Mul | bpf.X,
		bpf.Alu | bpf.Div | bpf.K, bpf.Alu | bpf.Div | bpf.X,
		bpf.Alu | bpf.And | bpf.K, bpf.Alu | bpf.And | bpf.X,
		bpf.Alu | bpf.Or | bpf.K, bpf.Alu | bpf.Or | bpf.X,
		bpf.Alu | bpf.Xor | bpf.K, bpf.Alu | bpf.Xor | bpf.X,
		bpf.Alu | bpf.Lsh | bpf.K, bpf.Alu | bpf.Lsh | bpf.X,
		bpf.Alu | bpf.Rsh | bpf.K, bpf.Alu | bpf.Rsh | bpf.X,
		bpf.Alu | bpf.Neg,
		bpf.Ld | bpf.Imm, bpf.Ldx | bpf.Imm,
		bpf.Misc | bpf.Tax, bpf.Misc | bpf.Txa,
		bpf.Ld | bpf.Mem, bpf.Ldx | bpf.Mem, bpf.St, bpf.Stx,
		bpf.Jmp | bpf.Ja,
		bpf.Jmp | bpf.Jeq | bpf.K, bpf.Jmp | bpf.Jeq | bpf.X,
		bpf.Jmp | bpf.Jge | bpf.K, bpf.Jmp | bpf.Jge | bpf.X,
		bpf.Jmp | bpf.Jgt | bpf.K, bpf.Jmp | bpf.Jgt | bpf.X,
		bpf.Jmp | bpf.Jset | bpf.K, bpf.Jmp | bpf.Jset | bpf.X,
		bpf.Ret | bpf.K, bpf.Ret | bpf.A:
		return true
	}
	return false
}

// SeccompMode returns the task's seccomp mode (0, 1 or 2).
func (t *Task) SeccompMode() int {
	if s := t.seccomp.Load(); s != nil {
		return s.mode
	}
	return SeccompModeNone
}

// SeccompFilterCount returns the number of filters installed on the task.
func (t *Task) SeccompFilterCount() int {
	if s := t.seccomp.Load(); s != nil {
		return s.count
	}
	return 0
}

// SetSeccompStrict puts the task in strict mode (PR_SET_SECCOMP,
// SECCOMP_MODE_STRICT). A task in filter mode cannot switch (EINVAL).
func (t *Task) SetSeccompStrict() error {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	switch t.SeccompMode() {
	case SeccompModeStrict:
		return nil
	case SeccompModeFilter:
		return unix.EINVAL
	}
	t.seccomp.Store(&seccompState{mode: SeccompModeStrict})
	return nil
}

// AppendSeccompFilter installs f on the task, checking what Linux checks:
// no_new_privs or CAP_SYS_ADMIN (EACCES), not in strict mode (EINVAL),
// the total length of the task's filters (ENOMEM). With
// SeccompFilterFlagTsync every thread of the group gets the new list; it
// fails, returning the id of a thread whose filters are not an ancestor
// of the caller's (or ESRCH with SeccompFilterFlagTsyncESRCH), and then
// installs nothing.
func (t *Task) AppendSeccompFilter(f *SeccompFilter, flags uint32) (ThreadID, error) {
	c := t.Credentials()
	if !c.NoNewPrivs && !c.HasCapability(auth.CapSysAdmin) {
		return 0, unix.EACCES
	}
	return t.installSeccompFilter(f, flags)
}

// InstallSeccompFilter installs f without the privilege check: it is for
// the sandbox's own setup of a container process (the OCI runtime's
// seccomp profile) before its first instruction.
func (t *Task) InstallSeccompFilter(f *SeccompFilter) error {
	_, err := t.installSeccompFilter(f, 0)
	return err
}

func (t *Task) installSeccompFilter(f *SeccompFilter, flags uint32) (ThreadID, error) {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	old := t.seccomp.Load()
	var prev *seccompFilter
	count, total := 0, 0
	if old != nil {
		if old.mode == SeccompModeStrict {
			return 0, unix.EINVAL
		}
		prev, count = old.filters, old.count
		total = prev.total
	}
	if f.insns+total > seccompMaxTotalInsns {
		return 0, unix.ENOMEM
	}
	total += f.insns + 4
	ns := &seccompState{
		mode:  SeccompModeFilter,
		count: count + 1,
		filters: &seccompFilter{
			prog:  f.prog,
			insns: f.insns,
			total: total,
			log:   flags&SeccompFilterFlagLog != 0,
			prev:  prev,
		},
	}
	if flags&SeccompFilterFlagTsync != 0 {
		for o := range t.tg.tasks {
			if o == t || o.exiting {
				continue
			}
			if !seccompIsAncestor(o.seccomp.Load(), prev) {
				if flags&SeccompFilterFlagTsyncESRCH != 0 {
					return 0, unix.ESRCH
				}
				return o.tid, nil
			}
		}
		nnp := t.Credentials().NoNewPrivs
		for o := range t.tg.tasks {
			if o == t || o.exiting {
				continue
			}
			o.seccomp.Store(ns)
			if nnp {
				if oc := o.Credentials(); !oc.NoNewPrivs {
					n := oc.Fork()
					n.NoNewPrivs = true
					o.creds.Store(n)
				}
			}
		}
	}
	t.seccomp.Store(ns)
	return 0, nil
}

// seccompIsAncestor reports whether s's filter list is a prefix (older
// part) of the list ending at filters; a thread with no filter always is.
func seccompIsAncestor(s *seccompState, filters *seccompFilter) bool {
	if s == nil {
		return true
	}
	if s.mode != SeccompModeFilter {
		return false
	}
	for f := filters; f != nil; f = f.prev {
		if f == s.filters {
			return true
		}
	}
	return false
}

// seccompStrictAllowed are the system calls strict mode permits.
func seccompStrictAllowed(nr uintptr) bool {
	switch nr {
	case unix.SYS_READ, unix.SYS_WRITE, unix.SYS_EXIT, unix.SYS_RT_SIGRETURN:
		return true
	}
	return false
}

// seccompData encodes struct seccomp_data for the system call.
func (t *Task) seccompData(nr uintptr, args *arch.SyscallArguments) [seccompDataSize]byte {
	var d [seccompDataSize]byte
	binary.LittleEndian.PutUint32(d[0:], uint32(nr))
	binary.LittleEndian.PutUint32(d[4:], linux.AUDIT_ARCH_X86_64)
	binary.LittleEndian.PutUint64(d[8:], t.regs.Rip)
	for i := 0; i < 6; i++ {
		binary.LittleEndian.PutUint64(d[16+8*i:], uint64(args[i]))
	}
	return d
}

// evalSeccompFilters runs every filter (newest first) and returns the
// result with the highest precedence: the lowest action value as a signed
// 32-bit number, the newest filter winning a tie. A program that fails to
// run (it cannot, once validated) counts as KILL_PROCESS.
func evalSeccompFilters(filters *seccompFilter, data []byte) uint32 {
	ret := uint32(linux.SECCOMP_RET_ALLOW)
	for f := filters; f != nil; f = f.prev {
		r, err := bpf.Exec[bpf.NativeEndian](f.prog, bpf.Input(data))
		if err != nil {
			r = uint32(linux.SECCOMP_RET_KILL_PROCESS)
		}
		if int32(r&linux.SECCOMP_RET_ACTION_FULL) < int32(ret&linux.SECCOMP_RET_ACTION_FULL) {
			ret = r
		}
	}
	return ret
}

// seccompCheck applies the task's seccomp state to the system call about
// to run. It returns true if the call may run; otherwise it has already
// set the result (a return value, a signal or the task's death).
func (t *Task) seccompCheck(s *seccompState, nr uintptr, args *arch.SyscallArguments) bool {
	if s.mode == SeccompModeStrict {
		if seccompStrictAllowed(nr) {
			return true
		}
		t.seccompKillThread(linux.SIGKILL)
		return false
	}
	data := t.seccompData(nr, args)
	ret := evalSeccompFilters(s.filters, data[:])
	action := ret & linux.SECCOMP_RET_ACTION_FULL
	val := ret & linux.SECCOMP_RET_DATA
	switch linux.BPFAction(action) {
	case linux.SECCOMP_RET_ALLOW:
		return true
	case SeccompRetLog:
		return true
	case linux.SECCOMP_RET_ERRNO:
		if val > seccompMaxErrno {
			val = seccompMaxErrno
		}
		t.regs.Rax = uint64(-int64(val))
		return false
	case linux.SECCOMP_RET_TRAP:
		// The registers are rolled back: the handler sees rax holding
		// the system call number, which did not run.
		t.regs.Rax = t.regs.OrigRax
		info := &linux.SignalInfo{Signo: int32(linux.SIGSYS), Code: linux.SYS_SECCOMP, Errno: int32(val)}
		info.SetCallAddr(t.regs.Rip)
		info.SetSyscall(int32(nr))
		info.SetArch(linux.AUDIT_ARCH_X86_64)
		t.forceSignalInfo(info)
		return false
	case linux.SECCOMP_RET_TRACE, linux.SECCOMP_RET_USER_NOTIF:
		// Nobody traces or listens in the sandbox.
		t.regs.Rax = negErrno(unix.ENOSYS)
		return false
	case linux.SECCOMP_RET_KILL_THREAD:
		t.regs.Rax = t.regs.OrigRax
		t.seccompKillThread(linux.SIGSYS)
		return false
	default: // KILL_PROCESS and unknown actions
		t.regs.Rax = t.regs.OrigRax
		k := t.k
		k.mu.Lock()
		k.groupExitLocked(t.tg, killedBy(linux.SIGSYS, false))
		k.mu.Unlock()
		return false
	}
}

// seccompKillThread ends the calling thread as killed by sig; when it is
// the last thread the process dies of sig.
func (t *Task) seccompKillThread(sig linux.Signal) {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	live := 0
	for o := range t.tg.tasks {
		if !o.exiting {
			live++
		}
	}
	if live <= 1 {
		k.groupExitLocked(t.tg, killedBy(sig, false))
		return
	}
	t.exiting = true
	t.pendingFlag.Store(true)
}

// forceSignalInfo delivers info as forceSignal does (blocked or ignored
// means the default action).
func (t *Task) forceSignalInfo(info *linux.SignalInfo) {
	sig := linux.Signal(info.Signo)
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	h := &t.tg.handlers.actions[sig]
	set := linux.SignalSetOf(sig)
	if t.sigMask&set != 0 || h.Handler == linux.SIG_IGN {
		h.Handler = linux.SIG_DFL
		t.sigMask &^= set
	}
	t.pending.enqueue(info)
	t.pendingFlag.Store(true)
}

// SeccompActionAvailable reports whether action (SECCOMP_GET_ACTION_AVAIL)
// is known. User notification is not offered: there is no listener.
func SeccompActionAvailable(action uint32) bool {
	switch action {
	case uint32(linux.SECCOMP_RET_KILL_PROCESS), uint32(linux.SECCOMP_RET_KILL_THREAD),
		uint32(linux.SECCOMP_RET_TRAP), uint32(linux.SECCOMP_RET_ERRNO),
		uint32(linux.SECCOMP_RET_TRACE), SeccompRetLog, uint32(linux.SECCOMP_RET_ALLOW):
		return true
	}
	return false
}
