package anon

import (
	"encoding/binary"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/vfs"
	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

// eventFD is an eventfd(2) counter.
type eventFD struct {
	vfs.FileDefaults
	queue waiter.Queue

	mu        sync.Mutex
	val       uint64
	semaphore bool
}

// NewEventFD returns an eventfd with initial value initVal; flags are
// open(2) flags (O_NONBLOCK, O_CLOEXEC handled by the caller).
func NewEventFD(v *vfs.VirtualFilesystem, initVal uint64, semaphore bool, flags uint32) *vfs.FileDescription {
	e := &eventFD{val: initVal, semaphore: semaphore}
	return newFile(v, "eventfd", e, unix.O_RDWR|flags)
}

func (e *eventFD) IsStream() bool { return true }

func (e *eventFD) Read(ctx vfs.Context, dst [][]byte, off int64) (int64, error) {
	if total(dst) < 8 {
		return 0, unix.EINVAL
	}
	e.mu.Lock()
	if e.val == 0 {
		e.mu.Unlock()
		return 0, unix.EAGAIN
	}
	v := e.val
	if e.semaphore {
		v = 1
	}
	e.val -= v
	e.mu.Unlock()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	scatter(dst, b[:])
	e.queue.Notify(waiter.WritableEvents)
	return 8, nil
}

func (e *eventFD) Write(ctx vfs.Context, src [][]byte, off int64, appendMode bool) (int64, int64, error) {
	if total(src) < 8 {
		return 0, 0, unix.EINVAL
	}
	var b [8]byte
	gather(b[:], src)
	v := binary.LittleEndian.Uint64(b[:])
	if v == ^uint64(0) {
		return 0, 0, unix.EINVAL
	}
	e.mu.Lock()
	if ^uint64(0)-1-e.val < v {
		e.mu.Unlock()
		return 0, 0, unix.EAGAIN
	}
	e.val += v
	e.mu.Unlock()
	e.queue.Notify(waiter.ReadableEvents)
	return 8, 0, nil
}

func (e *eventFD) Seek(ctx vfs.Context, off int64, whence int, cur int64) (int64, error) {
	return 0, unix.ESPIPE
}

func (e *eventFD) Readiness(mask waiter.EventMask) waiter.EventMask {
	e.mu.Lock()
	defer e.mu.Unlock()
	var r waiter.EventMask
	if e.val > 0 {
		r |= waiter.ReadableEvents
	}
	if e.val < ^uint64(0)-1 {
		r |= waiter.WritableEvents
	}
	return r & mask
}

func (e *eventFD) EventRegister(w *waiter.Entry, mask waiter.EventMask) {
	e.queue.EventRegister(w, mask)
}
func (e *eventFD) EventUnregister(w *waiter.Entry) { e.queue.EventUnregister(w) }

// FDInfo is what /proc/self/fdinfo shows.
func (e *eventFD) FDInfo() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return fmt.Sprintf("eventfd-count: %x\n", e.val)
}

func total(bs [][]byte) int {
	n := 0
	for _, b := range bs {
		n += len(b)
	}
	return n
}

func scatter(dst [][]byte, src []byte) {
	for _, d := range dst {
		n := copy(d, src)
		src = src[n:]
		if len(src) == 0 {
			return
		}
	}
}

func gather(dst []byte, src [][]byte) {
	for _, s := range src {
		n := copy(dst, s)
		dst = dst[n:]
		if len(dst) == 0 {
			return
		}
	}
}
