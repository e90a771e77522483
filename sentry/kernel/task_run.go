package kernel

import (
	"errors"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/platform"
	"github.com/runsc-cri/runsc-cri/sentry/mm"
)

// start runs the task's goroutine.
func (t *Task) start() {
	go t.run()
}

// run is the task goroutine: it owns an OS thread and a platform context
// for its whole life.
func (t *Task) run() {
	runtime.LockOSThread()
	// The thread is unlocked only after a normal exit (below): if the
	// goroutine ends otherwise, Go ends the thread too, which drops
	// whatever host state ptrace tied to it.
	defer func() {
		if r := recover(); r != nil {
			// A bug in the sentry must not take the sandbox down with
			// it: the process dies with SIGSYS-like status and the
			// rest goes on.
			buf := make([]byte, 16<<10)
			n := runtime.Stack(buf, false)
			t.k.log.Error("sentry panic in task", "tid", t.tid, "panic", r, "stack", string(buf[:n]))
			t.k.mu.Lock()
			t.k.groupExitLocked(t.tg, killedBy(linux.SIGSYS, false))
			t.k.mu.Unlock()
			t.exitTask()
		}
	}()
	ctx, err := t.k.cfg.Platform.NewContext()
	if err != nil {
		t.k.log.Error("cannot create platform context", "tid", t.tid, "err", err)
		t.k.mu.Lock()
		t.k.groupExitLocked(t.tg, killedBy(linux.SIGKILL, false))
		t.k.mu.Unlock()
		t.exitTask()
		return
	}
	t.k.mu.Lock()
	t.ctx = ctx
	pending := t.pendingFlag.Load()
	t.k.mu.Unlock()
	if pending {
		ctx.Interrupt()
	}
	if t.fpInit != nil {
		if err := ctx.SetFPState(t.mm.AddressSpace(), t.fpInit); err != nil {
			t.k.log.Debug("cannot install inherited FP state", "tid", t.tid, "err", err)
		}
		t.fpInit = nil
	}
	t.loop()
	t.exitTask()
	// The context is released: the thread traces no stub thread any more
	// (the platform reaped them, or its controller will), so it can go
	// back to Go's pool for the next task instead of being destroyed and
	// created again (tens of microseconds a fork).
	runtime.UnlockOSThread()
}

// loop runs application code until the task exits.
func (t *Task) loop() {
	var lastSwitch time.Time
	for {
		// Drain a stale wakeup before looking at the state it was for.
		select {
		case <-t.interrupt:
		default:
		}
		if t.pendingFlag.Load() || t.restart != 0 {
			if t.processSignals() {
				return
			}
		}
		lastSwitch = time.Now()
		ev, info, err := t.ctx.Switch(t.mm.AddressSpace(), &t.regs)
		now := time.Now()
		t.userNS.Add(int64(now.Sub(lastSwitch)))
		blocked := t.blockedNS.Load()
		if err != nil {
			t.k.log.Error("platform switch failed", "tid", t.tid, "err", err)
			t.k.mu.Lock()
			t.k.groupExitLocked(t.tg, killedBy(linux.SIGKILL, false))
			t.k.mu.Unlock()
			return
		}
		switch ev {
		case platform.EventSyscall:
			t.syscall()
		case platform.EventFault:
			t.handleFault(info)
		case platform.EventSignal:
			t.faultTrapno, t.faultErr = info.Trapno, info.ErrorCode
			t.forceSignal(linux.Signal(info.Signo), info.Code, uint64(info.Addr))
		case platform.EventInterrupt:
		}
		t.sysNS.Add(int64(time.Since(now)) - (t.blockedNS.Load() - blocked))
	}
}

// syscall emulates the system call the task just made.
func (t *Task) syscall() {
	nr := uintptr(t.regs.OrigRax)
	args := t.regs.Args()
	if s := t.seccomp.Load(); s != nil && !t.seccompCheck(s, nr, &args) {
		return
	}
	rv, err := t.k.cfg.Syscall(t, nr, &args)
	if err == nil {
		t.regs.Rax = uint64(rv)
		return
	}
	if err == ErrRegistersSet {
		return
	}
	var errno unix.Errno
	if !errors.As(err, &errno) {
		t.k.log.Warn("syscall returned a non-errno error", "nr", nr, "err", err)
		errno = unix.EIO
	}
	if isRestart(errno) {
		t.restart = errno
		t.regs.Rax = negErrno(unix.EINTR)
		return
	}
	t.regs.Rax = negErrno(errno)
}

// handleFault resolves a memory fault or turns it into a signal.
func (t *Task) handleFault(info platform.SwitchInfo) {
	t.faults.Add(1)
	err := t.mm.HandleFault(info.Addr, info)
	if err == nil {
		return
	}
	t.faultAddr = uint64(info.Addr)
	t.faultTrapno = 14
	t.faultErr = info.ErrorCode
	if errors.Is(err, unix.ENOMEM) {
		// Out of memory (the container's limit or the sandbox's): the
		// faulting process is killed with SIGKILL
		// (container_memory.go).
		t.k.mu.Lock()
		t.k.oomKillLocked(t.tg)
		t.k.mu.Unlock()
		return
	}
	var fe *mm.FaultError
	if errors.As(err, &fe) {
		t.forceSignal(linux.Signal(fe.Signo), fe.Code, uint64(fe.Addr))
		return
	}
	t.forceSignal(linux.SIGSEGV, segvMapErr, uint64(info.Addr))
}
