// Package platform defines how the sentry runs application code: a Platform
// creates AddressSpaces (what memory an application sees) and Contexts (a
// host execution context that runs one application thread until it traps back
// into the sentry). Implementations live in subpackages (ptrace, kvm) and
// register themselves with Register; only cmd/runsc-cri chooses one.
//
// The model. All application memory is pages of one memory file (a memfd
// owned by the sentry, see sentry/memfile). The sentry's mm package decides
// which file range is mapped at which application address with which
// permissions and tells the AddressSpace; the platform only mirrors those
// decisions into the host (stub process mappings for ptrace, guest page tables
// for KVM). A Context.Switch runs the thread with the given registers until it
// makes a system call (which is NOT executed by the host: the sentry emulates
// it), takes a fault (an access the current mappings do not allow), receives
// another synchronous trap (SIGILL, SIGFPE, int3...), or is interrupted by
// Interrupt from another goroutine.
//
// This package imports only sentry/arch; it knows nothing of the kernel.
package platform

import (
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/runsc-cri/runsc-cri/sentry/arch"
)

// AccessType says which accesses a mapping allows or a fault attempted.
type AccessType struct {
	Read, Write, Execute bool
}

// Common access types.
var (
	NoAccess  = AccessType{}
	Read      = AccessType{Read: true}
	ReadWrite = AccessType{Read: true, Write: true}
	AnyAccess = AccessType{Read: true, Write: true, Execute: true}
)

// Prot returns the access type as PROT_* bits.
func (a AccessType) Prot() int {
	p := 0
	if a.Read {
		p |= 1
	}
	if a.Write {
		p |= 2
	}
	if a.Execute {
		p |= 4
	}
	return p
}

// AccessFromProt converts PROT_* bits.
func AccessFromProt(prot int) AccessType {
	return AccessType{Read: prot&1 != 0, Write: prot&2 != 0, Execute: prot&4 != 0}
}

// Any reports whether any access is allowed.
func (a AccessType) Any() bool { return a.Read || a.Write || a.Execute }

// String renders the access like /proc/self/maps does ("rw-").
func (a AccessType) String() string {
	b := []byte("---")
	if a.Read {
		b[0] = 'r'
	}
	if a.Write {
		b[1] = 'w'
	}
	if a.Execute {
		b[2] = 'x'
	}
	return string(b)
}

// Platform is one way of running application code.
type Platform interface {
	// Name is the platform's registered name ("ptrace", "kvm").
	Name() string

	// MinUserAddress and MaxUserAddress bound the addresses applications
	// may map: [Min, Max). Anything the platform itself needs in the
	// application address space (a stub page) lies at or above Max.
	MinUserAddress() uintptr
	MaxUserAddress() uintptr

	// NewAddressSpace returns an empty address space.
	NewAddressSpace() (AddressSpace, error)

	// NewContext returns a context to run application threads. The calling
	// goroutine must be locked to its OS thread (runtime.LockOSThread) and
	// must stay locked for as long as it uses the context; every method of
	// the context except Interrupt must be called from that goroutine.
	NewContext() (Context, error)

	// FPStateSize is the size in bytes of an FPState on this host.
	FPStateSize() int

	// Close releases everything the platform holds (all stubs, the VM).
	Close()
}

// AddressSpace is the host side of an application address space.
// Implementations are safe for concurrent use.
type AddressSpace interface {
	// MapFile maps [offset, offset+length) of the memory file at addr with
	// access at, replacing whatever was mapped there. addr, offset and length
	// are page-aligned; addr+length <= MaxUserAddress.
	MapFile(addr uintptr, offset uint64, length uintptr, at AccessType) error

	// Unmap removes all mappings in [addr, addr+length). Unmapping what is
	// not mapped is not an error.
	Unmap(addr uintptr, length uintptr)

	// Release destroys the address space. No Context may Switch into it
	// afterwards.
	Release()
}

// Event is why Switch returned.
type Event int

const (
	// EventSyscall: the thread executed a system call instruction. The
	// registers hold the call (OrigRax, arguments); Rip points after the
	// instruction. The sentry emulates it, sets Rax and calls Switch again.
	EventSyscall Event = iota
	// EventFault: a memory access the current mappings do not permit.
	// Info.Addr is the faulting address and Info.Access the access tried
	// (as well as the platform can tell; see SwitchInfo.Access).
	EventFault
	// EventSignal: another synchronous trap (SIGILL, SIGFPE, SIGTRAP,
	// SIGBUS, SIGSEGV without an address, ...). Info says which.
	EventSignal
	// EventInterrupt: Interrupt was called.
	EventInterrupt
)

