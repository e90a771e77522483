package kernel

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// WaitStatus is a wait(2) status word.
type WaitStatus uint32

// exitedWith is the status of exit(code).
func exitedWith(code int) WaitStatus { return WaitStatus((code & 0xff) << 8) }

// killedBy is the status of death by sig.
func killedBy(sig linux.Signal, core bool) WaitStatus {
	s := WaitStatus(sig) & 0x7f
	if core {
		s |= 0x80
	}
	return s
}

// Exited reports a normal exit; ExitCode its code.
func (s WaitStatus) Exited() bool  { return s&0x7f == 0 }
func (s WaitStatus) ExitCode() int { return int(s>>8) & 0xff }

// Signaled reports death by a signal; Signal which.
func (s WaitStatus) Signaled() bool       { return s&0x7f != 0 && s&0x7f != 0x7f }
func (s WaitStatus) Signal() linux.Signal { return linux.Signal(s & 0x7f) }

// ShellStatus is the status as a shell reports it: the exit code, or
// 128+signal.
func (s WaitStatus) ShellStatus() int {
	if s.Signaled() {
		return 128 + int(s.Signal())
	}
	return s.ExitCode()
}

// Exit ends the calling thread (exit(2)).
func (t *Task) Exit(code int) {
	t.k.mu.Lock()
	t.exiting = true
	// The run loop looks at t.exiting only when something is pending.
	t.pendingFlag.Store(true)
	if len(t.tg.tasks) == 1 && !t.tg.groupExiting {
		t.tg.exitStatus = exitedWith(code)
	}
	t.k.mu.Unlock()
}

// ExitGroup ends the whole process (exit_group(2)).
func (t *Task) ExitGroup(code int) {
	t.k.mu.Lock()
	t.k.groupExitLocked(t.tg, exitedWith(code))
	t.k.mu.Unlock()
}

// groupExitLocked makes every task of tg exit with status.
func (k *Kernel) groupExitLocked(tg *ThreadGroup, status WaitStatus) {
	if tg.groupExiting {
		return
	}
	tg.groupExiting = true
	tg.exitStatus = status
	tg.stopped = false
	for t := range tg.tasks {
		t.wake()
	}
}

// groupStopLocked stops every task of tg for sig.
func (k *Kernel) groupStopLocked(tg *ThreadGroup, sig linux.Signal) {
	if tg.stopped || tg.groupExiting {
		return
	}
	tg.stopped = true
	tg.stopSignal = sig
	tg.stopReported = false
	for t := range tg.tasks {
		t.wake()
	}
	k.notifyParentLocked(tg, linux.CLD_STOPPED, int32(sig))
}

// exitTask is the end of a task goroutine: it releases the task's
// resources and, for the last task of a process, makes the process a
// zombie and tells the parent.
func (t *Task) exitTask() {
	k := t.k
	// Wake a vfork parent.
	t.releaseVfork()

	// clear_child_tid: write 0 and wake a futex waiter (pthread_join).
	if t.clearChildTID != 0 && t.mm != nil {
		var zero [4]byte
		if _, err := t.CopyOut(t.clearChildTID, zero[:]); err == nil {
			k.futexes.wake(t, t.clearChildTID, false, 1, ^uint32(0))
		}
	}
	t.exitRobustList()

	t.mmu.Lock()
	m, fdt, fsc := t.mm, t.fdTable, t.fsc
	t.mm, t.fdTable, t.fsc = nil, nil, nil
	t.mmu.Unlock()
	if fdt != nil {
		fdt.DecRef()
	}
	if fsc != nil {
		fsc.DecRef()
	}
	// The address space goes before the platform context: when this was
	// its last user the host side (a ptrace stub) is destroyed outright,
	// and the context then has no thread left to wind down (as in execve).
	if m != nil {
		m.DecUsers()
	}
	if t.ctx != nil {
		t.ctx.Release()
	}

	k.mu.Lock()
	defer k.mu.Unlock()
	t.exited = true
	t.exiting = true
	tg := t.tg
	delete(tg.tasks, t)
	k.liveTasks--
	k.containerTaskExitedLocked(t)
	if t != tg.leader {
		delete(k.tasks, t.tid)
	}
	if tg.execing != nil {
		// An execve waits for its siblings to go.
		tg.execing.wake()
	}
	if len(tg.tasks) == 0 {
		k.processExitedLocked(tg)
	}
	k.finishIfIdleLocked()
}

