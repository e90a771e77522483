// Package ptrace is the ptrace platform: application code runs in host stub
// processes that the sentry traces, and every system call stops the thread
// (PTRACE_SYSEMU) instead of reaching the host kernel.
//
// The model.
//
//   - A stub process holds nothing but one code page at stubStart (just below
//     the top of the user address space), the host kernel's vDSO somewhere
//     in the 256 MiB below it (vdso.go; MaxUserAddress is the start of that
//     window; the platform reports the vDSO as a platform.VDSOProvider) and
//     the memory file as descriptor 3. One stub process per AddressSpace.
//     Application memory is mapped into it by injecting
//     mmap(MAP_SHARED|MAP_FIXED, fd 3) and munmap calls.
//   - The controller is a goroutine locked to its own OS thread. It traces
//     the master stub (exec'd once, from an in-memory static ELF) and the
//     first ("control") thread of every stub process. New stub processes
//     are forked from the master by injecting fork into it (the master
//     ignores SIGCHLD, so they are reaped automatically); the child waits
//     in pause() until the controller seizes it. Each new stub also gets a
//     spare thread (waiting in pause(), untraced), so the first context
//     that switches into it only has to seize that thread. Everything that
//     needs the control thread (creating stubs and threads, mapping for
//     callers that trace no thread of the stub, reaping) runs on the
//     controller.
//   - A Context is bound to the OS thread that created it. For every
//     address space it switches into it owns one stub thread, cloned from
//     the control thread and seized by the context's OS thread. Switch
//     resumes that thread with PTRACE_SYSEMU and waits for its next stop.
//     Forget and Release make the thread exit, so a context's OS thread
//     never dies while tracing (PTRACE_O_EXITKILL would then SIGKILL the
//     whole stub process).
//   - Mappings of an address space no context has entered yet are queued
//     and made by the first context thread when it enters, as one batch:
//     the calls are written into the stub's batch page (batch.go; a page
//     of a platform memfd mapped read-only at stubEnd, above
//     MaxUserAddress) and the stub runs them in a loop after one injected
//     jump. New stubs come from a pool of two that the controller refills
//     in the background.
//   - The hot path of a system call is four host calls: PTRACE_SYSEMU,
//     wait4, PTRACE_GETREGS at the stop, and on the way back one write of
//     the result: PTRACE_POKEUSER of rax when only rax changed (the kernel
//     keeps orig_rax, which is harmless unless rax is an -ERESTART* value:
//     those go through PTRACE_SETREGS with orig_rax -1), else
//     PTRACE_SETREGS. Before resuming, Switch binds the stub thread to the
//     CPU its tracer runs on (when that changed), so stop and resume are
//     same-CPU context switches rather than cross-CPU wakeups (see
//     cpu_unsafe.go); the tracer is not bound, and the stub thread follows
//     it wherever the host moves it.
//   - Interrupt sets a pending flag and, if a Switch is running, sends the
//     stub thread SIGSTOP; Switch reports that stop as EventInterrupt and
//     swallows stale SIGSTOPs when no interrupt is pending. Signals are
//     never delivered to stubs: every stop is resumed with signal 0.
//
// Rules for callers: a Context's methods other than Interrupt must be
// called from the goroutine that created it, which must stay locked to its
// OS thread until after Release (if the thread exits with stub threads still
// traced, the kernel kills those stub processes). AddressSpace methods may
// be called from any goroutine; MapFile/Unmap called from the goroutine of a
// Context that has a thread in the address space inject directly into that
// thread, others go through the controller. Release kills the stub at once
// and leaves the reaping to the controller.
//
// The platform adds SA_NOCLDSTOP to the process's SIGCHLD action (Go's
// handler stays): otherwise every ptrace stop would send the sentry a
// SIGCHLD. Calling os/signal functions for SIGCHLD later undoes this (only
// costing speed).
//
// Locking: addressSpace.mu and ptracePlatform.mu are never held together;
// context.mu is a leaf (it only orders Interrupt's tgkill against the end of
// a Switch). No lock is held while waiting for the controller or a tracee.
package ptrace

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/platform"
)

func init() {
	platform.Register("ptrace", New)
}

// ptracePlatform implements platform.Platform.
type ptracePlatform struct {
	memfd  int
	ctl    *controller
	fpSize int

	mu     sync.Mutex
	spaces map[*addressSpace]struct{} // live address spaces; guarded by mu
	closed bool                       // guarded by mu
	// pool holds stubs made ahead of time (see poolSize); refilling
	// counts the refills posted to the controller and not yet done.
	// Guarded by mu.
	pool      []pooledStub
	refilling int
}

// poolSize is how many stub processes the controller keeps ready. Creating
// one (fork of the master, seizing it, cloning its spare thread) takes
// 100-200 µs; the controller does it in the background, while the
// application runs, so that fork and exec find one ready: a fork+exec
// takes two.
const poolSize = 2

// pooledStub is a stub process waiting in the pool (see newStub).
type pooledStub struct{ pid, spare, slot int }

// New returns a ptrace platform over the memory file memfd. It fails with
// an error wrapping platform.ErrUnavailable if the host forbids ptrace.
func New(memfd int) (platform.Platform, error) {
	return newPlatform(memfd, true)
}

