package kernel

import (
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// Rlimit is one resource limit.
type Rlimit struct{ Cur, Max uint64 }

// RLimInfinity is RLIM_INFINITY.
const RLimInfinity = ^uint64(0)

// limits are a process's resource limits, by RLIMIT_* number.
type limits [rlimNLimits]Rlimit

func defaultLimits() limits {
	var l limits
	for i := range l {
		l[i] = Rlimit{RLimInfinity, RLimInfinity}
	}
	l[linux.RLIMIT_STACK] = Rlimit{8 << 20, RLimInfinity}
	l[linux.RLIMIT_CORE] = Rlimit{0, RLimInfinity}
	l[linux.RLIMIT_NOFILE] = Rlimit{1 << 20, 1 << 20}
	l[linux.RLIMIT_NPROC] = Rlimit{uint64(DefaultMaxTasks), uint64(DefaultMaxTasks)}
	l[linux.RLIMIT_MEMLOCK] = Rlimit{8 << 20, 8 << 20}
	l[linux.RLIMIT_SIGPENDING] = Rlimit{1 << 16, 1 << 16}
	l[linux.RLIMIT_MSGQUEUE] = Rlimit{819200, 819200}
	l[linux.RLIMIT_RTPRIO] = Rlimit{0, 0}
	l[linux.RLIMIT_NICE] = Rlimit{0, 0}
	return l
}

// Rlimit returns the current and maximum value of resource r.
func (t *Task) Rlimit(r int) (cur, max uint64) {
	if r < 0 || r >= rlimNLimits {
		return 0, 0
	}
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	l := t.tg.rlimits[r]
	return l.Cur, l.Max
}

// PRlimit reads and optionally replaces the limit r of process tg.
func (t *Task) PRlimit(tg *ThreadGroup, r int, nl *Rlimit) (Rlimit, error) {
	if r < 0 || r >= rlimNLimits {
		return Rlimit{}, unix.EINVAL
	}
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	old := tg.rlimits[r]
	if nl != nil {
		if nl.Cur > nl.Max {
			return old, unix.EINVAL
		}
		if nl.Max > old.Max && !t.Credentials().HasCapability(24 /* CAP_SYS_RESOURCE */) {
			return old, unix.EPERM
		}
		if r == linux.RLIMIT_NOFILE && nl.Max > 1<<20 {
			return old, unix.EPERM
		}
		tg.rlimits[r] = *nl
	}
	return old, nil
}

// nowNS is the time since boot in ns.
func (k *Kernel) nowNS() int64 { return int64(time.Since(k.bootTime)) }

// itimerState is a process's ITIMER_REAL (alarm) timer. ITIMER_VIRTUAL and
// ITIMER_PROF are kept as values but do not fire (the sentry does not
// sample CPU time finely enough).
type itimerState struct {
	tg       *ThreadGroup
	timer    *time.Timer
	deadline time.Time
	interval time.Duration
	gen      uint64
	virtual  [2]ItimerVal
}

// ItimerVal is an interval timer setting.
type ItimerVal struct{ Value, Interval time.Duration }

func (s *itimerState) init(tg *ThreadGroup) { s.tg = tg }

// stop cancels the timer. k.mu held.
func (s *itimerState) stop() {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.gen++
}

// getLocked returns the current setting. k.mu held.
func (s *itimerState) getLocked() ItimerVal {
	if s.timer == nil {
		return ItimerVal{}
	}
	left := time.Until(s.deadline)
	if left <= 0 {
		left = time.Microsecond
	}
	return ItimerVal{Value: left, Interval: s.interval}
}

// setLocked arms the timer (zero value disarms). k.mu held.
func (s *itimerState) setLocked(v ItimerVal) ItimerVal {
	old := s.getLocked()
	s.stop()
	if v.Value <= 0 {
		return old
	}
	s.interval = v.Interval
	s.arm(v.Value)
	return old
}

func (s *itimerState) arm(d time.Duration) {
	s.deadline = time.Now().Add(d)
	gen := s.gen
	tg := s.tg
	s.timer = time.AfterFunc(d, func() {
		k := tg.k
		k.mu.Lock()
		defer k.mu.Unlock()
		if s.gen != gen || tg.zombie {
			return
		}
		info := &linux.SignalInfo{Signo: int32(linux.SIGALRM), Code: linux.SI_KERNEL}
		k.sendLocked(tg, nil, info)
		s.timer = nil
		if s.interval > 0 {
			s.gen++
			s.arm(s.interval)
		}
	})
}

// Itimer implements getitimer/setitimer for which (ITIMER_*); nv nil reads.
func (t *Task) Itimer(which int, nv *ItimerVal) (ItimerVal, error) {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	s := &t.tg.itimers
	switch which {
	case linux.ITIMER_REAL:
		if nv == nil {
			return s.getLocked(), nil
		}
		return s.setLocked(*nv), nil
	case linux.ITIMER_VIRTUAL, linux.ITIMER_PROF:
		i := which - 1
		old := s.virtual[i]
		if nv != nil {
			s.virtual[i] = *nv
		}
		return old, nil
	}
	return ItimerVal{}, unix.EINVAL
}

// ChildTimes returns the CPU time of the process's reaped children, in ns.
func (tg *ThreadGroup) ChildTimes() (user, sys int64) {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return tg.childUserNS, tg.childSysNS
}

// rlimNLimits is the number of RLIMIT_* resources.
const rlimNLimits = 16
