package ptrace

import (
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/platform"
	"github.com/runsc-cri/runsc-cri/sentry/arch"
)

// thread is a context's stub thread in one address space, traced by the
// context's OS thread. All fields but dead are owned by that goroutine.
type thread struct {
	as     *addressSpace
	tid    int
	tracer int // OS thread id of the tracer
	// dead is set when the thread is gone or its address space released
	// (then the releaser reaps it).
	dead atomic.Bool

	// regs are the registers last installed in or read from the kernel,
	// as the caller saw them; regsValid says the kernel still holds them.
	// atSyscall says they were read at a system-call stop and the kernel
	// still holds them: then a result in Rax alone is written with one
	// PTRACE_POKEUSER instead of PTRACE_SETREGS.
	regs      arch.Registers
	regsValid bool
	atSyscall bool
	set       arch.Registers // scratch: sanitized copy for PTRACE_SETREGS
	status    uint32
	si        siginfo

	// cpu is the CPU the thread is bound to (-1: none; see cpu_unsafe.go).
	cpu int
}

// context implements platform.Context.
type context struct {
	p      *ptracePlatform
	tracer int // OS thread id of the owning goroutine

	threads map[*addressSpace]*thread // owned by the goroutine
	last    *thread                   // cache of the last thread used

	// interrupt is the pending-interrupt flag. running is the thread inside
	// Switch (nil outside). mu orders Interrupt's tgkill against Switch
	// clearing running, so no signal is sent to a thread Switch has left
	// (which could then exit and have its tid reused).
	interrupt atomic.Bool
	running   atomic.Pointer[thread]
	mu        sync.Mutex
}

// interruptSignal is the signal Interrupt sends to a running stub thread.
const interruptSignal = unix.SIGSTOP

// Interrupt implements platform.Context.
func (c *context) Interrupt() {
	c.interrupt.Store(true)
	c.mu.Lock()
	if t := c.running.Load(); t != nil {
		tgkill(t.as.pid, t.tid, interruptSignal)
	}
	c.mu.Unlock()
}

func (c *context) leave() {
	c.mu.Lock()
	c.running.Store(nil)
	c.mu.Unlock()
}

// threadFor returns the context's thread in a, creating it on first use.
func (c *context) threadFor(a *addressSpace) (*thread, error) {
	if t := c.last; t != nil && t.as == a {
		return t, nil
	}
	t := c.threads[a]
	if t == nil {
		var err error
		if t, err = c.newThread(a); err != nil {
			return nil, err
		}
		c.threads[a] = t
	}
	c.last = t
	return t, nil
}

// newThread takes a's spare thread, or clones one, and seizes it.
func (c *context) newThread(a *addressSpace) (*thread, error) {
	if tid := gettid(); tid != c.tracer {
		return nil, fmt.Errorf("ptrace: context used on OS thread %d, created on %d (goroutine not locked?): %w", tid, c.tracer, unix.EPERM)
	}
	a.mu.Lock()
	tid := a.spare
	a.spare = 0
	a.mu.Unlock()
	var err error
	if tid == 0 {
		a.p.ctl.do(func() {
			a.mu.Lock()
			released := a.released
			a.mu.Unlock()
			if released {
				err = errDead
				return
			}
			tid, err = a.p.ctl.cloneThread(a.pid)
		})
	}
	if err != nil {
		return nil, err
	}
	if err := seize(tid); err != nil {
		// An untraced thread would run on: kill the stub process (unless
		// it was released, and then perhaps already reaped).
		a.mu.Lock()
		if !a.released {
			unix.Kill(a.pid, unix.SIGKILL)
		}
		a.mu.Unlock()
		return nil, err
	}
	t := &thread{as: a, tid: tid, tracer: c.tracer, cpu: -1}
	a.mu.Lock()
	if a.released {
		a.mu.Unlock()
		reap(tid) // the releaser did not know this thread
		return nil, errDead
	}
	a.threads[tid] = t
	a.tracers[c.tracer] = t
	attached := a.attached
	a.mu.Unlock()
	if !attached {
		if err := a.attach(t); err != nil {
			// The mappings the memory manager counts on are missing:
			// the stub must not run. (Release reaps t.)
			unix.PidfdSendSignal(a.pidfd, unix.SIGKILL, nil, 0)
			return nil, err
		}
	}
	return t, nil
}

// sanitize makes r acceptable to PTRACE_SETREGS: user code and stack
// segments, data selectors that are null or user RPL, and OrigRax -1 (no
// syscall restart by the host kernel).
func sanitize(r *arch.Registers) {
	r.Cs = arch.UserCS
	r.Ss = arch.UserDS
	r.OrigRax = ^uint64(0)
	for _, s := range []*uint64{&r.Ds, &r.Es, &r.Fs, &r.Gs} {
		if *s != 0 && (*s&3 != 3 || *s > 0xffff) {
			*s = 0
		}
	}
}

