package kernel

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

// waitQueue is where wait4 waits for child state changes.
type waitQueue = waiter.Queue

// Signal numbers used by the kernel itself.
const (
	SIGHUP    = linux.SIGHUP
	SIGINT    = linux.SIGINT
	SIGQUIT   = linux.SIGQUIT
	SIGILL    = linux.SIGILL
	SIGTRAP   = linux.SIGTRAP
	SIGABRT   = linux.SIGABRT
	SIGBUS    = linux.SIGBUS
	SIGFPE    = linux.SIGFPE
	SIGKILL   = linux.SIGKILL
	SIGUSR1   = linux.SIGUSR1
	SIGSEGV   = linux.SIGSEGV
	SIGPIPE   = linux.SIGPIPE
	SIGALRM   = linux.SIGALRM
	SIGTERM   = linux.SIGTERM
	SIGCHLD   = linux.SIGCHLD
	SIGCONT   = linux.SIGCONT
	SIGSTOP   = linux.SIGSTOP
	SIGTSTP   = linux.SIGTSTP
	SIGTTIN   = linux.SIGTTIN
	SIGTTOU   = linux.SIGTTOU
	SIGXCPU   = linux.SIGXCPU
	SIGXFSZ   = linux.SIGXFSZ
	SIGSYS    = linux.SIGSYS
	SIGWINCH  = linux.SIGWINCH
	SIGURG    = linux.SIGURG
	SignalMax = linux.SignalMaximum
)

// unblockable signals can never be masked.
var unblockable = linux.MakeSignalSet(linux.SIGKILL, linux.SIGSTOP)

// defaultAction is what SIG_DFL does for a signal.
type defaultAction int

const (
	actTerm defaultAction = iota
	actCore
	actIgnore
	actStop
	actCont
)

func defaultActionOf(sig linux.Signal) defaultAction {
	switch sig {
	case linux.SIGQUIT, linux.SIGILL, linux.SIGTRAP, linux.SIGABRT, linux.SIGBUS, linux.SIGFPE,
		linux.SIGSEGV, linux.SIGXCPU, linux.SIGXFSZ, linux.SIGSYS:
		return actCore
	case linux.SIGCHLD, linux.SIGURG, linux.SIGWINCH:
		return actIgnore
	case linux.SIGSTOP, linux.SIGTSTP, linux.SIGTTIN, linux.SIGTTOU:
		return actStop
	case linux.SIGCONT:
		return actCont
	}
	return actTerm
}

// SignalHandlers is a process's table of signal actions (shared by
// CLONE_SIGHAND). Protected by k.mu.
type SignalHandlers struct {
	actions [linux.SignalMaximum + 1]linux.SigAction
}

func (h *SignalHandlers) fork() *SignalHandlers {
	n := *h
	return &n
}

// resetForExec makes caught signals default, keeping ignored ones.
func (h *SignalHandlers) resetForExec() {
	for i := range h.actions {
		a := &h.actions[i]
		if a.Handler != linux.SIG_IGN {
			a.Handler = linux.SIG_DFL
		}
		a.Flags, a.Restorer, a.Mask = 0, 0, 0
	}
}

// ignored reports whether sig is ignored with its current action.
func (h *SignalHandlers) ignored(sig linux.Signal) bool {
	a := h.actions[sig]
	if a.Handler == linux.SIG_IGN {
		return true
	}
	return a.Handler == linux.SIG_DFL && defaultActionOf(sig) == actIgnore
}

// sigQueue holds pending signals: one instance of each standard signal,
// any number of each real-time signal.
type sigQueue struct {
	set   linux.SignalSet
	infos [linux.SignalMaximum + 1][]*linux.SignalInfo
}

func (q *sigQueue) enqueue(info *linux.SignalInfo) bool {
	sig := linux.Signal(info.Signo)
	if !sig.IsRealtime() && q.set&linux.SignalSetOf(sig) != 0 {
		return false // a standard signal is queued at most once
	}
	q.infos[sig] = append(q.infos[sig], info)
	q.set |= linux.SignalSetOf(sig)
	return true
}

