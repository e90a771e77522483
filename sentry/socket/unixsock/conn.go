package unixsock

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/socket"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

// Listen implements socket.Socket.
func (s *sock) Listen(ctx vfs.Context, backlog int) error {
	if !s.connOriented() {
		return unix.EOPNOTSUPP
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.addr == "" || s.state == stateConnected {
		return unix.EINVAL
	}
	if backlog < 0 || backlog > maxBacklog {
		backlog = maxBacklog
	}
	s.backlog = backlog
	if s.state != stateListening {
		s.state = stateListening
		// SO_PEERCRED of the clients reports whoever called listen.
		s.peerCred, s.hasPeerCred = socket.CallerCreds(ctx), true
	}
	// A larger backlog may admit waiting connectors.
	s.peerWait.Notify(waiter.WritableEvents)
	return nil
}

// deadline returns the deadline for an operation under timeout d (zero:
// none).
func deadline(d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return time.Now().Add(d)
}

// waitErr maps a Blocker error as Linux's sock_intr_errno and timeouts do:
// a timeout is EAGAIN; a signal is EINTR when a timeout was set (such
// calls are not restarted), ERESTARTSYS otherwise.
func waitErr(err error, timeout time.Duration) error {
	switch err {
	case unix.ETIMEDOUT:
		return unix.EAGAIN
	case socket.ERESTARTSYS:
		if timeout > 0 {
			return unix.EINTR
		}
	}
	return err
}

// Accept implements socket.Socket.
func (s *sock) Accept(ctx vfs.Context, b socket.Blocker, flags uint32) (*vfs.FileDescription, []byte, error) {
	if !s.connOriented() {
		return nil, nil, unix.EOPNOTSUPP
	}
	var dl time.Time
	for {
		s.mu.Lock()
		if s.state != stateListening {
			s.mu.Unlock()
			return nil, nil, unix.EINVAL
		}
		if len(s.acceptq) > 0 {
			n := s.acceptq[0]
			s.acceptq[0] = nil
			s.acceptq = s.acceptq[1:]
			passCred := s.passCred
			s.peerWait.Notify(waiter.WritableEvents)
			s.mu.Unlock()
			n.mu.Lock()
			n.passCred = passCred
			peer := n.peer
			n.mu.Unlock()
			var peerAddr string
			if peer != nil {
				peerAddr = peer.name()
			}
			return n.newFile(ctx, flags), encodeAddr(peerAddr), nil
		}
		if s.shut&rcvShutdown != 0 {
			// shutdown(2) of a listener wakes accept with EINVAL.
			s.mu.Unlock()
			return nil, nil, unix.EINVAL
		}
		timeo := s.RecvTimeout()
		s.mu.Unlock()
		if b == nil {
			return nil, nil, unix.EAGAIN
		}
		if dl.IsZero() {
			dl = deadline(timeo)
		}
		if err := b.BlockOn(s, waiter.ReadableEvents, dl); err != nil {
			return nil, nil, waitErr(err, timeo)
		}
	}
}

// name returns s's bound name.
func (s *sock) name() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Connect implements socket.Socket.
func (s *sock) Connect(ctx vfs.Context, b socket.Blocker, addr []byte) error {
	if len(addr) >= 2 && uint16(addr[0])|uint16(addr[1])<<8 == unix.AF_UNSPEC && s.stype == unix.SOCK_DGRAM {
		// Dissolve the datagram association.
		s.mu.Lock()
		s.peer = nil
		s.mu.Unlock()
		return nil
	}
	if len(addr) <= 2 {
		return unix.EINVAL
	}
	t, err := s.lookupAddr(ctx, addr)
	if err != nil {
		return err
	}
	if err := s.autobindIfNeeded(); err != nil {
		return err
	}
	if s.stype == unix.SOCK_DGRAM {
		lockTwo(s, t)
		defer unlockTwo(s, t)
		if t.closed {
			return unix.ECONNREFUSED
		}
		if t != s && t.peer != nil && t.peer != s {
			return unix.EPERM
		}
		s.peer = t
		s.wq.Notify(waiter.WritableEvents)
		return nil
	}
	if t == s {
		return unix.ECONNREFUSED
	}
	var dl time.Time
	for {
		lockTwo(s, t)
		switch {
		case s.state == stateConnected:
			unlockTwo(s, t)
			return unix.EISCONN
		case s.state == stateListening:
			unlockTwo(s, t)
			return unix.EINVAL
		case t.closed || t.state != stateListening || t.shut&rcvShutdown != 0:
			unlockTwo(s, t)
			return unix.ECONNREFUSED
		case len(t.acceptq) > t.backlog:
			timeo := s.SendTimeout()
			unlockTwo(s, t)
			if b == nil {
				return unix.EAGAIN
			}
			if dl.IsZero() {
				dl = deadline(timeo)
			}
			w := &cond{queues: []*waiter.Queue{&t.peerWait}, ready: func() bool {
				t.mu.Lock()
				defer t.mu.Unlock()
				return t.closed || t.state != stateListening || len(t.acceptq) <= t.backlog
			}}
			if err := b.BlockOn(w, waiter.WritableEvents, dl); err != nil {
				return waitErr(err, timeo)
			}
			continue
		}
		n := newSock(s.v, s.stype)
		n.state = stateConnected
		n.peer = s
		n.addr = t.addr
		n.peerCred, n.hasPeerCred = socket.CallerCreds(ctx), true
		s.peer = n
		s.state = stateConnected
		s.peerCred, s.hasPeerCred = t.peerCred, t.hasPeerCred
		t.acceptq = append(t.acceptq, n)
		t.wq.Notify(waiter.ReadableEvents)
		s.wq.Notify(waiter.WritableEvents)
		unlockTwo(s, t)
		return nil
	}
}

// Shutdown implements socket.Socket.
func (s *sock) Shutdown(ctx vfs.Context, how int) error {
	var mine, theirs int
	switch how {
	case unix.SHUT_RD:
		mine, theirs = rcvShutdown, sendShutdown
	case unix.SHUT_WR:
		mine, theirs = sendShutdown, rcvShutdown
	case unix.SHUT_RDWR:
		mine, theirs = shutdownMask, shutdownMask
	default:
		return unix.EINVAL
	}
	s.mu.Lock()
	s.shut |= mine
	peer := s.peer
	connected := s.state == stateConnected
	s.wq.Notify(waiter.ReadableEvents | waiter.WritableEvents | waiter.EventHUp | waiter.EventRdHUp)
	s.mu.Unlock()
	if peer != nil && connected && s.connOriented() {
		peer.mu.Lock()
		peer.shut |= theirs
		peer.wq.Notify(waiter.ReadableEvents | waiter.WritableEvents | waiter.EventHUp | waiter.EventRdHUp)
		peer.mu.Unlock()
	}
	return nil
}

// SockName implements socket.Socket.
func (s *sock) SockName(ctx vfs.Context) ([]byte, error) {
	return encodeAddr(s.name()), nil
}

// PeerName implements socket.Socket.
func (s *sock) PeerName(ctx vfs.Context) ([]byte, error) {
	s.mu.Lock()
	peer := s.peer
	ok := peer != nil && (s.state == stateConnected || s.stype == unix.SOCK_DGRAM)
	s.mu.Unlock()
	if !ok {
		return nil, unix.ENOTCONN
	}
	return encodeAddr(peer.name()), nil
}

// cond is a Waitable over some queues with a readiness predicate.
type cond struct {
	queues []*waiter.Queue
	ready  func() bool
}

func (c *cond) Readiness(mask waiter.EventMask) waiter.EventMask {
	if c.ready() {
		return mask
	}
	return 0
}

func (c *cond) EventRegister(e *waiter.Entry, mask waiter.EventMask) {
	for _, q := range c.queues {
		q.EventRegister(e, mask)
	}
}

func (c *cond) EventUnregister(e *waiter.Entry) {
	for _, q := range c.queues {
		q.EventUnregister(e)
	}
}