// Switch implements platform.Context.
func (c *context) Switch(as platform.AddressSpace, regs *arch.Registers) (platform.Event, platform.SwitchInfo, error) {
	a, ok := as.(*addressSpace)
	if !ok {
		return 0, platform.SwitchInfo{}, fmt.Errorf("ptrace: foreign address space %T", as)
	}
	t, err := c.threadFor(a)
	if err != nil {
		return 0, platform.SwitchInfo{}, err
	}
	if t.dead.Load() {
		return 0, platform.SwitchInfo{}, errDead
	}
	c.running.Store(t)
	if c.interrupt.Swap(false) {
		c.leave()
		return platform.EventInterrupt, platform.SwitchInfo{}, nil
	}
	if e := t.install(regs); e != 0 {
		c.leave()
		return 0, platform.SwitchInfo{}, c.failed(t, e)
	}
	if cpu := currentCPU(); cpu != t.cpu {
		// Follow the tracer to its CPU. On failure (a cpuset that
		// forbids it) just remember the CPU: it is only an optimization.
		bindToCPU(t.tid, cpu)
		t.cpu = cpu
	}
	ev, info, err := c.run(t, regs)
	c.leave()
	return ev, info, err
}

// install makes the kernel hold regs for t, with as few ptrace calls as
// possible: none if it already does, PTRACE_POKEUSER of Rax if regs only
// add a result to a system-call stop's registers, else PTRACE_SETREGS.
func (t *thread) install(regs *arch.Registers) unix.Errno {
	if t.regsValid && *regs == t.regs {
		return 0
	}
	if t.atSyscall && onlyRaxDiffers(regs, &t.regs) && !isRestartErrno(regs.Rax) {
		// The kernel keeps OrigRax = the call's number. Its only use on
		// the way back to user mode is syscall restart, which applies
		// to the -ERESTART* values in Rax excluded here.
		if e := ptracePokeUserRax(t.tid, regs.Rax); e != 0 {
			return e
		}
		t.regs.Rax = regs.Rax
		return 0
	}
	t.set = *regs
	sanitize(&t.set)
	if e := ptraceSetRegs(t.tid, &t.set); e != 0 {
		return e
	}
	t.regs = *regs
	t.regsValid = true
	t.atSyscall = false
	return 0
}

// onlyRaxDiffers says a and b are equal but perhaps for Rax.
func onlyRaxDiffers(a, b *arch.Registers) bool {
	x := *a
	x.Rax = b.Rax
	return x == *b
}

// isRestartErrno says v is -ERESTARTSYS, -ERESTARTNOINTR, -ERESTARTNOHAND
// or -ERESTART_RESTARTBLOCK (512..516), values on which the host kernel
// would restart the call if a signal were pending on the way out.
func isRestartErrno(v uint64) bool {
	const lo, hi = ^uint64(516 - 1), ^uint64(512 - 1) // -516, -512
	return v >= lo && v <= hi
}

// run resumes t until a stop the caller must see.
func (c *context) run(t *thread, regs *arch.Registers) (platform.Event, platform.SwitchInfo, error) {
	for {
		if e := ptraceResume(unix.PTRACE_SYSEMU, t.tid); e != 0 {
			return 0, platform.SwitchInfo{}, c.failed(t, e)
		}
	wait:
		if _, e := wait4(t.tid, &t.status, 0); e != 0 {
			if e == unix.EINTR {
				goto wait
			}
			return 0, platform.SwitchInfo{}, t.gone(true) // reaped by someone else
		}
		ws := unix.WaitStatus(t.status)
		if !ws.Stopped() {
			return 0, platform.SwitchInfo{}, t.gone(true)
		}
		sig := ws.StopSignal()
		switch {
		case sig == unix.SIGTRAP|0x80:
			// System call stop. Rax is -ENOSYS; the sentry sets the
			// result, which the next Switch writes (see install).
			if err := c.getRegs(t, regs); err != nil {
				return 0, platform.SwitchInfo{}, err
			}
			t.atSyscall = true
			return platform.EventSyscall, platform.SwitchInfo{}, nil
		case stopEvent(t.status) != 0:
			// Group stop or a stray PTRACE_EVENT_STOP: keep running.
			continue
		case sig == interruptSignal:
			if !c.interrupt.Swap(false) {
				continue // stale: its interrupt was already reported
			}
			if err := c.getRegs(t, regs); err != nil {
				return 0, platform.SwitchInfo{}, err
			}
			return platform.EventInterrupt, platform.SwitchInfo{}, nil
		}
		if e := ptraceGetSiginfo(t.tid, &t.si); e != 0 {
			return 0, platform.SwitchInfo{}, c.failed(t, e)
		}
		ev, info, ok := classify(&t.si)
		if !ok {
			continue // asynchronous or sent by someone: never delivered
		}
		if err := c.getRegs(t, regs); err != nil {
			return 0, platform.SwitchInfo{}, err
		}
		return ev, info, nil
	}
}

// getRegs reads t's registers into regs and remembers them.
func (c *context) getRegs(t *thread, regs *arch.Registers) error {
	if e := ptraceGetRegs(t.tid, regs); e != 0 {
		return c.failed(t, e)
	}
	t.regs = *regs
	t.regsValid = true
	t.atSyscall = false
	return nil
}