// String names the event.
func (e Event) String() string {
	switch e {
	case EventSyscall:
		return "syscall"
	case EventFault:
		return "fault"
	case EventSignal:
		return "signal"
	case EventInterrupt:
		return "interrupt"
	}
	return fmt.Sprintf("event(%d)", int(e))
}

// SwitchInfo describes a fault or trap.
type SwitchInfo struct {
	Signo int32   // host signal number of the trap (SIGSEGV, SIGILL, ...)
	Code  int32   // si_code as the host reported it
	Addr  uintptr // si_addr: faulting address for faults
	// Access is the access that faulted. Platforms that cannot tell the
	// access type (ptrace) report Read with AccessKnown false; the sentry
	// then infers it from what is mapped.
	Access      AccessType
	AccessKnown bool
	// Trapno and ErrorCode are the x86 trap number and error code where the
	// platform knows them (0 otherwise); they go into the signal frame.
	Trapno, ErrorCode uint64
}

// Context runs application threads. See Platform.NewContext for the
// threading rules.
type Context interface {
	// Switch runs the thread in as with regs until the next Event, and
	// updates regs. A non-nil error means the platform failed (the host
	// thread died, the address space is gone): the sentry kills the thread.
	//
	// A Context may be used with several address spaces over its life (a
	// thread that execs); it keeps host resources for each until Forget.
	Switch(as AddressSpace, regs *arch.Registers) (Event, SwitchInfo, error)

	// Interrupt makes a concurrent Switch return EventInterrupt promptly,
	// or, if none is running, the next Switch return EventInterrupt without
	// running application code. Safe to call from any goroutine.
	Interrupt()

	// FPState reads the FP state of the thread in as into s (FPStateSize
	// bytes). SetFPState writes it. Only between Switches.
	FPState(as AddressSpace, s arch.FPState) error
	SetFPState(as AddressSpace, s arch.FPState) error

	// Forget releases what the context holds for as (the thread left it:
	// exec, exit). as itself stays valid for other contexts.
	Forget(as AddressSpace)

	// Release releases the context and everything it holds.
	Release()
}

// ErrUnavailable is returned by a platform constructor whose host
// requirement is missing (no /dev/kvm, ptrace forbidden, ...).
var ErrUnavailable = errors.New("platform unavailable on this host")

// Constructor builds a platform over the memory file memfd.
type Constructor func(memfd int) (Platform, error)

var (
	registryMu sync.Mutex
	registry   = map[string]Constructor{}
)

// Register makes a platform available under name. It is called from the
// implementations' init functions.
func Register(name string, c Constructor) {
	registryMu.Lock()
	defer registryMu.Unlock()
	registry[name] = c
}

// New builds the platform called name over the memory file memfd.
func New(name string, memfd int) (Platform, error) {
	registryMu.Lock()
	c, ok := registry[name]
	registryMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("unknown platform %q (have %v)", name, Names())
	}
	return c(memfd)
}

// Names lists the registered platforms.
func Names() []string {
	registryMu.Lock()
	defer registryMu.Unlock()
	var n []string
	for k := range registry {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// VDSOProvider is implemented by platforms that let applications call a
// vDSO (virtual dynamic shared object) without a system call: its code and
// data pages are mapped at the same addresses in every AddressSpace of the
// platform, outside [MinUserAddress, MaxUserAddress), by the platform itself
// (the ptrace platform keeps the host kernel's own vDSO). The sentry's mm
// shows them in /proc/self/maps and never maps anything over them; the
// loader passes VDSO.Base as AT_SYSINFO_EHDR. Optional: a platform without
// it (or whose VDSO answers false) runs applications without a vDSO, and
// every clock read is a system call.
type VDSOProvider interface {
	VDSO() (VDSO, bool)
}

// VDSO describes the vDSO mappings a VDSOProvider keeps in every address
// space.
type VDSO struct {
	// Base is the address of the vDSO's ELF image (AT_SYSINFO_EHDR).
	Base uintptr
	// Mappings are the page-aligned regions, in address order and not
	// overlapping: the vDSO's data pages ("[vvar]", and "[vvar_vclock]" on
	// newer Linux hosts) and its code ("[vdso]", which starts at Base).
	Mappings []VDSOMapping
}

// VDSOMapping is one region of a VDSO.
type VDSOMapping struct {
	Start, End uintptr
	// Name is what /proc/self/maps shows ("[vdso]", "[vvar]").
	Name string
	// Access is what the application may do there (never Write).
	Access AccessType
}
