// Package waiter lets blocking operations wait for readiness events of an
// object (a pipe, a socket, an eventfd, a process exit). An object embeds a
// Queue; a blocking caller registers an Entry with the event mask it wants,
// re-checks readiness (to close the race with the event), and waits on the
// Entry's channel. Notify wakes every entry whose mask intersects the events.
//
// Locking: Queue.mu guards the entry list and is a leaf lock; Notify sends on
// buffered channels without blocking, so it may be called with the notifying
// object's own locks held.
package waiter

import "sync"

// EventMask is a set of poll events (same bits as Linux's POLL* / EPOLL*).
type EventMask uint64

// Events, with Linux's values.
const (
	EventIn     EventMask = 0x1
	EventPri    EventMask = 0x2
	EventOut    EventMask = 0x4
	EventErr    EventMask = 0x8
	EventHUp    EventMask = 0x10
	EventRdNorm EventMask = 0x40
	EventRdHUp  EventMask = 0x2000
	// EventInternal is never seen by applications (process exit, futex).
	EventInternal EventMask = 1 << 40

	ReadableEvents = EventIn | EventRdNorm
	WritableEvents = EventOut | 0x100 // EventOut | POLLWRNORM
	// AllEvents is what an entry registers to hear everything.
	AllEvents = EventMask(^uint64(0))
)

// Entry is one waiter.
type Entry struct {
	// C receives a value when an event of interest happens. It has room
	// for one notification; a full channel means one is pending already.
	C chan struct{}
	// Callback, if set, is called by Notify (under the queue lock) instead
	// of signalling C. It must not block.
	Callback func(EventMask)

	mask EventMask
}

// NewEntry returns an entry with a fresh channel.
func NewEntry() *Entry { return &Entry{C: make(chan struct{}, 1)} }

// Queue is the set of waiters of one object.
type Queue struct {
	mu      sync.Mutex
	entries map[*Entry]struct{}
}

// EventRegister adds e to the queue for the events in mask.
func (q *Queue) EventRegister(e *Entry, mask EventMask) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.entries == nil {
		q.entries = make(map[*Entry]struct{})
	}
	e.mask = mask
	q.entries[e] = struct{}{}
}

// EventUnregister removes e.
func (q *Queue) EventUnregister(e *Entry) {
	q.mu.Lock()
	delete(q.entries, e)
	q.mu.Unlock()
}

// Notify wakes the waiters interested in any of events.
func (q *Queue) Notify(events EventMask) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for e := range q.entries {
		if e.mask&events == 0 {
			continue
		}
		if e.Callback != nil {
			e.Callback(events & e.mask)
			continue
		}
		select {
		case e.C <- struct{}{}:
		default:
		}
	}
}

// Empty reports whether nobody waits.
func (q *Queue) Empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.entries) == 0
}

// Waitable is an object whose readiness can be polled and waited for.
type Waitable interface {
	// Readiness returns which of the events in mask are ready now.
	Readiness(mask EventMask) EventMask
	EventRegister(e *Entry, mask EventMask)
	EventUnregister(e *Entry)
}