// si_code values.
const (
	siKernel   = 0x80
	segvAccerr = 2
	fpeIntdiv  = 1
	fpeIntovf  = 2
)

// classify turns a synchronous, kernel-generated signal into an event. ok
// is false for signals the platform discards.
func classify(si *siginfo) (ev platform.Event, info platform.SwitchInfo, ok bool) {
	if si.Code <= 0 {
		return 0, info, false // kill, tgkill, sigqueue: not from the code
	}
	info = platform.SwitchInfo{Signo: si.Signo, Code: si.Code, Addr: uintptr(si.Addr)}
	switch unix.Signal(si.Signo) {
	case unix.SIGSEGV, unix.SIGBUS:
		if si.Code == siKernel {
			info.Trapno = 13 // #GP: no address
			return platform.EventSignal, info, true
		}
		info.Access = platform.Read
		info.Trapno = 14
		info.ErrorCode = 4 // user mode
		if si.Signo == int32(unix.SIGSEGV) && si.Code == segvAccerr {
			info.ErrorCode |= 1 // protection violation
		}
		return platform.EventFault, info, true
	case unix.SIGILL:
		info.Trapno = 6
	case unix.SIGFPE:
		switch si.Code {
		case fpeIntdiv:
			info.Trapno = 0
		case fpeIntovf:
			info.Trapno = 4
		default:
			info.Trapno = 19 // SIMD or x87: the host does not say which
		}
	case unix.SIGTRAP:
		if si.Code == siKernel {
			info.Trapno = 3 // int3
		} else {
			info.Trapno = 1 // single step / debug
		}
	default:
		return 0, info, false
	}
	return platform.EventSignal, info, true
}

// failed converts a ptrace error on t; ESRCH means the thread is gone.
func (c *context) failed(t *thread, e unix.Errno) error {
	if e == unix.ESRCH {
		if tid := gettid(); tid != t.tracer {
			// Not the tracer: the caller broke the locking rule. The
			// thread is alive; do not try to reap it.
			return fmt.Errorf("ptrace: context used on OS thread %d, created on %d (goroutine not locked?): %w", tid, t.tracer, unix.EPERM)
		}
		return t.gone(false)
	}
	return fmt.Errorf("ptrace stub thread %d: %w", t.tid, e)
}

// gone records that t died; collected says its exit status was already
// collected (else gone reaps it, so that its leader can be reaped). If the
// address space was released first, its releaser reaps t.
func (t *thread) gone(collected bool) error {
	a := t.as
	a.mu.Lock()
	wasDead := t.dead.Swap(true)
	if !wasDead {
		if a.threads[t.tid] == t {
			delete(a.threads, t.tid)
		}
		if a.tracers[t.tracer] == t {
			delete(a.tracers, t.tracer)
		}
	}
	a.mu.Unlock()
	if !wasDead && !collected {
		reap(t.tid)
	}
	return errDead
}

// FPState implements platform.Context.
func (c *context) FPState(as platform.AddressSpace, s arch.FPState) error {
	return c.regset(as, unix.PTRACE_GETREGSET, s)
}

// SetFPState implements platform.Context.
func (c *context) SetFPState(as platform.AddressSpace, s arch.FPState) error {
	return c.regset(as, unix.PTRACE_SETREGSET, s)
}

func (c *context) regset(as platform.AddressSpace, req int, s arch.FPState) error {
	a, ok := as.(*addressSpace)
	if !ok {
		return fmt.Errorf("ptrace: foreign address space %T", as)
	}
	t, err := c.threadFor(a)
	if err != nil {
		return err
	}
	if t.dead.Load() {
		return errDead
	}
	if _, e := ptraceRegset(req, t.tid, unix.NT_X86_XSTATE, s); e != 0 {
		return c.failed(t, e)
	}
	return nil
}

// Forget implements platform.Context: the context's thread in as exits.
func (c *context) Forget(as platform.AddressSpace) {
	a, ok := as.(*addressSpace)
	if !ok {
		return
	}
	if t := c.threads[a]; t != nil {
		c.exitThread(t)
	}
}

// Release implements platform.Context.
func (c *context) Release() {
	for _, t := range c.threads {
		c.exitThread(t)
	}
}

// exitThread makes t exit (inject exit(0)) and reaps it.
func (c *context) exitThread(t *thread) {
	delete(c.threads, t.as)
	if c.last == t {
		c.last = nil
	}
	a := t.as
	a.mu.Lock()
	if a.threads[t.tid] == t {
		delete(a.threads, t.tid)
	}
	if a.tracers[t.tracer] == t {
		delete(a.tracers, t.tracer)
	}
	// If the address space was released, its releaser reaps the thread.
	dead := t.dead.Swap(true)
	a.mu.Unlock()
	if dead {
		return
	}
	regs := injectRegs(stubSyscall, unix.SYS_EXIT, [6]uintptr{})
	if ptraceSetRegs(t.tid, &regs) == 0 {
		ptraceResume(unix.PTRACE_CONT, t.tid)
	}
	reap(t.tid)
}
