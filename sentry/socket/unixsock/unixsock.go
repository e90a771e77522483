// Package unixsock implements AF_UNIX sockets inside the sentry: SOCK_STREAM,
// SOCK_DGRAM and SOCK_SEQPACKET; socketpair; names in the filesystem (a
// socket file made through vfs, whose vfs.SocketInode holds the bound
// socket), in the abstract namespace (a table per sandbox, keyed by the
// sandbox's VirtualFilesystem) and unnamed/autobound sockets; file
// descriptors (SCM_RIGHTS) and credentials (SCM_CREDENTIALS) passed between
// processes of the sandbox.
//
// # The model
//
// A sock is one socket; it is the vfs.FileImpl of its open file (which
// lives on vfs's anonymous mount, named "socket:[ino]"). Every sock has its
// own receive queue of messages. Sending appends a message (a private copy
// of the bytes, plus rights and credentials) to the receiver's queue; a
// stream read may span messages, a datagram or seqpacket read takes one.
//
// Flow control follows Linux: the bytes a socket has sent that are still
// queued somewhere are charged to it (inflight, Linux's sk_wmem_alloc); a
// send waits while inflight reaches SO_SNDBUF. A datagram receiver that is
// not connected back to the sender also refuses more than maxDgramQlen
// queued messages (net.unix.max_dgram_qlen); such senders wait on the
// receiver's peerWait queue, which the receiver notifies when it dequeues.
//
// Connection-oriented sockets (stream, seqpacket): connect puts a new
// server-side sock, already connected to the client, on the listener's
// accept queue, as Linux does, so the client may write before accept.
// Shutdown and close set the shutdown bits of both ends (rcvShutdown /
// sendShutdown, Linux's RCV_SHUTDOWN / SEND_SHUTDOWN); closing with unread
// data, or an unaccepted connection, also reports ECONNRESET to the peer.
// Datagram sockets learn that their peer died at the next send
// (ECONNREFUSED), as Linux.
//
// Blocking: vfs paths (read, write, poll) never block. SendMsg, RecvMsg,
// Accept and Connect wait through a socket.Blocker when given one, honouring
// SO_RCVTIMEO / SO_SNDTIMEO (timeout: EAGAIN; a signal with a timeout set:
// EINTR, without: ERESTARTSYS).
//
// # Lock order
//
//	sock.bindMu (serialises bind/autobind of one socket; may call into vfs)
//	  sock.mu: at most one at a time, except lockTwo (connect), which
//	    takes two in id order
//	    namespace.mu (leaf)
//	    waiter.Queue locks (leaf; Notify is called under sock.mu)
//
// File references carried in messages are dropped (DecRef, which may
// release another socket) only after every sock.mu is unlocked.
//
// Not implemented: MSG_OOB, SO_PEEK_OFF, garbage collection of sockets that
// are only reachable through their own queues (a cycle of SCM_RIGHTS keeps
// its files open until the sandbox ends; Linux's unix_gc collects them).
package unixsock