// newPlatform creates the platform; forkMode chooses how address spaces get
// their stub: fork from the master (the default: about 100 µs here), or
// exec a new stub each time (about 300 µs; kept for the benchmark).
func newPlatform(memfd int, forkMode bool) (*ptracePlatform, error) {
	if err := quietStops(); err != nil {
		return nil, fmt.Errorf("SIGCHLD: %w", err)
	}
	ctl, err := startController(memfd, forkMode)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.ENOSYS) {
			return nil, fmt.Errorf("%w: %v", platform.ErrUnavailable, err)
		}
		return nil, err
	}
	p := &ptracePlatform{memfd: memfd, ctl: ctl, spaces: map[*addressSpace]struct{}{}}
	var fpErr error
	ctl.do(func() {
		buf := make([]byte, 1<<16)
		n, e := ptraceRegset(unix.PTRACE_GETREGSET, ctl.master, unix.NT_X86_XSTATE, buf)
		if e != 0 {
			fpErr = fmt.Errorf("PTRACE_GETREGSET NT_X86_XSTATE: %w", e)
		}
		p.fpSize = n
	})
	if fpErr != nil {
		ctl.stop()
		return nil, fpErr
	}
	p.mu.Lock()
	p.refillLocked()
	p.mu.Unlock()
	return p, nil
}

// refillLocked posts to the controller the creation of the stubs the pool
// lacks. p.mu must be held.
func (p *ptracePlatform) refillLocked() {
	for ; !p.closed && len(p.pool)+p.refilling < poolSize; p.refilling++ {
		p.ctl.post(p.refillOne)
	}
}

// refillOne runs on the controller: it adds one stub to the pool.
func (p *ptracePlatform) refillOne() {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	var s pooledStub
	var err error
	if !closed {
		s, err = p.ctl.newStub()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refilling--
	if closed || err != nil {
		return // NewAddressSpace creates stubs itself meanwhile
	}
	if p.closed {
		p.ctl.killStub(s.pid)
		p.ctl.batch.release(s.slot)
		return
	}
	p.pool = append(p.pool, s)
}

// takeStub returns a stub for a new address space: from the pool, else
// made now on the controller.
func (p *ptracePlatform) takeStub() (s pooledStub, err error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return s, unix.EINVAL
	}
	if n := len(p.pool); n > 0 {
		s = p.pool[n-1]
		p.pool = p.pool[:n-1]
		p.refillLocked()
		p.mu.Unlock()
		return s, nil
	}
	p.refillLocked()
	p.mu.Unlock()
	p.ctl.do(func() {
		// The refills queued before this ran first: take what they made
		// rather than make one more.
		// (No post from here: the controller must not wait on its own
		// queue.)
		p.mu.Lock()
		if n := len(p.pool); n > 0 && !p.closed {
			s = p.pool[n-1]
			p.pool = p.pool[:n-1]
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		s, err = p.ctl.newStub()
	})
	p.mu.Lock()
	p.refillLocked()
	p.mu.Unlock()
	return s, err
}

// Name implements platform.Platform.
func (p *ptracePlatform) Name() string { return "ptrace" }

// MinUserAddress implements platform.Platform.
func (p *ptracePlatform) MinUserAddress() uintptr { return minUserAddress }

// MaxUserAddress implements platform.Platform: the vDSO window (and above
// it the stub page) starts there.
func (p *ptracePlatform) MaxUserAddress() uintptr { return vdsoWindowStart }

// FPStateSize implements platform.Platform.
func (p *ptracePlatform) FPStateSize() int { return p.fpSize }

// NewAddressSpace implements platform.Platform.
func (p *ptracePlatform) NewAddressSpace() (platform.AddressSpace, error) {
	s, err := p.takeStub()
	if err != nil {
		return nil, err
	}
	pid, spare := s.pid, s.spare
	// The stub is not reaped before Release, so pid is still ours.
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		unix.Kill(pid, unix.SIGKILL)
		p.ctl.post(func() {
			reap(pid)
			p.ctl.batch.release(s.slot)
		})
		return nil, fmt.Errorf("pidfd_open stub: %w", err)
	}
	a := &addressSpace{p: p, pid: pid, pidfd: pidfd, spare: spare, slot: s.slot, threads: map[int]*thread{}, tracers: map[int]*thread{}}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		a.Release()
		return nil, unix.EINVAL
	}
	p.spaces[a] = struct{}{}
	p.mu.Unlock()
	return a, nil
}

// NewContext implements platform.Platform. The caller must be locked to
// its OS thread.
func (p *ptracePlatform) NewContext() (platform.Context, error) {
	return &context{p: p, tracer: gettid(), threads: map[*addressSpace]*thread{}}, nil
}

// Close implements platform.Platform: it releases every address space and
// kills the master stub.
func (p *ptracePlatform) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	spaces := make([]*addressSpace, 0, len(p.spaces))
	for a := range p.spaces {
		spaces = append(spaces, a)
	}
	pool := p.pool
	p.pool = nil
	p.mu.Unlock()
	for _, a := range spaces {
		a.Release()
	}
	p.ctl.do(func() {
		for _, s := range pool {
			p.ctl.killStub(s.pid)
			p.ctl.batch.release(s.slot)
		}
	})
	p.ctl.stop()
}
