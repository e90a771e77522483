package kernel

import (
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// mayKillLocked applies kill(2)'s permission rule.
func (t *Task) mayKillLocked(target *ThreadGroup, sig linux.Signal) bool {
	c := t.Credentials()
	if c.HasCapability(5 /* CAP_KILL */) {
		return true
	}
	l := target.leader
	if l == nil {
		return true
	}
	tc := l.Credentials()
	if c.EffectiveUID == tc.RealUID || c.EffectiveUID == tc.SavedUID ||
		c.RealUID == tc.RealUID || c.RealUID == tc.SavedUID {
		return true
	}
	// SIGCONT within a session is always allowed.
	return sig == linux.SIGCONT && target.pg != nil && t.tg.pg != nil && target.pg.session == t.tg.pg.session
}

// SignalThread sends info to the thread target (tkill, tgkill,
// rt_tgsigqueueinfo) with kill(2)'s checks: permission (EPERM), and init's
// protection from signals it has no handler for. Signal 0 only checks.
// (test/fuzz found these calls without either: any process could kill
// init, or another user's process, with tgkill.)
func (t *Task) SignalThread(target *Task, info *linux.SignalInfo) error {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	tg := target.tg
	if tg == nil || tg.reaped {
		return unix.ESRCH
	}
	sig := linux.Signal(info.Signo)
	if !t.mayKillLocked(tg, sig) {
		return unix.EPERM
	}
	if sig == 0 || tg == k.init && tg != t.tg && tg.handlers.actions[sig].Handler == linux.SIG_DFL {
		return nil
	}
	return k.sendLocked(tg, target, info)
}

// Kill implements kill(2)'s target selection; sig 0 only checks.
func (t *Task) Kill(pid ThreadID, sig linux.Signal, info *linux.SignalInfo) error {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	var targets []*ThreadGroup
	switch {
	case pid > 0:
		tg := k.groups[pid]
		if tg == nil {
			// A thread id that is not a process id still finds its process.
			if task := k.tasks[pid]; task != nil {
				tg = task.tg
			}
		}
		if tg == nil || tg.reaped {
			return unix.ESRCH
		}
		targets = []*ThreadGroup{tg}
	case pid == 0:
		targets = k.processGroupMembersLocked(t.tg.pg.id)
	case pid == -1:
		for _, tg := range k.groups {
			if tg != k.init && tg != t.tg && !tg.zombie {
				targets = append(targets, tg)
			}
		}
	default:
		targets = k.processGroupMembersLocked(-pid)
	}
	if len(targets) == 0 {
		return unix.ESRCH
	}
	sent := false
	var lastErr error = unix.EPERM
	for _, tg := range targets {
		if !t.mayKillLocked(tg, sig) {
			continue
		}
		// init is protected from signals it has no handler for, as
		// Linux protects a PID namespace's init from its own members.
		if tg == k.init && tg != t.tg && sig != 0 && tg.handlers.actions[sig].Handler == linux.SIG_DFL {
			sent = true
			continue
		}
		sent = true
		if sig == 0 {
			continue
		}
		c := *info
		if err := k.sendLocked(tg, nil, &c); err != nil {
			lastErr = err
			sent = false
		}
	}
	if !sent {
		return lastErr
	}
	return nil
}

// SigTimedWait waits for a signal in set (rt_sigtimedwait) and dequeues it.
// It returns ETIMEDOUT at the deadline (zero: none) and ERESTARTNOHAND...
// well, EINTR, when another signal interrupts.
func (t *Task) SigTimedWait(set linux.SignalSet, deadline time.Time) (*linux.SignalInfo, error) {
	k := t.k
	set &^= unblockable
	k.mu.Lock()
	if info := t.dequeueInLocked(set); info != nil {
		k.mu.Unlock()
		return info, nil
	}
	if !deadline.IsZero() && !time.Now().Before(deadline) {
		k.mu.Unlock()
		return nil, unix.ETIMEDOUT
	}
	old := t.sigMask
	t.sigMask = old &^ set
	k.mu.Unlock()

	err := t.BlockDeadline(nil, deadline)

	k.mu.Lock()
	defer k.mu.Unlock()
	t.setMaskLocked(old)
	if info := t.dequeueInLocked(set); info != nil {
		return info, nil
	}
	if err == unix.ETIMEDOUT {
		return nil, err
	}
	return nil, unix.EINTR
}

func (t *Task) dequeueInLocked(set linux.SignalSet) *linux.SignalInfo {
	mask := ^set
	if info := t.pending.dequeue(mask); info != nil {
		return info
	}
	return t.tg.pending.dequeue(mask)
}
