package kernel

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// SetPdeathSignal sets PR_SET_PDEATHSIG; PdeathSignal reads it.
func (tg *ThreadGroup) SetPdeathSignal(sig linux.Signal) {
	tg.k.mu.Lock()
	tg.pdeathSignal = sig
	tg.k.mu.Unlock()
}

func (tg *ThreadGroup) PdeathSignal() linux.Signal {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return tg.pdeathSignal
}

// SetDumpable sets PR_SET_DUMPABLE; Dumpable reads it.
func (tg *ThreadGroup) SetDumpable(d bool) {
	tg.k.mu.Lock()
	tg.dumpable = d
	tg.k.mu.Unlock()
}

func (tg *ThreadGroup) Dumpable() bool {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return tg.dumpable
}

// SetSubreaper sets PR_SET_CHILD_SUBREAPER; Subreaper reads it.
func (tg *ThreadGroup) SetSubreaper(s bool) {
	tg.k.mu.Lock()
	tg.subreaper = s
	tg.k.mu.Unlock()
}

func (tg *ThreadGroup) Subreaper() bool {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return tg.subreaper
}

// ExitStatus returns the process's exit status (valid once it is a zombie).
func (tg *ThreadGroup) ExitStatus() (WaitStatus, bool) {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return tg.exitStatus, tg.zombie
}

// Unshare implements unshare(2) for CLONE_FILES and CLONE_FS.
func (t *Task) Unshare(flags uint64) error {
	t.mmu.Lock()
	defer t.mmu.Unlock()
	if flags&linux.CLONE_FILES != 0 {
		old := t.fdTable
		t.fdTable = old.Fork()
		old.DecRef()
	}
	if flags&linux.CLONE_FS != 0 {
		old := t.fsc
		t.fsc = old.Fork()
		old.DecRef()
	}
	if flags&^(linux.CLONE_FILES|linux.CLONE_FS|linux.CLONE_SYSVSEM) != 0 {
		return unix.EPERM
	}
	return nil
}
