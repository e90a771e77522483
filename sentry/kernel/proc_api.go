package kernel

import (
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// This file holds read-only accessors used by /proc (sentry/fsimpl/proc)
// and host ttys (sentry/fsimpl/host). Each takes the tree lock briefly.

// ProcessGroupID returns the id of the task's process group (0 if the task
// has no process any more).
func (t *Task) ProcessGroupID() int32 {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	if t.tg == nil || t.tg.pg == nil {
		return 0
	}
	return int32(t.tg.pg.id)
}

// SignalState returns the signals pending for the task alone and for its
// whole process, and the signals the process ignores and catches (for
// /proc/[pid]/status's SigPnd, ShdPnd, SigIgn and SigCgt).
func (t *Task) SignalState() (pending, shared, ignored, caught linux.SignalSet) {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	pending = t.pending.set
	if t.tg == nil {
		return
	}
	shared = t.tg.pending.set
	h := t.tg.handlers
	if h == nil {
		return
	}
	for sig := linux.Signal(1); sig <= linux.SignalMaximum; sig++ {
		switch a := h.actions[sig]; a.Handler {
		case linux.SIG_IGN:
			ignored |= linux.SignalSetOf(sig)
		case linux.SIG_DFL:
		default:
			caught |= linux.SignalSetOf(sig)
		}
	}
	return
}

// LastPID returns the last thread id handed out (/proc/loadavg).
func (k *Kernel) LastPID() ThreadID {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lastTID
}

// NumTasks returns the number of live tasks (/proc/loadavg, /proc/stat).
func (k *Kernel) NumTasks() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.tasks)
}

// MaxTasks returns the sandbox's task limit (/proc/sys/kernel/threads-max).
func (k *Kernel) MaxTasks() int { return k.cfg.MaxTasks }

// ExitSignal returns the signal the process sends its parent when it dies.
func (tg *ThreadGroup) ExitSignal() linux.Signal {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return tg.exitSignal
}

// GroupIDs returns the process group and session ids, or zeros once the
// process has left its group (a zombie being reaped).
func (tg *ThreadGroup) GroupIDs() (pgid, sid ThreadID) {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	if tg.pg == nil {
		return 0, 0
	}
	return tg.pg.id, tg.pg.session.id
}
