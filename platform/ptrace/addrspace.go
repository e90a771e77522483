package ptrace

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/platform"
)

// addressSpace implements platform.AddressSpace with one stub process.
type addressSpace struct {
	p   *ptracePlatform
	pid int // the stub's pid = its control thread, traced by the controller
	// pidfd refers to the stub process, to kill it without racing with pid
	// reuse; closed by the reaper.
	pidfd int
	// slot is the stub's page of the batch file (-1: none); the reaper
	// releases it.
	slot int

	// opMu serializes the system calls run in the stub for this address
	// space (mappings), so that queued ones (see pending) keep their order
	// with later ones. Taken before mu.
	opMu sync.Mutex

	mu       sync.Mutex
	released bool // guarded by mu
	// attached is set when the first context thread is seized. Until then
	// no thread of the stub runs application code, so MapFile and Unmap
	// only queue their calls in pending (no controller round trip); the
	// first context flushes them into its new thread before it runs.
	// Guarded by mu (and changed with opMu held).
	attached bool
	pending  []stubCall
	reaped   bool            // the stub's exit was collected; guarded by mu
	spare    int             // tid of an unclaimed thread waiting in pause(), or 0; guarded by mu
	threads  map[int]*thread // live context threads by tid; guarded by mu
	// tracers maps the OS thread id of a context to its thread here, so
	// MapFile/Unmap from that context's goroutine can inject directly.
	tracers map[int]*thread // guarded by mu
}

// stubCall is a system call to run in the stub.
type stubCall struct {
	nr   uintptr
	args [6]uintptr
}

// MapFile implements platform.AddressSpace.
func (a *addressSpace) MapFile(addr uintptr, offset uint64, length uintptr, at platform.AccessType) error {
	if length == 0 {
		return nil
	}
	if addr%pageSize != 0 || length%pageSize != 0 || offset%pageSize != 0 ||
		addr < minUserAddress || addr+length < addr || addr+length > vdsoWindowStart {
		return unix.EINVAL
	}
	_, err := a.syscall(unix.SYS_MMAP, addr, length, uintptr(at.Prot()), unix.MAP_SHARED|unix.MAP_FIXED, stubMemFD, uintptr(offset))
	return err
}

// Unmap implements platform.AddressSpace.
func (a *addressSpace) Unmap(addr uintptr, length uintptr) {
	if length == 0 || addr+length < addr || addr >= vdsoWindowStart {
		return
	}
	if addr+length > vdsoWindowStart {
		length = vdsoWindowStart - addr // never the vDSO or the stub
	}
	a.syscall(unix.SYS_MUNMAP, addr, length)
}

// syscall runs one system call in the stub: in the caller's own stub thread
// if the caller is a context goroutine with a thread here, else on the
// control thread through the controller.
func (a *addressSpace) syscall(nr uintptr, args ...uintptr) (uintptr, error) {
	var argv [6]uintptr
	copy(argv[:], args)
	a.opMu.Lock()
	defer a.opMu.Unlock()
	tid := gettid()
	a.mu.Lock()
	if a.released {
		a.mu.Unlock()
		return 0, errDead
	}
	if !a.attached {
		// Nothing runs in the stub: queue (the result is only known at
		// the flush; mmap and munmap of valid ranges do not fail).
		a.pending = append(a.pending, stubCall{nr, argv})
		a.mu.Unlock()
		return 0, nil
	}
	t := a.tracers[tid]
	a.mu.Unlock()
	if t != nil && !t.dead.Load() {
		// The calling goroutine is locked to tid (a locked OS thread runs
		// only its goroutine), which traces t: t is stopped between
		// Switches and we may use it.
		t.regsValid, t.atSyscall = false, false
		regs := injectRegs(stubSyscall, nr, argv)
		ret, err := inject(t.tid, &regs, stubSyscall+2)
		if err != nil && errors.Is(err, unix.ESRCH) {
			t.gone(err == errExited)
		}
		return ret, err
	}
	var ret uintptr
	var err error
	a.p.ctl.do(func() {
		a.mu.Lock()
		released := a.released
		a.mu.Unlock()
		if released {
			err = errDead
			return
		}
		regs := injectRegs(stubSyscall, nr, argv)
		ret, err = inject(a.pid, &regs, stubSyscall+2)
		if err == errExited {
			// The stub died and we collected it: its pid may be reused.
			a.mu.Lock()
			a.reaped = true
			a.mu.Unlock()
		}
	})
	return ret, err
}

// Release implements platform.AddressSpace: it kills the stub process at
// once; the controller reaps it and its traced threads later.
func (a *addressSpace) Release() {
	a.mu.Lock()
	if a.released {
		a.mu.Unlock()
		return
	}
	a.released = true
	a.spare = 0
	a.pending = nil
	tids := make([]int, 0, len(a.threads))
	for tid, t := range a.threads {
		t.dead.Store(true)
		tids = append(tids, tid)
	}
	clear(a.threads)
	clear(a.tracers)
	a.mu.Unlock()

	unix.PidfdSendSignal(a.pidfd, unix.SIGKILL, nil, 0)
	a.p.ctl.post(func() {
		// Traced threads must be reaped before their leader can be; any
		// thread of the sentry may reap a tracee.
		for _, tid := range tids {
			reap(tid)
		}
		// Controller injections are over (they check released), so
		// reaped is final.
		a.mu.Lock()
		reaped := a.reaped
		a.mu.Unlock()
		if !reaped {
			reap(a.pid)
		}
		unix.Close(a.pidfd)
		a.p.ctl.batch.release(a.slot)
	})
	a.p.mu.Lock()
	delete(a.p.spaces, a)
	a.p.mu.Unlock()
}

// attach ends queueing: it is called with t, the first context thread of
// a, just seized by the caller, and runs the queued calls in it. An error
// means a queued mapping could not be made: the address space is unusable.
func (a *addressSpace) attach(t *thread) error {
	a.opMu.Lock()
	defer a.opMu.Unlock()
	a.mu.Lock()
	calls := a.pending
	a.pending = nil
	a.attached = true
	a.mu.Unlock()
	if len(calls) > 1 && a.slot >= 0 {
		return a.p.ctl.batch.run(t.tid, a.slot, calls)
	}
	for _, c := range calls {
		regs := injectRegs(stubSyscall, c.nr, c.args)
		if _, err := inject(t.tid, &regs, stubSyscall+2); err != nil {
			return fmt.Errorf("ptrace: queued stub call %d: %w", c.nr, err)
		}
	}
	return nil
}
