package kernel

import (
	"encoding/binary"
	"errors"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/arch"
)

// ErrRegistersSet is returned by a syscall handler that has set the task's
// registers itself (rt_sigreturn, execve): the dispatcher leaves rax alone.
var ErrRegistersSet = errors.New("registers set by the handler")

// Frame layout (amd64 rt_sigframe): pretcode, ucontext, siginfo.
const (
	ucFlagsOff    = 0
	ucLinkOff     = 8
	ucStackOff    = 16
	ucMcontextOff = 40
	ucSigmaskOff  = ucMcontextOff + sigcontextSize
	ucontextSize  = ucSigmaskOff + 8

	sigcontextSize = 256

	frameUContextOff = 8
	frameInfoOff     = frameUContextOff + ucontextSize
	frameSize        = frameInfoOff + 128

	// redZone is the part below the stack pointer a signal frame skips.
	redZone = 128
)

// sigcontext register order (struct sigcontext in asm/sigcontext.h).
func sigcontextRegs(r *arch.Registers) []*uint64 {
	return []*uint64{&r.R8, &r.R9, &r.R10, &r.R11, &r.R12, &r.R13, &r.R14, &r.R15,
		&r.Rdi, &r.Rsi, &r.Rbp, &r.Rbx, &r.Rdx, &r.Rax, &r.Rcx, &r.Rsp, &r.Rip, &r.Eflags}
}

// processSignals handles group exit, group stop and pending signals before
// the task returns to application code. It returns true if the task must
// exit now.
func (t *Task) processSignals() bool {
	k := t.k
	k.mu.Lock()
	for {
		tg := t.tg
		if tg.groupExiting || t.exiting || (tg.execing != nil && tg.execing != t) {
			k.mu.Unlock()
			return true
		}
		if tg.stopped {
			k.mu.Unlock()
			<-t.interrupt
			k.mu.Lock()
			continue
		}
		info := t.pending.dequeue(t.sigMask)
		if info == nil {
			info = tg.pending.dequeue(t.sigMask)
		}
		if info == nil {
			t.pendingFlag.Store(false)
			break
		}
		sig := linux.Signal(info.Signo)
		act := tg.handlers.actions[sig]
		switch act.Handler {
		case linux.SIG_IGN:
			continue
		case linux.SIG_DFL:
			switch defaultActionOf(sig) {
			case actIgnore, actCont:
				continue
			case actStop:
				k.groupStopLocked(tg, sig)
				continue
			case actTerm:
				k.groupExitLocked(tg, killedBy(sig, false))
				k.mu.Unlock()
				return true
			case actCore:
				k.groupExitLocked(tg, killedBy(sig, false)) // no core file is written, so no core flag
				k.mu.Unlock()
				return true
			}
		}
		// A handler: decide the restart of an interrupted call, build the
		// frame, and block the handler's mask.
		oldMask := t.sigMask
		if t.haveSaved {
			oldMask = t.savedMask
			t.haveSaved = false
		}
		if act.Flags&linux.SA_RESETHAND != 0 {
			tg.handlers.actions[sig].Handler = linux.SIG_DFL
		}
		newMask := t.sigMask | act.Mask
		if act.Flags&linux.SA_NODEFER == 0 {
			newMask |= linux.SignalSetOf(sig)
		}
		alt := t.altStack
		onAlt := t.onAltStackLocked(uintptr(t.regs.Rsp))
		k.mu.Unlock()

		if t.restart != 0 {
			switch {
			case t.restart == ERESTARTNOINTR,
				t.restart == ERESTARTSYS && act.Flags&linux.SA_RESTART != 0:
				t.rewindSyscall()
			default:
				t.regs.Rax = negErrno(unix.EINTR)
			}
			t.restart = 0
		}
		if err := t.setupFrame(info, &act, oldMask, alt, onAlt); err != nil {
			// The frame could not be written: the process dies of SIGSEGV.
			k.mu.Lock()
			k.groupExitLocked(tg, killedBy(linux.SIGSEGV, false))
			k.mu.Unlock()
			return true
		}
		k.mu.Lock()
		t.setMaskLocked(newMask)
		if act.Flags&linux.SA_ONSTACK != 0 && alt.Flags&ssAutoDisarm != 0 && !onAlt {
			t.altStack = linux.SignalStack{Flags: linux.SS_DISABLE}
		}
		// Deliver at most one handler per pass; the loop comes back.
		t.pendingFlag.Store(true)
		break
	}
	k.mu.Unlock()
	if t.restart != 0 {
		// No handler ran: the interrupted call restarts.
		t.rewindSyscall()
		t.restart = 0
	}
	return false
}

// rewindSyscall makes the task execute its last syscall instruction again.
func (t *Task) rewindSyscall() {
	t.regs.Rip -= 2
	t.regs.Rax = t.regs.OrigRax
}

