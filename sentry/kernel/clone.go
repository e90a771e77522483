package kernel

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/arch"
	"github.com/runsc-cri/runsc-cri/sentry/mm"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// CloneOptions are the arguments of clone/clone3/fork/vfork.
type CloneOptions struct {
	Flags      uint64
	ExitSignal linux.Signal
	Stack      uintptr
	ParentTID  uintptr
	ChildTID   uintptr
	TLS        uintptr
}

// cloneNewTime is CLONE_NEWTIME (not in the ABI package).
const cloneNewTime = 0x80

// Namespace flags we do not support in a sandbox (one of each namespace).
const unsupportedCloneFlags = linux.CLONE_NEWNS | linux.CLONE_NEWUTS | linux.CLONE_NEWIPC |
	linux.CLONE_NEWUSER | linux.CLONE_NEWPID | linux.CLONE_NEWNET | linux.CLONE_NEWCGROUP |
	linux.CLONE_PIDFD | cloneNewTime

// Clone creates a new task as clone(2) does and returns its id in the
// caller's namespace.
func (t *Task) Clone(o CloneOptions) (ThreadID, error) {
	f := o.Flags
	switch {
	case f&linux.CLONE_SIGHAND != 0 && f&linux.CLONE_VM == 0,
		f&linux.CLONE_THREAD != 0 && f&linux.CLONE_SIGHAND == 0,
		f&linux.CLONE_FS != 0 && f&linux.CLONE_NEWNS != 0:
		return 0, unix.EINVAL
	}
	if f&unsupportedCloneFlags != 0 {
		return 0, unix.EPERM
	}
	k := t.k

	// Address space.
	var newMM *mm.MemoryManager
	if f&linux.CLONE_VM != 0 {
		newMM = t.mm
		newMM.IncUsers()
	} else {
		var err error
		if newMM, err = t.mm.Fork(); err != nil {
			return 0, err
		}
	}
	var fdt *vfs.FDTable
	if f&linux.CLONE_FILES != 0 {
		fdt = t.fdTable
		fdt.IncRef()
	} else {
		fdt = t.fdTable.Fork()
	}
	var fsc *vfs.FSContext
	if f&linux.CLONE_FS != 0 {
		fsc = t.fsc
		fsc.IncRef()
	} else {
		fsc = t.fsc.Fork()
	}
	undo := func() {
		newMM.DecUsers()
		fdt.DecRef()
		fsc.DecRef()
	}

	// FP state is inherited.
	fp := arch.NewFPState(k.cfg.Platform.FPStateSize())
	if err := t.ctx.FPState(t.mm.AddressSpace(), fp); err != nil {
		fp = nil
	}

	k.mu.Lock()
	if k.liveTasks >= k.cfg.MaxTasks {
		k.mu.Unlock()
		undo()
		return 0, unix.EAGAIN
	}
	if t.tg.groupExiting {
		k.mu.Unlock()
		undo()
		return 0, ERESTARTNOINTR
	}
	tid, ok := k.allocTIDLocked()
	if !ok {
		k.mu.Unlock()
		undo()
		return 0, unix.EAGAIN
	}
	nt := &Task{
		k:         k,
		tid:       tid,
		regs:      t.regs,
		fpInit:    fp,
		interrupt: make(chan struct{}, 1),
		mm:        newMM,
		fdTable:   fdt,
		fsc:       fsc,
		exe:       t.exe,
		exePath:   t.exePath,
		sigMask:   t.sigMask,
		name:      t.name,
		startTime: k.nowNS(),
	}
	nt.creds.Store(t.Credentials())
	nt.seccomp.Store(t.seccomp.Load())
	nt.regs.Rax = 0
	if o.Stack != 0 {
		nt.regs.Rsp = uint64(o.Stack)
	}
	if f&linux.CLONE_SETTLS != 0 {
		nt.regs.FsBase = uint64(o.TLS)
	}
	if f&linux.CLONE_VM == 0 || f&linux.CLONE_VFORK != 0 {
		nt.altStack = t.altStack
	} else {
		nt.altStack = linux.SignalStack{Flags: linux.SS_DISABLE}
	}
	if f&linux.CLONE_CHILD_CLEARTID != 0 {
		nt.clearChildTID = o.ChildTID
	}
	if f&linux.CLONE_THREAD != 0 {
		nt.tg = t.tg
	} else {
		parent := t.tg
		exitSignal := o.ExitSignal
		if f&linux.CLONE_PARENT != 0 && t.tg.parent != nil {
			parent = t.tg.parent
			// As Linux: a sibling gets the caller's exit signal, not
			// the one in the flags, so no process can pick the signal
			// its own parent receives (found by test/fuzz: init died
			// of a sibling's exit signal SIGFPE).
			exitSignal = t.tg.exitSignal
		}
		handlers := t.tg.handlers
		if f&linux.CLONE_SIGHAND == 0 {
			handlers = handlers.fork()
		}
		ntg := &ThreadGroup{
			k:          k,
			tgid:       tid,
			leader:     nt,
			tasks:      map[*Task]struct{}{},
			parent:     parent,
			children:   map[*ThreadGroup]struct{}{},
			exitSignal: exitSignal,
			handlers:   handlers,
			rlimits:    t.tg.rlimits,
			dumpable:   true,
		}
		ntg.itimers.init(ntg)
		k.joinContainerLocked(ntg, t.tg.container, false)
		parent.children[ntg] = struct{}{}
		k.groups[tid] = ntg
		k.joinProcessGroupLocked(ntg, t.tg.pg)
		nt.tg = ntg
	}
	nt.tg.tasks[nt] = struct{}{}
	k.tasks[tid] = nt
	k.liveTasks++
	if f&linux.CLONE_VFORK != 0 {
		nt.vforkParent = t
		nt.vforkDone = make(chan struct{})
	}
	k.mu.Unlock()

	var tidBytes [4]byte
	binary.LittleEndian.PutUint32(tidBytes[:], uint32(tid))
	if f&linux.CLONE_CHILD_SETTID != 0 {
		newMM.CopyOut(o.ChildTID, tidBytes[:])
	}
	if f&linux.CLONE_PARENT_SETTID != 0 {
		t.CopyOut(o.ParentTID, tidBytes[:])
	}
	nt.start()

	if f&linux.CLONE_VFORK != 0 {
		t.waitVfork(nt.vforkDone)
	}
	return tid, nil
}

// waitVfork sleeps until the vfork child execs or exits; only the death of
// the parent's own process ends the wait early (other signals stay pending).
func (t *Task) waitVfork(done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case <-t.interrupt:
			t.pendingFlag.Store(true)
			t.k.mu.Lock()
			dying := t.tg.groupExiting
			t.k.mu.Unlock()
			if dying {
				return
			}
		}
	}
}

// releaseVfork wakes the vfork parent, if any (exec or exit of the child).
func (t *Task) releaseVfork() {
	t.k.mu.Lock()
	ch := t.vforkDone
	t.vforkDone = nil
	t.vforkParent = nil
	t.k.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}