// dequeue removes and returns the lowest pending signal not in mask.
func (q *sigQueue) dequeue(mask linux.SignalSet) *linux.SignalInfo {
	avail := q.set &^ mask
	if avail == 0 {
		return nil
	}
	// Synchronous signals first would be nicer; lowest number first is
	// what Linux does too, except it prefers the synchronous ones.
	for sig := linux.Signal(1); sig <= linux.SignalMaximum; sig++ {
		if avail&linux.SignalSetOf(sig) == 0 {
			continue
		}
		return q.take(sig)
	}
	return nil
}

func (q *sigQueue) take(sig linux.Signal) *linux.SignalInfo {
	infos := q.infos[sig]
	if len(infos) == 0 {
		q.set &^= linux.SignalSetOf(sig)
		return nil
	}
	info := infos[0]
	q.infos[sig] = infos[1:]
	if len(q.infos[sig]) == 0 {
		q.infos[sig] = nil
		q.set &^= linux.SignalSetOf(sig)
	}
	return info
}

func (q *sigQueue) discard(set linux.SignalSet) {
	for sig := linux.Signal(1); sig <= linux.SignalMaximum; sig++ {
		if set&q.set&linux.SignalSetOf(sig) != 0 {
			q.infos[sig] = nil
			q.set &^= linux.SignalSetOf(sig)
		}
	}
}

// SendSignal sends info to task t alone (tgkill, faults).
func (t *Task) SendSignal(info *linux.SignalInfo) error {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.k.sendLocked(t.tg, t, info)
}

// SendGroupSignal sends info to the process tg (kill).
func (tg *ThreadGroup) SendGroupSignal(info *linux.SignalInfo) error {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return tg.k.sendLocked(tg, nil, info)
}

// SendSIGPIPE sends SIGPIPE to t (write on a broken pipe).
func (t *Task) SendSIGPIPE() {
	info := &linux.SignalInfo{Signo: int32(linux.SIGPIPE), Code: linux.SI_USER}
	info.SetPID(int32(t.tg.tgid))
	t.SendSignal(info)
}

// sendLocked queues info for tg (target nil) or for one task of it.
func (k *Kernel) sendLocked(tg *ThreadGroup, target *Task, info *linux.SignalInfo) error {
	sig := linux.Signal(info.Signo)
	if !sig.IsValid() {
		return unix.EINVAL
	}
	if tg.zombie || tg.groupExiting && sig != linux.SIGKILL {
		return nil
	}
	if sig == linux.SIGKILL {
		k.groupExitLocked(tg, killedBy(linux.SIGKILL, false))
		return nil
	}
	// Stop and continue signals cancel each other when sent.
	switch defaultActionOf(sig) {
	case actStop:
		tg.pending.discard(linux.SignalSetOf(linux.SIGCONT))
		for t := range tg.tasks {
			t.pending.discard(linux.SignalSetOf(linux.SIGCONT))
		}
	case actCont:
		stopSet := linux.MakeSignalSet(linux.SIGSTOP, linux.SIGTSTP, linux.SIGTTIN, linux.SIGTTOU)
		tg.pending.discard(stopSet)
		for t := range tg.tasks {
			t.pending.discard(stopSet)
		}
		if tg.stopped {
			tg.stopped = false
			tg.continuedEvent = true
			tg.contReported = false
			k.notifyParentLocked(tg, linux.CLD_CONTINUED, int32(linux.SIGCONT))
			for t := range tg.tasks {
				t.wake()
			}
		}
	}
	// An ignored signal is dropped when sent, unless the receiver blocks it
	// (it may unblock it after changing the action).
	if tg.handlers.ignored(sig) {
		m := target
		if m == nil {
			m = tg.leader
		}
		if m == nil || m.sigMask&linux.SignalSetOf(sig) == 0 {
			return nil
		}
	}
	if target != nil {
		if target.pending.enqueue(info) {
			if target.sigMask&linux.SignalSetOf(sig) == 0 {
				target.wake()
			}
		}
		return nil
	}
	if !tg.pending.enqueue(info) {
		return nil
	}
	// Wake one task that does not block the signal (the leader first).
	if l := tg.leader; l != nil && !l.exiting && l.sigMask&linux.SignalSetOf(sig) == 0 {
		l.wake()
		return nil
	}
	for t := range tg.tasks {
		if !t.exiting && t.sigMask&linux.SignalSetOf(sig) == 0 {
			t.wake()
			return nil
		}
	}
	return nil
}

