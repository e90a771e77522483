package syscalls

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/arch"
	"github.com/runsc-cri/runsc-cri/sentry/kernel"
)

func init() {
	addFamily(map[uintptr]Entry{
		unix.SYS_CLOCK_GETTIME:   {Handler: ClockGettime, Support: Full},
		unix.SYS_CLOCK_GETRES:    {Handler: ClockGetres, Support: Full},
		unix.SYS_CLOCK_SETTIME:   {Handler: ClockSettime, Support: Full, Note: "EPERM: the sandbox cannot set clocks"},
		unix.SYS_GETTIMEOFDAY:    {Handler: Gettimeofday, Support: Full},
		unix.SYS_SETTIMEOFDAY:    {Handler: ClockSettime, Support: Full, Note: "EPERM"},
		unix.SYS_TIME:            {Handler: Time, Support: Full},
		unix.SYS_NANOSLEEP:       {Handler: Nanosleep, Support: Full},
		unix.SYS_CLOCK_NANOSLEEP: {Handler: ClockNanosleep, Support: Full},
		unix.SYS_ALARM:           {Handler: Alarm, Support: Full},
		unix.SYS_SETITIMER:       {Handler: Setitimer, Support: Partial, Note: "ITIMER_VIRTUAL and ITIMER_PROF are stored but never fire"},
		unix.SYS_GETITIMER:       {Handler: Getitimer, Support: Partial, Note: "as setitimer"},
		unix.SYS_TIMES:           {Handler: Times, Support: Full},
	})
}

// hostClock maps a clock id to the host clock that serves it.
func clockNow(t *kernel.Task, id int32) (int64, error) {
	switch id {
	case linux.CLOCK_REALTIME, linux.CLOCK_REALTIME_COARSE:
		return time.Now().UnixNano(), nil
	case linux.CLOCK_MONOTONIC, linux.CLOCK_MONOTONIC_COARSE, linux.CLOCK_MONOTONIC_RAW, linux.CLOCK_BOOTTIME, clockTAI:
		// The same host clock the vDSO reads, so a program that mixes
		// vDSO calls and system calls sees one clock.
		var ts unix.Timespec
		if err := unix.ClockGettime(id, &ts); err != nil {
			return 0, unix.EINVAL
		}
		return ts.Nano(), nil
	case linux.CLOCK_PROCESS_CPUTIME_ID:
		var total int64
		for _, o := range t.ThreadGroup().Tasks() {
			u, s := o.CPUTime()
			total += u + s
		}
		return total, nil
	case linux.CLOCK_THREAD_CPUTIME_ID:
		u, s := t.CPUTime()
		return u + s, nil
	}
	return 0, unix.EINVAL
}

// monotonicToTime converts a CLOCK_MONOTONIC time to a wall deadline.
func monotonicToTime(ns int64) time.Time {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return time.Now().Add(time.Duration(ns - ts.Nano()))
}

// ClockGettime implements Linux syscall clock_gettime(2).
func ClockGettime(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	ns, err := clockNow(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	ts := linux.NsecToTimespec(ns)
	return 0, copyOutObj(t, a[1], &ts)
}

// ClockGetres implements Linux syscall clock_getres(2).
func ClockGetres(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	if _, err := clockNow(t, a.Int(0)); err != nil {
		return 0, err
	}
	if a[1] == 0 {
		return 0, nil
	}
	ts := linux.Timespec{Nsec: 1}
	return 0, copyOutObj(t, a[1], &ts)
}

// ClockSettime implements Linux syscalls clock_settime(2) and settimeofday(2).
func ClockSettime(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	return 0, unix.EPERM
}

// Gettimeofday implements Linux syscall gettimeofday(2).
func Gettimeofday(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	if a[0] != 0 {
		tv := linux.NsecToTimeval(time.Now().UnixNano())
		if err := copyOutObj(t, a[0], &tv); err != nil {
			return 0, err
		}
	}
	if a[1] != 0 {
		var tz [8]byte
		if _, err := t.CopyOut(a[1], tz[:]); err != nil {
			return 0, unix.EFAULT
		}
	}
	return 0, nil
}

// Time implements Linux syscall time(2).
func Time(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	now := time.Now().Unix()
	if a[0] != 0 {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(now))
		if _, err := t.CopyOut(a[0], b[:]); err != nil {
			return 0, unix.EFAULT
		}
	}
	return uintptr(now), nil
}

// sleepFor sleeps d and writes the remaining time to remAddr if interrupted.
func sleepFor(t *kernel.Task, d time.Duration, remAddr uintptr) error {
	left, err := t.Sleep(d)
	if err == nil {
		return nil
	}
	if remAddr != 0 {
		ts := linux.NsecToTimespec(int64(left))
		if err := copyOutObj(t, remAddr, &ts); err != nil {
			return err
		}
	}
	// A handler makes it EINTR; a stop/continue restarts it with the
	// original duration (the remaining time is what the app sees via rem).
	return kernel.ERESTARTNOHAND
}

