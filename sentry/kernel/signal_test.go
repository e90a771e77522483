package kernel

import (
	"testing"

	"gvisor.dev/gvisor/pkg/abi/linux"
)

func info(sig linux.Signal) *linux.SignalInfo { return &linux.SignalInfo{Signo: int32(sig)} }

func TestSigQueueStandardSignalsCoalesce(t *testing.T) {
	var q sigQueue
	if !q.enqueue(info(linux.SIGUSR1)) {
		t.Fatal("first SIGUSR1 not queued")
	}
	if q.enqueue(info(linux.SIGUSR1)) {
		t.Fatal("second SIGUSR1 queued: standard signals must coalesce")
	}
	if got := q.dequeue(0); got == nil || got.Signo != int32(linux.SIGUSR1) {
		t.Fatalf("dequeue = %v", got)
	}
	if got := q.dequeue(0); got != nil {
		t.Fatalf("dequeue after drain = %v", got)
	}
}

func TestSigQueueRealtimeQueuesAndOrder(t *testing.T) {
	var q sigQueue
	rt := linux.Signal(40)
	q.enqueue(info(rt))
	q.enqueue(info(rt))
	q.enqueue(info(linux.SIGTERM))
	// Masked signals stay pending.
	if got := q.dequeue(linux.SignalSetOf(linux.SIGTERM)); got == nil || got.Signo != int32(rt) {
		t.Fatalf("dequeue with SIGTERM masked = %v, want signal %d", got, rt)
	}
	if got := q.dequeue(0); got.Signo != int32(linux.SIGTERM) {
		t.Fatalf("lowest signal first: got %d", got.Signo)
	}
	if got := q.dequeue(0); got == nil || got.Signo != int32(rt) {
		t.Fatalf("second real-time instance lost: %v", got)
	}
	if q.set != 0 {
		t.Fatalf("pending set %#x after draining", q.set)
	}
}

func TestSigQueueDiscard(t *testing.T) {
	var q sigQueue
	q.enqueue(info(linux.SIGSTOP))
	q.enqueue(info(linux.SIGTSTP))
	q.enqueue(info(linux.SIGINT))
	q.discard(linux.MakeSignalSet(linux.SIGSTOP, linux.SIGTSTP))
	if got := q.dequeue(0); got.Signo != int32(linux.SIGINT) {
		t.Fatalf("got %d, want SIGINT only", got.Signo)
	}
	if q.dequeue(0) != nil {
		t.Fatal("discarded signals still pending")
	}
}

func TestWaitStatus(t *testing.T) {
	s := exitedWith(3)
	if !s.Exited() || s.ExitCode() != 3 || s.ShellStatus() != 3 || uint32(s) != 0x300 {
		t.Fatalf("exit(3) status %#x", uint32(s))
	}
	k := killedBy(linux.SIGKILL, false)
	if k.Exited() || !k.Signaled() || k.Signal() != linux.SIGKILL || k.ShellStatus() != 137 {
		t.Fatalf("SIGKILL status %#x", uint32(k))
	}
	if c := killedBy(linux.SIGSEGV, true); uint32(c) != 0x8b {
		t.Fatalf("core status %#x, want 0x8b", uint32(c))
	}
}

func TestDefaultActions(t *testing.T) {
	cases := map[linux.Signal]defaultAction{
		linux.SIGTERM: actTerm, linux.SIGSEGV: actCore, linux.SIGCHLD: actIgnore,
		linux.SIGTSTP: actStop, linux.SIGCONT: actCont, linux.SIGWINCH: actIgnore,
		linux.Signal(35): actTerm,
	}
	for sig, want := range cases {
		if got := defaultActionOf(sig); got != want {
			t.Errorf("default action of %d = %d, want %d", sig, got, want)
		}
	}
	var h SignalHandlers
	if !h.ignored(linux.SIGCHLD) || h.ignored(linux.SIGTERM) {
		t.Fatal("SIG_DFL ignore rules wrong")
	}
	h.actions[linux.SIGTERM].Handler = linux.SIG_IGN
	h.actions[linux.SIGUSR1].Handler = 0x1234
	h.resetForExec()
	if h.actions[linux.SIGTERM].Handler != linux.SIG_IGN || h.actions[linux.SIGUSR1].Handler != linux.SIG_DFL {
		t.Fatal("exec must keep ignored signals and reset caught ones")
	}
}
