package kernel

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

// interrupted reports whether something needs the task's attention, so a
// blocking call must return ERESTARTSYS.
func (t *Task) interrupted() bool { return t.pendingFlag.Load() }

// Interrupted reports whether a signal (or SIGKILL) waits for the task: a
// long operation that made progress should stop there and return it.
func (t *Task) Interrupted() bool { return t.interrupted() }

// Block waits until ch is ready or the task is interrupted by a signal (or
// killed). It returns nil or ERESTARTSYS.
func (t *Task) Block(ch <-chan struct{}) error {
	if t.interrupted() {
		select {
		case <-ch:
			return nil
		default:
			return ERESTARTSYS
		}
	}
	start := time.Now()
	defer t.addBlocked(start)
	select {
	case <-ch:
		return nil
	case <-t.interrupt:
		// Keep the token for the run loop's own check.
		t.pendingFlag.Store(true)
		return ERESTARTSYS
	}
}

// addBlocked accounts time spent blocked (not CPU time).
func (t *Task) addBlocked(start time.Time) { t.blockedNS.Add(int64(time.Since(start))) }

// BlockTimeout is Block with a timeout: it returns the time left, and
// ETIMEDOUT when d passed. d <= 0 means no waiting at all.
func (t *Task) BlockTimeout(ch <-chan struct{}, d time.Duration) (time.Duration, error) {
	if d <= 0 {
		select {
		case <-ch:
			return 0, nil
		default:
			return 0, unix.ETIMEDOUT
		}
	}
	deadline := time.Now().Add(d)
	err := t.BlockDeadline(ch, deadline)
	left := time.Until(deadline)
	if left < 0 {
		left = 0
	}
	return left, err
}

// BlockDeadline waits for ch until deadline (zero: forever).
func (t *Task) BlockDeadline(ch <-chan struct{}, deadline time.Time) error {
	if deadline.IsZero() {
		return t.Block(ch)
	}
	if t.interrupted() {
		select {
		case <-ch:
			return nil
		default:
			return ERESTARTSYS
		}
	}
	d := time.Until(deadline)
	if d <= 0 {
		select {
		case <-ch:
			return nil
		default:
			return unix.ETIMEDOUT
		}
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	start := time.Now()
	defer t.addBlocked(start)
	select {
	case <-ch:
		return nil
	case <-t.interrupt:
		t.pendingFlag.Store(true)
		return ERESTARTSYS
	case <-timer.C:
		return unix.ETIMEDOUT
	}
}

// BlockOn waits until w has one of the events in mask (re-checking after
// registering, so no wakeup is lost), the deadline passes (ETIMEDOUT; zero
// deadline: none), or a signal arrives (ERESTARTSYS).
func (t *Task) BlockOn(w waiter.Waitable, mask waiter.EventMask, deadline time.Time) error {
	e := waiter.NewEntry()
	w.EventRegister(e, mask)
	defer w.EventUnregister(e)
	for {
		if w.Readiness(mask) != 0 {
			return nil
		}
		if err := t.BlockDeadline(e.C, deadline); err != nil {
			return err
		}
	}
}

// Sleep blocks for d or until interrupted; it returns the time left.
func (t *Task) Sleep(d time.Duration) (time.Duration, error) {
	left, err := t.BlockTimeout(nil, d)
	if err == unix.ETIMEDOUT {
		return 0, nil
	}
	return left, err
}