// processExitedLocked turns tg into a zombie (or reaps it at once).
func (k *Kernel) processExitedLocked(tg *ThreadGroup) {
	if !tg.groupExiting {
		tg.groupExiting = true
	}
	tg.zombie = true
	tg.itimers.stop()
	k.containerProcessExitedLocked(tg)
	// Children go to the nearest subreaper or to init (in a pod: to their
	// container's init).
	newParent := k.containerReaperLocked(tg)
	for p := tg.parent; p != nil; p = p.parent {
		if p.subreaper && !p.groupExiting {
			newParent = p
			break
		}
	}
	for c := range tg.children {
		delete(tg.children, c)
		if newParent == nil || newParent == tg {
			c.parent = nil
			if c.zombie {
				k.reapLocked(c)
			}
			continue
		}
		c.parent = newParent
		newParent.children[c] = struct{}{}
		// As Linux (reparent_leader): an orphan's exit signal becomes
		// SIGCHLD, or a child made with clone(exit signal SIGSEGV, say)
		// could kill init by dying (found by test/fuzz).
		c.exitSignal = linux.SIGCHLD
		if c.pdeathSignal != 0 {
			k.sendLocked(c, nil, &linux.SignalInfo{Signo: int32(c.pdeathSignal), Code: linux.SI_USER})
		}
		if c.zombie {
			newParent.childEvents.Notify(childEventMask)
		}
	}
	if tg == k.init {
		k.initStatus.Store(uint32(tg.exitStatus))
		// The sandbox ends with its init: kill everyone left.
		for _, other := range k.groups {
			if other != tg && !other.zombie {
				k.groupExitLocked(other, killedBy(linux.SIGKILL, false))
			}
		}
		return
	}
	p := tg.parent
	if p == nil {
		k.reapLocked(tg)
		return
	}
	// A parent that ignores SIGCHLD (or set SA_NOCLDWAIT) does not keep
	// zombies.
	act := p.handlers.actions[linux.SIGCHLD]
	autoReap := tg.exitSignal == linux.SIGCHLD && (act.Handler == linux.SIG_IGN || act.Flags&linux.SA_NOCLDWAIT != 0)
	if tg.exitSignal != 0 && !autoReap {
		info := k.childInfoLocked(tg, 0, 0)
		info.Signo = int32(tg.exitSignal)
		k.sendLocked(p, nil, info)
	}
	p.childEvents.Notify(childEventMask)
	if autoReap {
		k.reapLocked(tg)
	}
}

// childEventMask is what child state changes notify.
const childEventMask = 1 << 41

// childInfoLocked builds the SIGCHLD siginfo for tg's current state; code
// and status override the exit ones when nonzero (stop/continue).
func (k *Kernel) childInfoLocked(tg *ThreadGroup, code, status int32) *linux.SignalInfo {
	info := &linux.SignalInfo{Signo: int32(linux.SIGCHLD)}
	info.SetPID(int32(tg.tgid))
	if l := tg.leader; l != nil {
		info.SetUID(int32(l.Credentials().RealUID))
	}
	if code == 0 {
		s := tg.exitStatus
		if s.Signaled() {
			info.Code = linux.CLD_KILLED
			if s&0x80 != 0 {
				info.Code = linux.CLD_DUMPED
			}
			info.SetStatus(int32(s.Signal()))
		} else {
			info.Code = linux.CLD_EXITED
			info.SetStatus(int32(s.ExitCode()))
		}
	} else {
		info.Code = code
		info.SetStatus(status)
	}
	return info
}

// notifyParentLocked tells tg's parent that tg stopped or continued.
func (k *Kernel) notifyParentLocked(tg *ThreadGroup, code int32, status int32) {
	p := tg.parent
	if p == nil {
		return
	}
	act := p.handlers.actions[linux.SIGCHLD]
	if act.Flags&linux.SA_NOCLDSTOP == 0 {
		info := k.childInfoLocked(tg, code, status)
		k.sendLocked(p, nil, info)
	}
	p.childEvents.Notify(childEventMask)
}

// reapLocked removes a zombie for good.
func (k *Kernel) reapLocked(tg *ThreadGroup) {
	if tg.reaped {
		return
	}
	tg.reaped = true
	if tg.parent != nil {
		delete(tg.parent.children, tg)
		if l := tg.leader; l != nil {
			u, s := l.CPUTime()
			tg.parent.childUserNS += u + tg.childUserNS
			tg.parent.childSysNS += s + tg.childSysNS
		}
	}
	delete(k.groups, tg.tgid)
	if l := tg.leader; l != nil {
		delete(k.tasks, l.tid)
	}
	k.leaveProcessGroupLocked(tg)
}

// WaitOptions selects what Wait looks for.
type WaitOptions struct {
	// Pid: >0 that child; 0 any child in the caller's process group;
	// -1 any child; < -1 any child in process group -Pid.
	Pid ThreadID
	// Exited, Stopped, Continued select the events (WEXITED, WUNTRACED,
	// WCONTINUED); NoHang is WNOHANG; NoWait leaves the child waitable.
	Exited, Stopped, Continued, NoHang, NoWait bool
	// CloneChildren: __WCLONE / __WALL selection (children with a
	// non-SIGCHLD exit signal).
	WClone, WAll bool
}

// WaitResult is what Wait found.
type WaitResult struct {
	Pid    ThreadID
	UID    uint32
	Status WaitStatus
	// Code is the CLD_* code for waitid.
	Code          int32
	Signal        int32 // status for waitid (exit code or signal)
	UserNS, SysNS int64
}

