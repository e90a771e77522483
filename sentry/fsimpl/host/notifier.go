package host

import (
	"sync"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

// notifier watches host fds with one epoll instance (edge-triggered) and
// Notifies the waiter queue of a file when its fd becomes ready. The waiting
// goroutine starts with the first fd.
type notifier struct {
	mu     sync.Mutex
	epfd   int                     // -1 until started
	queues map[int32]*waiter.Queue // guarded by mu
}

var notify = &notifier{epfd: -1, queues: map[int32]*waiter.Queue{}}

// add watches fd for q. It reports false if epoll cannot watch fd (regular
// files, some devices): such a file is always ready.
func (n *notifier) add(fd int, q *waiter.Queue) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.epfd < 0 {
		epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			return false
		}
		n.epfd = epfd
		go n.run(epfd)
	}
	ev := unix.EpollEvent{
		Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLPRI | unix.EPOLLET,
		Fd:     int32(fd),
	}
	if err := unix.EpollCtl(n.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return false
	}
	n.queues[int32(fd)] = q
	return true
}

// remove stops watching fd (before it is closed).
func (n *notifier) remove(fd int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.queues, int32(fd))
	unix.EpollCtl(n.epfd, unix.EPOLL_CTL_DEL, fd, nil)
}

// run waits for events forever.
func (n *notifier) run(epfd int) {
	events := make([]unix.EpollEvent, 64)
	for {
		k, err := unix.EpollWait(epfd, events, -1)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return
		}
		for _, ev := range events[:k] {
			n.mu.Lock()
			q := n.queues[ev.Fd]
			n.mu.Unlock()
			if q == nil {
				continue
			}
			// epoll's bits are poll's, which are waiter's.
			m := waiter.EventMask(ev.Events & 0xffff)
			if m&waiter.EventIn != 0 {
				m |= waiter.EventRdNorm
			}
			if m&waiter.EventOut != 0 {
				m |= waiter.WritableEvents
			}
			if m&(waiter.EventHUp|waiter.EventErr|waiter.EventRdHUp) != 0 {
				// Readers and writers must wake to see EOF or the error.
				m |= waiter.ReadableEvents | waiter.WritableEvents
			}
			q.Notify(m)
		}
	}
}