// Nanosleep implements Linux syscall nanosleep(2).
func Nanosleep(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	var ts linux.Timespec
	if err := copyInObj(t, a[0], &ts); err != nil {
		return 0, err
	}
	if !ts.Valid() {
		return 0, unix.EINVAL
	}
	return 0, sleepFor(t, time.Duration(ts.ToNsec()), a[1])
}

// ClockNanosleep implements Linux syscall clock_nanosleep(2).
func ClockNanosleep(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	clock, flags := a.Int(0), a.Int(1)
	var ts linux.Timespec
	if err := copyInObj(t, a[2], &ts); err != nil {
		return 0, err
	}
	if !ts.Valid() {
		return 0, unix.EINVAL
	}
	switch clock {
	case linux.CLOCK_REALTIME, linux.CLOCK_MONOTONIC, linux.CLOCK_BOOTTIME, clockTAI:
	case linux.CLOCK_PROCESS_CPUTIME_ID:
	case linux.CLOCK_THREAD_CPUTIME_ID:
		return 0, unix.EINVAL
	default:
		return 0, unix.EINVAL
	}
	d := time.Duration(ts.ToNsec())
	if flags&linux.TIMER_ABSTIME != 0 {
		now, err := clockNow(t, clock)
		if err != nil {
			return 0, err
		}
		d = time.Duration(ts.ToNsec() - now)
		if d <= 0 {
			return 0, nil
		}
		if _, err := t.Sleep(d); err != nil {
			return 0, kernel.ERESTARTNOHAND
		}
		return 0, nil
	}
	return 0, sleepFor(t, d, a[3])
}

// Alarm implements Linux syscall alarm(2).
func Alarm(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	old, _ := t.Itimer(linux.ITIMER_REAL, &kernel.ItimerVal{Value: time.Duration(a.Uint(0)) * time.Second})
	secs := (old.Value + time.Second/2) / time.Second
	if old.Value > 0 && secs == 0 {
		secs = 1
	}
	return uintptr(secs), nil
}

func itimerFromLinux(v *linux.ItimerVal) kernel.ItimerVal {
	return kernel.ItimerVal{
		Value:    time.Duration(v.Value.ToNsecCapped()),
		Interval: time.Duration(v.Interval.ToNsecCapped()),
	}
}

func itimerToLinux(v kernel.ItimerVal) linux.ItimerVal {
	return linux.ItimerVal{
		Value:    linux.DurationToTimeval(v.Value),
		Interval: linux.DurationToTimeval(v.Interval),
	}
}

// Setitimer implements Linux syscall setitimer(2).
func Setitimer(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	var nv linux.ItimerVal
	if a[1] != 0 {
		if err := copyInObj(t, a[1], &nv); err != nil {
			return 0, err
		}
	}
	kv := itimerFromLinux(&nv)
	old, err := t.Itimer(int(a.Int(0)), &kv)
	if err != nil {
		return 0, err
	}
	if a[2] != 0 {
		ov := itimerToLinux(old)
		return 0, copyOutObj(t, a[2], &ov)
	}
	return 0, nil
}

// Getitimer implements Linux syscall getitimer(2).
func Getitimer(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	old, err := t.Itimer(int(a.Int(0)), nil)
	if err != nil {
		return 0, err
	}
	ov := itimerToLinux(old)
	return 0, copyOutObj(t, a[1], &ov)
}

// Times implements Linux syscall times(2).
func Times(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	u, s, cu, cs := processTimes(t)
	toTicks := func(ns int64) int64 { return ns / (int64(time.Second) / linux.CLOCKS_PER_SEC) }
	if a[0] != 0 {
		tms := linux.Tms{
			UTime:  linux.ClockT(toTicks(u)),
			STime:  linux.ClockT(toTicks(s)),
			CUTime: linux.ClockT(toTicks(cu)),
			CSTime: linux.ClockT(toTicks(cs)),
		}
		if err := copyOutObj(t, a[0], &tms); err != nil {
			return 0, err
		}
	}
	return uintptr(toTicks(int64(time.Since(t.Kernel().BootTime())))), nil
}

// processTimes sums the CPU time of t's process and its reaped children.
func processTimes(t *kernel.Task) (user, sys, cuser, csys int64) {
	for _, o := range t.ThreadGroup().Tasks() {
		u, s := o.CPUTime()
		user += u
		sys += s
	}
	cuser, csys = t.ThreadGroup().ChildTimes()
	return
}

func rusageFrom(userNS, sysNS int64) linux.Rusage {
	return linux.Rusage{
		UTime: linux.NsecToTimeval(userNS),
		STime: linux.NsecToTimeval(sysNS),
	}
}