// Wait implements wait4 and waitid. With NoHang and nothing to report it
// returns (nil, nil).
func (t *Task) Wait(o WaitOptions) (*WaitResult, error) {
	k := t.k
	for {
		k.mu.Lock()
		tg := t.tg
		res, any := k.waitOnceLocked(tg, o)
		if res != nil {
			k.mu.Unlock()
			return res, nil
		}
		if !any {
			k.mu.Unlock()
			return nil, unix.ECHILD
		}
		if o.NoHang {
			k.mu.Unlock()
			return nil, nil
		}
		e := newChildWaiter()
		tg.childEvents.EventRegister(e, childEventMask)
		k.mu.Unlock()
		err := t.Block(e.C)
		tg.childEvents.EventUnregister(e)
		if err != nil {
			return nil, err
		}
	}
}

func (k *Kernel) waitOnceLocked(tg *ThreadGroup, o WaitOptions) (*WaitResult, bool) {
	any := false
	for c := range tg.children {
		if !k.waitMatchesLocked(tg, c, o) {
			continue
		}
		any = true
		switch {
		case c.zombie && o.Exited:
			r := k.exitResultLocked(c)
			if !o.NoWait {
				k.reapLocked(c)
			}
			return r, true
		case c.stopped && o.Stopped && !c.stopReported:
			if !o.NoWait {
				c.stopReported = true
			}
			return &WaitResult{Pid: c.tgid, UID: c.uidLocked(), Status: WaitStatus(int(c.stopSignal)<<8 | 0x7f),
				Code: linux.CLD_STOPPED, Signal: int32(c.stopSignal)}, true
		case c.continuedEvent && o.Continued:
			if !o.NoWait {
				c.continuedEvent = false
			}
			return &WaitResult{Pid: c.tgid, UID: c.uidLocked(), Status: 0xffff,
				Code: linux.CLD_CONTINUED, Signal: int32(linux.SIGCONT)}, true
		}
	}
	return nil, any
}

func (tg *ThreadGroup) uidLocked() uint32 {
	if tg.leader == nil {
		return 0
	}
	return uint32(tg.leader.Credentials().RealUID)
}

func (k *Kernel) waitMatchesLocked(tg, c *ThreadGroup, o WaitOptions) bool {
	switch {
	case o.Pid > 0:
		if c.tgid != o.Pid {
			return false
		}
	case o.Pid == 0:
		if c.pg != tg.pg {
			return false
		}
	case o.Pid < -1:
		if c.pg == nil || c.pg.id != -o.Pid {
			return false
		}
	}
	if o.WAll {
		return true
	}
	clone := c.exitSignal != linux.SIGCHLD
	return clone == o.WClone
}

func (k *Kernel) exitResultLocked(c *ThreadGroup) *WaitResult {
	r := &WaitResult{Pid: c.tgid, UID: c.uidLocked(), Status: c.exitStatus}
	if c.exitStatus.Signaled() {
		r.Code = linux.CLD_KILLED
		if c.exitStatus&0x80 != 0 {
			r.Code = linux.CLD_DUMPED
		}
		r.Signal = int32(c.exitStatus.Signal())
	} else {
		r.Code = linux.CLD_EXITED
		r.Signal = int32(c.exitStatus.ExitCode())
	}
	if l := c.leader; l != nil {
		r.UserNS, r.SysNS = l.CPUTime()
	}
	return r
}

// exitRobustList wakes waiters of robust futexes the thread held.
func (t *Task) exitRobustList() {
	if t.robustList == 0 || t.mm == nil {
		return
	}
	// struct robust_list_head { next; futex_offset; list_op_pending }
	var head [24]byte
	if _, err := t.CopyIn(t.robustList, head[:]); err != nil {
		return
	}
	le := binary.LittleEndian
	next := uintptr(le.Uint64(head[0:]))
	off := int64(le.Uint64(head[8:]))
	pending := uintptr(le.Uint64(head[16:]))
	for i := 0; next != t.robustList && next != 0 && i < 2048; i++ {
		t.robustFutexDied(uintptr(int64(next) + off))
		var b [8]byte
		if _, err := t.CopyIn(next, b[:]); err != nil {
			break
		}
		next = uintptr(le.Uint64(b[:]))
	}
	if pending != 0 {
		t.robustFutexDied(uintptr(int64(pending) + off))
	}
}

// robustFutexDied marks a robust futex owned by t as FUTEX_OWNER_DIED.
func (t *Task) robustFutexDied(addr uintptr) {
	var b [4]byte
	if _, err := t.CopyIn(addr, b[:]); err != nil {
		return
	}
	v := binary.LittleEndian.Uint32(b[:])
	if v&linux.FUTEX_TID_MASK != uint32(t.tid) {
		return
	}
	v = (v & linux.FUTEX_WAITERS) | linux.FUTEX_OWNER_DIED
	binary.LittleEndian.PutUint32(b[:], v)
	if _, err := t.CopyOut(addr, b[:]); err != nil {
		return
	}
	if v&linux.FUTEX_WAITERS != 0 {
		t.k.futexes.wake(t, addr, false, 1, ^uint32(0))
	}
}