import (
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/socket"
	"github.com/runsc-cri/runsc-cri/sentry/socket/inet"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

// Limits and defaults, as Linux.
const (
	defaultBuf      = 212992 // net.core.wmem_default / rmem_default
	maxBuf          = 212992 // net.core.wmem_max / rmem_max
	minSndBuf       = 4608
	minRcvBuf       = 2304
	maxDgramQlen    = 512 // net.unix.max_dgram_qlen (as systemd sets it)
	maxBacklog      = 4096
	dgramOverhead   = 128 // charged per datagram on top of its bytes
	maxStreamCoalsc = 64 << 10
)

// Shutdown bits.
const (
	rcvShutdown  = 1
	sendShutdown = 2
	shutdownMask = rcvShutdown | sendShutdown
)

type sockState int

const (
	stateUnconnected sockState = iota
	stateListening
	stateConnected
)

var nextID atomic.Uint64

// sock is one AF_UNIX socket.
type sock struct {
	vfs.FileDefaults
	socket.TimeoutOpts // SO_RCVTIMEO, SO_SNDTIMEO

	v     *vfs.VirtualFilesystem
	ns    *namespace
	stype int
	id    uint64 // lock order for lockTwo

	// wq is notified of this socket's readiness changes.
	wq waiter.Queue
	// peerWait is notified (WritableEvents) when this socket dequeues a
	// message or dies: datagram senders blocked on its full queue wait here.
	peerWait waiter.Queue

	// inflight is the bytes (plus per-datagram overhead) this socket sent
	// that are still queued at a receiver.
	inflight atomic.Int64

	// bindMu serialises binding.
	bindMu sync.Mutex

	// mu guards every field below.
	mu     sync.Mutex
	state  sockState
	closed bool
	// peer: the other end of a connection, or a datagram socket's
	// default destination.
	peer *sock
	// addr is the bound name: "" unbound, "\x00..." abstract, else a path.
	addr  string
	bound vfs.SocketInode // the socket file of a path name
	shut  int
	err   unix.Errno
	rq    []*message
	// rqBytes counts unread bytes in rq.
	rqBytes int64

	backlog int
	acceptq []*sock

	peerCred    socket.Creds
	hasPeerCred bool

	passCred, reuseAddr, keepAlive bool
	sndBuf, rcvBuf                 int64
	linger                         [8]byte

	// peerEntries remembers waiter entries also registered on a peer's
	// peerWait (datagram writability).
	peerEntries map[*waiter.Entry]*sock
}

var (
	_ socket.Socket   = (*sock)(nil)
	_ socket.Timeouts = (*sock)(nil)
)

func newSock(v *vfs.VirtualFilesystem, stype int) *sock {
	return &sock{
		v:      v,
		ns:     namespaceOf(v),
		stype:  stype,
		id:     nextID.Add(1),
		sndBuf: defaultBuf,
		rcvBuf: defaultBuf,
	}
}

// inode is the anonymous inode of a socket file.
type inode struct {
	vfs.NoSetStat
	ino      uint64
	uid, gid uint32
	ctime    linux.StatxTimestamp
}

// Stat implements vfs.Inode.
func (i *inode) Stat(ctx vfs.Context) (linux.Statx, error) {
	return linux.Statx{
		Mask: linux.STATX_BASIC_STATS, Blksize: 4096, Nlink: 1, UID: i.uid, GID: i.gid,
		Mode: uint16(linux.S_IFSOCK | 0o777), Ino: i.ino,
		Atime: i.ctime, Mtime: i.ctime, Ctime: i.ctime,
	}, nil
}

// newFile wraps s in an open file with one reference; flags may hold
// O_NONBLOCK.
func (s *sock) newFile(ctx vfs.Context, flags uint32) *vfs.FileDescription {
	creds := ctx.Credentials()
	ino := &inode{ino: s.v.NextAnonIno(), uid: uint32(creds.EffectiveUID), gid: uint32(creds.EffectiveGID), ctime: vfs.NowTimestamp()}
	vd := s.v.NewAnonVirtualDentry(fmt.Sprintf("socket:[%d]", ino.ino), ino)
	defer vd.DecRef()
	return s.v.NewFileDescription(s, vd, unix.O_RDWR|flags&unix.O_NONBLOCK)
}

// CheckType validates socket(2)/socketpair(2)'s type (with SOCK_NONBLOCK
// and SOCK_CLOEXEC already removed) and protocol for AF_UNIX.
func CheckType(stype, protocol int) error {
	switch stype {
	case unix.SOCK_STREAM, unix.SOCK_DGRAM, unix.SOCK_SEQPACKET:
	case unix.SOCK_RAW:
		// Linux treats SOCK_RAW as SOCK_DGRAM for AF_UNIX.
	default:
		return unix.ESOCKTNOSUPPORT
	}
	if protocol != 0 && protocol != unix.PF_UNIX {
		return unix.EPROTONOSUPPORT
	}
	return nil
}

func normType(stype int) int {
	if stype == unix.SOCK_RAW {
		return unix.SOCK_DGRAM
	}
	return stype
}

// New implements socket(AF_UNIX, stype, protocol): a new unbound socket
// file with one reference. flags may hold O_NONBLOCK.
func New(ctx vfs.Context, v *vfs.VirtualFilesystem, stype, protocol int, flags uint32) (*vfs.FileDescription, error) {
	if err := CheckType(stype, protocol); err != nil {
		return nil, err
	}
	return newSock(v, normType(stype)).newFile(ctx, flags), nil
}

// NewPair implements socketpair(AF_UNIX, ...): two connected sockets.
func NewPair(ctx vfs.Context, v *vfs.VirtualFilesystem, stype, protocol int, flags uint32) (*vfs.FileDescription, *vfs.FileDescription, error) {
	if err := CheckType(stype, protocol); err != nil {
		return nil, nil, err
	}
	stype = normType(stype)
	a, b := newSock(v, stype), newSock(v, stype)
	cr := socket.CallerCreds(ctx)
	a.peer, b.peer = b, a
	a.state, b.state = stateConnected, stateConnected
	a.peerCred, b.peerCred = cr, cr
	a.hasPeerCred, b.hasPeerCred = true, true
	return a.newFile(ctx, flags), b.newFile(ctx, flags), nil
}

// IsStream implements vfs.StreamFile.
func (s *sock) IsStream() bool { return true }

// Family implements socket.Socket.
func (s *sock) Family() int { return unix.AF_UNIX }

// Type implements socket.Socket.
func (s *sock) Type() int { return s.stype }

// Protocol implements socket.Socket.
func (s *sock) Protocol() int { return 0 }

func (s *sock) connOriented() bool { return s.stype != unix.SOCK_DGRAM }

// lockTwo locks a and b (which may be equal) in id order.
func lockTwo(a, b *sock) {
	switch {
	case a == b:
		a.mu.Lock()
	case a.id < b.id:
		a.mu.Lock()
		b.mu.Lock()
	default:
		b.mu.Lock()
		a.mu.Lock()
	}
}

func unlockTwo(a, b *sock) {
	a.mu.Unlock()
	if a != b {
		b.mu.Unlock()
	}
}

// Release implements vfs.FileImpl: the socket closes.
func (s *sock) Release(ctx vfs.Context) { s.release(ctx, false) }

// release closes s; embryo is an unaccepted connection, whose client is
// reset.
func (s *sock) release(ctx vfs.Context, embryo bool) {
	s.bindMu.Lock()
	s.mu.Lock()
	s.closed = true
	addr, bound := s.addr, s.bound
	peer := s.peer
	s.peer = nil
	unread := len(s.rq) > 0 || embryo
	msgs := s.rq
	s.rq, s.rqBytes = nil, 0
	embryos := s.acceptq
	s.acceptq = nil
	wasConnected := s.state == stateConnected
	s.shut = shutdownMask
	s.wq.Notify(waiter.ReadableEvents | waiter.WritableEvents | waiter.EventHUp)
	s.mu.Unlock()
	s.bindMu.Unlock()
	s.peerWait.Notify(waiter.WritableEvents)

	if addr != "" {
		if addr[0] == 0 {
			s.ns.remove(addr, s)
		} else if bound != nil && bound.BoundEndpoint() == any(s) {
			bound.SetBoundEndpoint(nil)
		}
	}
	if peer != nil && s.connOriented() && wasConnected {
		peer.mu.Lock()
		peer.shut = shutdownMask
		if unread {
			peer.err = unix.ECONNRESET
		}
		peer.wq.Notify(waiter.ReadableEvents | waiter.WritableEvents | waiter.EventHUp | waiter.EventRdHUp | waiter.EventErr)
		peer.mu.Unlock()
	}
	for _, e := range embryos {
		e.release(ctx, true)
	}
	for _, m := range msgs {
		m.dequeued()
		m.release(ctx)
	}
}

// Readiness implements waiter.Waitable, as Linux's unix_poll and
// unix_dgram_poll.
func (s *sock) Readiness(mask waiter.EventMask) waiter.EventMask {
	s.mu.Lock()
	var r waiter.EventMask
	if s.err != 0 {
		r |= waiter.EventErr
	}
	if s.shut == shutdownMask {
		r |= waiter.EventHUp
	}
	if s.shut&rcvShutdown != 0 {
		r |= waiter.EventRdHUp | waiter.ReadableEvents
	}
	if len(s.rq) > 0 || len(s.acceptq) > 0 {
		r |= waiter.ReadableEvents
	}
	if s.connOriented() && s.state == stateUnconnected {
		r |= waiter.EventHUp
	}
	writable := s.state != stateListening && s.inflight.Load()*4 <= s.sndBuf
	peer := s.peer
	s.mu.Unlock()
	if writable && s.stype == unix.SOCK_DGRAM && peer != nil && peer != s && mask&waiter.WritableEvents != 0 {
		peer.mu.Lock()
		if peer.peer != s && len(peer.rq) > maxDgramQlen && !peer.closed {
			writable = false
		}
		peer.mu.Unlock()
	}
	if writable {
		r |= waiter.WritableEvents
	}
	return r & (mask | waiter.EventHUp | waiter.EventErr)
}

// EventRegister implements waiter.Waitable.
func (s *sock) EventRegister(e *waiter.Entry, mask waiter.EventMask) {
	mask |= waiter.EventHUp | waiter.EventErr
	s.wq.EventRegister(e, mask)
	if s.stype != unix.SOCK_DGRAM || mask&waiter.WritableEvents == 0 {
		return
	}
	s.mu.Lock()
	peer := s.peer
	if peer != nil && peer != s {
		if s.peerEntries == nil {
			s.peerEntries = map[*waiter.Entry]*sock{}
		}
		s.peerEntries[e] = peer
	}
	s.mu.Unlock()
	if peer != nil && peer != s {
		peer.peerWait.EventRegister(e, mask)
	}
}

// EventUnregister implements waiter.Waitable.
func (s *sock) EventUnregister(e *waiter.Entry) {
	s.wq.EventUnregister(e)
	s.mu.Lock()
	peer := s.peerEntries[e]
	delete(s.peerEntries, e)
	s.mu.Unlock()
	if peer != nil {
		peer.peerWait.EventUnregister(e)
	}
}

// Ioctl implements vfs.FileImpl: FIONREAD (SIOCINQ) and TIOCOUTQ
// (SIOCOUTQ); the interface ioctls (SIOCGIF*) are the pod network
// stack's; anything else is ENOTTY.
func (s *sock) Ioctl(ctx vfs.IoctlContext, fd *vfs.FileDescription, cmd uint32, arg uintptr) (uintptr, error) {
	var v int64
	switch cmd {
	case linux.FIONREAD:
		s.mu.Lock()
		if s.state == stateListening {
			s.mu.Unlock()
			return 0, unix.EINVAL
		}
		if s.stype == unix.SOCK_DGRAM {
			if len(s.rq) > 0 {
				v = int64(len(s.rq[0].data))
			}
		} else {
			v = s.rqBytes
		}
		s.mu.Unlock()
	case linux.TIOCOUTQ:
		v = s.inflight.Load()
	default:
		// The interface ioctls work on a socket of any family (glibc's
		// if_nametoindex asks through an AF_UNIX socket).
		return inet.StackFor(s.v).InterfaceIoctl(ctx, cmd, arg)
	}
	if _, err := ctx.CopyOut(arg, socket.Int32Val(int32(min(v, 1<<31-1)))); err != nil {
		return 0, unix.EFAULT
	}
	return 0, nil
}

// FromFile returns the AF_UNIX socket behind fd, or nil.
func FromFile(fd *vfs.FileDescription) socket.Socket {
	if s, ok := fd.Impl().(*sock); ok {
		return s
	}
	return nil
}