// wake makes the task look at its signal state: it interrupts a blocking
// call or a running Switch. k.mu is held or the task is otherwise pinned.
func (t *Task) wake() {
	t.pendingFlag.Store(true)
	select {
	case t.interrupt <- struct{}{}:
	default:
	}
	if c := t.ctx; c != nil {
		c.Interrupt()
	}
}

// SignalMask returns the task's blocked set.
func (t *Task) SignalMask() linux.SignalSet {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.sigMask
}

// SetSignalMask replaces the blocked set (SIGKILL and SIGSTOP stay unblocked).
func (t *Task) SetSignalMask(m linux.SignalSet) {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	t.setMaskLocked(m)
}

func (t *Task) setMaskLocked(m linux.SignalSet) {
	m &^= unblockable
	old := t.sigMask
	t.sigMask = m
	// Newly unblocked pending signals must be looked at.
	if (old&^m)&(t.pending.set|t.tg.pending.set) != 0 {
		t.pendingFlag.Store(true)
	}
}

// SetSavedSignalMask arranges for the current mask to become m until the
// next signal handler returns (rt_sigsuspend, ppoll, pselect, epoll_pwait):
// the old mask is restored after a handler runs, or by RestoreSavedMask.
func (t *Task) SetSavedSignalMask(m linux.SignalSet) {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	t.savedMask = t.sigMask
	t.haveSaved = true
	t.setMaskLocked(m)
}

// RestoreSavedMask undoes SetSavedSignalMask if no handler did.
func (t *Task) RestoreSavedMask() {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	if t.haveSaved {
		t.haveSaved = false
		t.setMaskLocked(t.savedMask)
	}
}

// PendingSignals returns the signals pending for the task or its process.
func (t *Task) PendingSignals() linux.SignalSet {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.pending.set | t.tg.pending.set
}

// SigAction returns and/or replaces the action for sig.
func (t *Task) SigAction(sig linux.Signal, act *linux.SigAction) (linux.SigAction, error) {
	if !sig.IsValid() {
		return linux.SigAction{}, unix.EINVAL
	}
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	h := t.tg.handlers
	old := h.actions[sig]
	if act != nil {
		if sig == linux.SIGKILL || sig == linux.SIGSTOP {
			return old, unix.EINVAL
		}
		a := *act
		a.Mask &^= unblockable
		h.actions[sig] = a
		// Setting SIG_IGN (or SIG_DFL for a default-ignored signal)
		// discards pending instances.
		if h.ignored(sig) {
			set := linux.SignalSetOf(sig)
			t.tg.pending.discard(set)
			for o := range t.tg.tasks {
				o.pending.discard(set)
			}
		}
	}
	return old, nil
}

// SigAltStack returns and/or sets the alternate signal stack.
func (t *Task) SigAltStack(ss *linux.SignalStack) (linux.SignalStack, error) {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	old := t.altStack
	if t.onAltStackLocked(uintptr(t.regs.Rsp)) {
		old.Flags |= linux.SS_ONSTACK
	}
	if ss != nil {
		if old.Flags&linux.SS_ONSTACK != 0 {
			return old, unix.EPERM
		}
		if ss.Flags&^(linux.SS_DISABLE|ssAutoDisarm) != 0 {
			return old, unix.EINVAL
		}
		if ss.Flags&linux.SS_DISABLE != 0 {
			t.altStack = linux.SignalStack{Flags: linux.SS_DISABLE}
		} else {
			if ss.Size < minSigStkSz {
				return old, unix.ENOMEM
			}
			t.altStack = *ss
		}
	}
	return old, nil
}

func (t *Task) onAltStackLocked(sp uintptr) bool {
	a := t.altStack
	return a.Flags&linux.SS_DISABLE == 0 && a.Size != 0 && uintptr(a.Addr) < sp && sp <= uintptr(a.Addr+a.Size)
}

// SignalInfoKill returns the siginfo of a kill(2)-style signal from t.
func (t *Task) SignalInfoKill(sig linux.Signal, code int32) *linux.SignalInfo {
	info := &linux.SignalInfo{Signo: int32(sig), Code: code}
	info.SetPID(int32(t.tg.tgid))
	info.SetUID(int32(t.Credentials().RealUID))
	return info
}
