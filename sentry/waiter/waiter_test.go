package waiter

import "testing"

func TestNotifyMatchesMask(t *testing.T) {
	var q Queue
	in, out := NewEntry(), NewEntry()
	q.EventRegister(in, EventIn)
	q.EventRegister(out, EventOut)
	q.Notify(EventIn | EventHUp)
	select {
	case <-in.C:
	default:
		t.Fatal("reader not woken")
	}
	select {
	case <-out.C:
		t.Fatal("writer woken for a read event")
	default:
	}
	// Notifications do not block when nobody drains.
	q.Notify(EventIn)
	q.Notify(EventIn)
	q.EventUnregister(in)
	q.EventUnregister(out)
	if !q.Empty() {
		t.Fatal("queue not empty after unregistering")
	}
}

func TestCallback(t *testing.T) {
	var q Queue
	var got EventMask
	e := &Entry{Callback: func(m EventMask) { got |= m }}
	q.EventRegister(e, EventIn|EventErr)
	q.Notify(EventErr | EventOut)
	if got != EventErr {
		t.Fatalf("callback saw %#x, want only the registered events", got)
	}
}