// setupFrame writes an rt_sigframe for info and points the registers at the
// handler.
func (t *Task) setupFrame(info *linux.SignalInfo, act *linux.SigAction, oldMask linux.SignalSet, alt linux.SignalStack, onAlt bool) error {
	sp := uintptr(t.regs.Rsp)
	if act.Flags&linux.SA_ONSTACK != 0 && alt.Flags&linux.SS_DISABLE == 0 && alt.Size != 0 && !onAlt {
		sp = uintptr(alt.Addr + alt.Size)
	} else {
		sp -= redZone
	}
	// FP state first, 64-byte aligned.
	fpSize := t.k.cfg.Platform.FPStateSize()
	fp := arch.NewFPState(fpSize)
	if err := t.ctx.FPState(t.mm.AddressSpace(), fp); err != nil {
		return err
	}
	sp -= uintptr(len(fp))
	sp &^= 63
	fpAddr := sp
	sp -= frameSize
	sp = (sp &^ 15) - 8
	frame := sp

	buf := make([]byte, frameSize)
	le := binary.LittleEndian
	le.PutUint64(buf[0:], act.Restorer)
	uc := buf[frameUContextOff:]
	le.PutUint64(uc[ucFlagsOff:], 0)
	le.PutUint64(uc[ucLinkOff:], 0)
	le.PutUint64(uc[ucStackOff:], alt.Addr)
	flags := alt.Flags
	if onAlt {
		flags |= linux.SS_ONSTACK
	}
	le.PutUint32(uc[ucStackOff+8:], flags)
	le.PutUint64(uc[ucStackOff+16:], alt.Size)
	mc := uc[ucMcontextOff:]
	for i, p := range sigcontextRegs(&t.regs) {
		le.PutUint64(mc[i*8:], *p)
	}
	le.PutUint16(mc[144:], uint16(t.regs.Cs))
	le.PutUint16(mc[146:], uint16(t.regs.Gs))
	le.PutUint16(mc[148:], uint16(t.regs.Fs))
	le.PutUint16(mc[150:], uint16(t.regs.Ss))
	le.PutUint64(mc[152:], t.faultErr)      // err
	le.PutUint64(mc[160:], t.faultTrapno)   // trapno
	le.PutUint64(mc[168:], uint64(oldMask)) // oldmask
	le.PutUint64(mc[176:], t.faultAddr)     // cr2
	le.PutUint64(mc[184:], uint64(fpAddr))  // fpstate
	le.PutUint64(uc[ucSigmaskOff:], uint64(oldMask))
	info.MarshalBytes(buf[frameInfoOff:])

	if _, err := t.CopyOut(fpAddr, fp); err != nil {
		return err
	}
	if _, err := t.CopyOut(frame, buf); err != nil {
		return err
	}
	t.regs.Rsp = uint64(frame)
	t.regs.Rip = act.Handler
	t.regs.Rdi = uint64(info.Signo)
	t.regs.Rsi = uint64(frame + frameInfoOff)
	t.regs.Rdx = uint64(frame + frameUContextOff)
	t.regs.Rax = 0
	t.regs.Eflags &^= arch.EflagsDF | arch.EflagsTF | arch.EflagsAC
	t.regs.Cs, t.regs.Ss = arch.UserCS, arch.UserDS
	t.faultErr, t.faultTrapno, t.faultAddr = 0, 0, 0
	return nil
}

// SigReturn implements rt_sigreturn: restore the context saved by setupFrame.
func (t *Task) SigReturn() error {
	ucAddr := uintptr(t.regs.Rsp) // the handler's ret popped pretcode
	uc := make([]byte, ucontextSize)
	if _, err := t.CopyIn(ucAddr, uc); err != nil {
		return t.sigreturnFailed()
	}
	le := binary.LittleEndian
	mc := uc[ucMcontextOff:]
	var r arch.Registers = t.regs
	for i, p := range sigcontextRegs(&r) {
		*p = le.Uint64(mc[i*8:])
	}
	r.Eflags = (t.regs.Eflags &^ arch.EflagsUserMask) | (r.Eflags & arch.EflagsUserMask)
	r.Cs, r.Ss = arch.UserCS, arch.UserDS
	r.OrigRax = ^uint64(0)
	fpAddr := uintptr(le.Uint64(mc[184:]))
	if fpAddr != 0 {
		fp := make(arch.FPState, t.k.cfg.Platform.FPStateSize())
		if _, err := t.CopyIn(fpAddr, fp); err != nil {
			return t.sigreturnFailed()
		}
		if err := t.ctx.SetFPState(t.mm.AddressSpace(), fp); err != nil {
			return t.sigreturnFailed()
		}
	}
	mask := linux.SignalSet(le.Uint64(uc[ucSigmaskOff:]))
	ss := linux.SignalStack{
		Addr:  le.Uint64(uc[ucStackOff:]),
		Flags: le.Uint32(uc[ucStackOff+8:]) &^ linux.SS_ONSTACK,
		Size:  le.Uint64(uc[ucStackOff+16:]),
	}
	t.regs = r
	t.SetSignalMask(mask)
	// restore_altstack: errors are ignored as Linux does.
	t.SigAltStack(&ss)
	return ErrRegistersSet
}

func (t *Task) sigreturnFailed() error {
	t.forceSignal(linux.SIGSEGV, linux.SI_KERNEL, 0)
	return ErrRegistersSet
}

// forceSignal delivers a synchronous signal that the task cannot block or
// ignore (a fault): blocked or ignored means the default action.
func (t *Task) forceSignal(sig linux.Signal, code int32, addr uint64) {
	info := &linux.SignalInfo{Signo: int32(sig), Code: code}
	info.SetAddr(addr)
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	h := &t.tg.handlers.actions[sig]
	set := linux.SignalSetOf(sig)
	if t.sigMask&set != 0 || h.Handler == linux.SIG_IGN {
		h.Handler = linux.SIG_DFL
		t.sigMask &^= set
	}
	t.pending.enqueue(info)
	t.pendingFlag.Store(true)
}
