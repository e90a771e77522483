package anon

import (
	"sync"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/vfs"
	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

// EpollInstance is an epoll(7) instance. Every watched file gets a waiter
// entry whose callback marks the interest ready and wakes epoll_wait; the
// wait then asks each marked file for its readiness (level-triggered
// interests stay marked while ready).
//
// Lock order: a watched file's waiter-queue lock (held while its callbacks
// run) before EpollInstance.mu before EpollInstance.queue's lock.
type EpollInstance struct {
	vfs.FileDefaults
	queue waiter.Queue

	mu        sync.Mutex
	interests map[interestKey]*interest
	// ready holds the interests marked by their callbacks, in order.
	ready []*interest
}

type interestKey struct {
	file *vfs.FileDescription
	fd   int32
}

type interest struct {
	ep      *EpollInstance
	key     interestKey
	events  uint32 // EPOLL* mask as given, with flags
	data    uint64
	entry   *waiter.Entry
	queued  bool
	enabled bool // false after an EPOLLONESHOT event
}

// NewEpoll returns an epoll instance file.
func NewEpoll(v *vfs.VirtualFilesystem, flags uint32) *vfs.FileDescription {
	ep := &EpollInstance{interests: map[interestKey]*interest{}}
	return newFile(v, "eventpoll", ep, unix.O_RDWR|flags)
}

func (ep *EpollInstance) IsStream() bool { return true }

func (ep *EpollInstance) Read(ctx vfs.Context, dst [][]byte, off int64) (int64, error) {
	return 0, unix.EINVAL
}

func (ep *EpollInstance) Write(ctx vfs.Context, src [][]byte, off int64, a bool) (int64, int64, error) {
	return 0, 0, unix.EINVAL
}

func (ep *EpollInstance) Seek(ctx vfs.Context, off int64, whence int, cur int64) (int64, error) {
	return 0, unix.ESPIPE
}

// Readiness reports EPOLLIN when some interest is ready.
func (ep *EpollInstance) Readiness(mask waiter.EventMask) waiter.EventMask {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	for _, in := range ep.ready {
		if in.enabled && in.key.file.Readiness(waiter.EventMask(in.events)&eventMaskAll) != 0 {
			return waiter.ReadableEvents & mask
		}
	}
	return 0
}

func (ep *EpollInstance) EventRegister(w *waiter.Entry, mask waiter.EventMask) {
	ep.queue.EventRegister(w, mask)
}
func (ep *EpollInstance) EventUnregister(w *waiter.Entry) { ep.queue.EventUnregister(w) }

// Release drops every interest.
func (ep *EpollInstance) Release(ctx vfs.Context) {
	ep.mu.Lock()
	ins := ep.interests
	ep.interests = map[interestKey]*interest{}
	ep.ready = nil
	ep.mu.Unlock()
	for _, in := range ins {
		in.key.file.EventUnregister(in.entry)
		in.key.file.DecRef(ctx)
	}
}

// eventMaskAll is every readiness event epoll passes to files.
const eventMaskAll = waiter.EventMask(linux.EPOLLIN | linux.EPOLLOUT | linux.EPOLLPRI | linux.EPOLLERR |
	linux.EPOLLHUP | linux.EPOLLRDNORM | linux.EPOLLRDBAND | linux.EPOLLWRNORM | linux.EPOLLWRBAND | linux.EPOLLRDHUP)

func (in *interest) callback(ev waiter.EventMask) {
	ep := in.ep
	ep.mu.Lock()
	if !in.queued {
		in.queued = true
		ep.ready = append(ep.ready, in)
	}
	ep.mu.Unlock()
	ep.queue.Notify(waiter.ReadableEvents)
}

// Ctl implements epoll_ctl(2) for file (whose fd number is fd).
func (ep *EpollInstance) Ctl(ctx vfs.Context, op int, file *vfs.FileDescription, fd int32, events uint32, data uint64) error {
	if _, ok := file.Impl().(*EpollInstance); ok && file.Impl() == ep {
		return unix.EINVAL
	}
	key := interestKey{file, fd}
	ep.mu.Lock()
	in, exists := ep.interests[key]
	switch op {
	case linux.EPOLL_CTL_ADD:
		if exists {
			ep.mu.Unlock()
			return unix.EEXIST
		}
		in = &interest{ep: ep, key: key, events: events | linux.EPOLLERR | linux.EPOLLHUP, data: data, enabled: true}
		in.entry = &waiter.Entry{Callback: in.callback}
		ep.interests[key] = in
		file.IncRef()
		// Mark it so the first wait looks at its current readiness.
		in.queued = true
		ep.ready = append(ep.ready, in)
		ep.mu.Unlock()
		file.EventRegister(in.entry, waiter.EventMask(in.events)&eventMaskAll)
	case linux.EPOLL_CTL_MOD:
		if !exists {
			ep.mu.Unlock()
			return unix.ENOENT
		}
		in.events = events | linux.EPOLLERR | linux.EPOLLHUP
		in.data = data
		in.enabled = true
		if !in.queued {
			in.queued = true
			ep.ready = append(ep.ready, in)
		}
		ep.mu.Unlock()
		file.EventUnregister(in.entry)
		file.EventRegister(in.entry, waiter.EventMask(in.events)&eventMaskAll)
	case linux.EPOLL_CTL_DEL:
		if !exists {
			ep.mu.Unlock()
			return unix.ENOENT
		}
		delete(ep.interests, key)
		in.enabled = false
		ep.mu.Unlock()
		file.EventUnregister(in.entry)
		file.DecRef(ctx)
	default:
		ep.mu.Unlock()
		return unix.EINVAL
	}
	ep.queue.Notify(waiter.ReadableEvents)
	return nil
}

// Event is one epoll_wait result.
type Event struct {
	Events uint32
	Data   uint64
}

// ReadEvents collects up to max ready events without blocking.
func (ep *EpollInstance) ReadEvents(max int) []Event {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	var out []Event
	var keep []*interest
	i := 0
	for ; i < len(ep.ready) && len(out) < max; i++ {
		in := ep.ready[i]
		if !in.enabled {
			in.queued = false
			continue
		}
		if _, ok := ep.interests[in.key]; !ok {
			in.queued = false
			continue
		}
		r := in.key.file.Readiness(waiter.EventMask(in.events) & eventMaskAll)
		if r == 0 {
			in.queued = false
			continue
		}
		out = append(out, Event{Events: uint32(r), Data: in.data})
		switch {
		case in.events&linux.EPOLLONESHOT != 0:
			in.enabled = false
			in.queued = false
		case in.events&linux.EPOLLET != 0:
			in.queued = false
		default:
			// Level-triggered: stays ready until a wait finds it is not.
			keep = append(keep, in)
		}
	}
	rest := append([]*interest(nil), ep.ready[i:]...)
	ep.ready = append(rest, keep...)
	return out
}
