// Package arch holds the x86-64 machine state of an application thread as the
// sentry and the platforms see it: the general registers (in the layout of
// Linux's user_regs_struct, so the ptrace platform can fill it with one
// PTRACE_GETREGS), the extended floating-point state (an XSAVE area), and the
// system-call argument view of those registers.
//
// It is a leaf package: platforms and the kernel both import it, it imports
// nothing of theirs.
package arch

// PageSize is the application page size.
const PageSize = 4096

// Registers is the general register file of one application thread, laid out
// exactly as Linux's struct user_regs_struct on amd64.
type Registers struct {
	R15     uint64
	R14     uint64
	R13     uint64
	R12     uint64
	Rbp     uint64
	Rbx     uint64
	R11     uint64
	R10     uint64
	R9      uint64
	R8      uint64
	Rax     uint64
	Rcx     uint64
	Rdx     uint64
	Rsi     uint64
	Rdi     uint64
	OrigRax uint64
	Rip     uint64
	Cs      uint64
	Eflags  uint64
	Rsp     uint64
	Ss      uint64
	FsBase  uint64
	GsBase  uint64
	Ds      uint64
	Es      uint64
	Fs      uint64
	Gs      uint64
}

// User-mode segment selectors on Linux amd64.
const (
	UserCS = 0x33
	UserDS = 0x2b
)

// Eflags bits the sentry cares about.
const (
	EflagsCF = 1 << 0
	EflagsTF = 1 << 8
	EflagsIF = 1 << 9
	EflagsDF = 1 << 10
	EflagsAC = 1 << 18
	// EflagsUserMask is the set of flags an application may change (through
	// sigreturn or ptrace).
	EflagsUserMask = 0x3f7fd5
)

// SyscallNo returns the number of the system call the thread made.
func (r *Registers) SyscallNo() uintptr { return uintptr(r.OrigRax) }

// Args returns the six system-call arguments.
func (r *Registers) Args() SyscallArguments {
	return SyscallArguments{
		uintptr(r.Rdi), uintptr(r.Rsi), uintptr(r.Rdx),
		uintptr(r.R10), uintptr(r.R8), uintptr(r.R9),
	}
}

// SetReturn sets the system-call return value.
func (r *Registers) SetReturn(v uintptr) { r.Rax = uint64(v) }

// Return returns the system-call return value register.
func (r *Registers) Return() uintptr { return uintptr(r.Rax) }

// SetIP sets the instruction pointer; SetSP the stack pointer.
func (r *Registers) SetIP(v uintptr) { r.Rip = uint64(v) }
func (r *Registers) SetSP(v uintptr) { r.Rsp = uint64(v) }

// IP and SP read the instruction and stack pointers.
func (r *Registers) IP() uintptr { return uintptr(r.Rip) }
func (r *Registers) SP() uintptr { return uintptr(r.Rsp) }

// InitialRegisters returns the registers of a freshly exec'd thread that will
// start at entry with stack pointer sp: everything zero except the segment
// selectors and the interrupt flag, as Linux's start_thread leaves them.
func InitialRegisters(entry, sp uintptr) Registers {
	return Registers{
		Rip:    uint64(entry),
		Rsp:    uint64(sp),
		Cs:     UserCS,
		Ss:     UserDS,
		Ds:     0,
		Es:     0,
		Eflags: EflagsIF | 0x2,
	}
}

// SyscallArguments are the six raw arguments of a system call.
type SyscallArguments [6]uintptr

// Int returns argument i as a C int.
func (a *SyscallArguments) Int(i int) int32 { return int32(a[i]) }

// Uint returns argument i as a C unsigned int.
func (a *SyscallArguments) Uint(i int) uint32 { return uint32(a[i]) }

// Int64 returns argument i as a 64-bit signed value.
func (a *SyscallArguments) Int64(i int) int64 { return int64(a[i]) }

// Ptr returns argument i as an application address.
func (a *SyscallArguments) Ptr(i int) uintptr { return a[i] }

// SizeT returns argument i as a size_t.
func (a *SyscallArguments) SizeT(i int) uint { return uint(a[i]) }
