package inet

import (
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/socket"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

// Bind implements socket.Socket.
func (s *sock) Bind(ctx vfs.Context, addr []byte) error {
	fa, kind, err := parseAddr(s.family, addr)
	if err != nil {
		return err
	}
	if kind == addrUnspec {
		// inet_bind accepts AF_UNSPEC with INADDR_ANY as AF_INET.
		switch {
		case s.family == unix.AF_INET && len(addr) >= sockaddrInLen && fa.Addr.Len() == 0:
		case s.family == unix.AF_INET && len(addr) < sockaddrInLen,
			s.family == unix.AF_INET6 && len(addr) < sockaddrIn6Short:
			return unix.EINVAL
		default:
			return unix.EAFNOSUPPORT
		}
	}
	if fa.Port != 0 && fa.Port < s.st.unprivilegedPortStart() && s.stype != unix.SOCK_RAW &&
		!ctx.Credentials().HasCapability(auth.CapNetBindService) {
		return unix.EACCES
	}
	if s.family == unix.AF_INET6 && isV4Mapped(fa.Addr) && s.ep.SocketOptions().GetV6Only() {
		return unix.EINVAL
	}
	return errno(s.ep.Bind(fa))
}

// Listen implements socket.Socket.
func (s *sock) Listen(ctx vfs.Context, backlog int) error {
	if s.stype != unix.SOCK_STREAM {
		return unix.EOPNOTSUPP
	}
	if m := s.st.somaxconn(); uint(backlog) > uint(m) {
		backlog = m
	}
	// Linux's accept queue holds backlog+1 connections
	// (sk_acceptq_is_full is "more than backlog"); netstack's holds backlog.
	return errno(s.ep.Listen(backlog + 1))
}

// Accept implements socket.Socket.
func (s *sock) Accept(ctx vfs.Context, b socket.Blocker, flags uint32) (*vfs.FileDescription, []byte, error) {
	if s.stype != unix.SOCK_STREAM {
		return nil, nil, unix.EOPNOTSUPP
	}
	var dl time.Time
	for {
		var peer tcpip.FullAddress
		nep, nq, terr := s.ep.Accept(&peer)
		if terr == nil {
			ns := newSock(s.v, s.st, s.family, s.stype, s.protocol, nep, nq)
			return ns.newFile(ctx, flags), encodeAddr(s.family, peer), nil
		}
		if _, ok := terr.(*tcpip.ErrWouldBlock); !ok || b == nil {
			return nil, nil, errno(terr)
		}
		timeo := s.RecvTimeout()
		if dl.IsZero() {
			dl = deadline(timeo)
		}
		if err := b.BlockOn(s, waiter.ReadableEvents, dl); err != nil {
			return nil, nil, waitErr(err, timeo)
		}
	}
}

// Connect implements socket.Socket. A blocking TCP connect waits for the
// handshake (SO_SNDTIMEO: EINPROGRESS at expiry, as Linux); a
// non-blocking one returns EINPROGRESS and reports the outcome through
// writability and SO_ERROR.
func (s *sock) Connect(ctx vfs.Context, b socket.Blocker, addr []byte) error {
	parse := parseAddr
	if !s.isStream() {
		parse = parseDgramAddr
	}
	fa, kind, err := parse(s.family, addr)
	if err != nil {
		return err
	}
	if kind == addrUnspec {
		if s.stype == unix.SOCK_STREAM {
			// Linux's tcp_disconnect on a connection aborts it; on a
			// socket that never connected it is a no-op.
			return nil
		}
		return errno(s.ep.Disconnect())
	}
	if s.family == unix.AF_INET6 && isV4Mapped(fa.Addr) && s.ep.SocketOptions().GetV6Only() {
		return unix.ENETUNREACH
	}
	if fa.Addr.Len() == 0 {
		// Linux connects to the unspecified address as to loopback.
		if s.family == unix.AF_INET {
			fa.Addr = tcpip.AddrFrom4([4]byte{127, 0, 0, 1})
		} else {
			fa.Addr = tcpip.AddrFrom16([16]byte{15: 1})
		}
	}
	terr := s.ep.Connect(fa)
	if _, ok := terr.(*tcpip.ErrConnectStarted); !ok {
		return errno(terr)
	}
	if b == nil {
		return unix.EINPROGRESS
	}
	timeo := s.SendTimeout()
	dl := deadline(timeo)
	for {
		if err := b.BlockOn(s, waiter.WritableEvents, dl); err != nil {
			if err == unix.ETIMEDOUT {
				return unix.EINPROGRESS
			}
			return waitErr(err, timeo)
		}
		if terr := s.ep.LastError(); terr != nil {
			return errno(terr)
		}
		switch tcp.EndpointState(s.ep.State()) {
		case tcp.StateConnecting, tcp.StateSynSent, tcp.StateSynRecv:
			continue // woken without a verdict: wait again
		case tcp.StateClose, tcp.StateError:
			return unix.ECONNREFUSED // the error was taken by SO_ERROR meanwhile
		}
		return nil
	}
}

// Shutdown implements socket.Socket.
func (s *sock) Shutdown(ctx vfs.Context, how int) error {
	var f tcpip.ShutdownFlags
	switch how {
	case unix.SHUT_RD:
		f = tcpip.ShutdownRead
	case unix.SHUT_WR:
		f = tcpip.ShutdownWrite
	case unix.SHUT_RDWR:
		f = tcpip.ShutdownRead | tcpip.ShutdownWrite
	default:
		return unix.EINVAL
	}
	return errno(s.ep.Shutdown(f))
}

// SockName implements socket.Socket.
func (s *sock) SockName(ctx vfs.Context) ([]byte, error) {
	a, err := s.ep.GetLocalAddress()
	if err != nil {
		return nil, errno(err)
	}
	return encodeAddr(s.family, a), nil
}

// PeerName implements socket.Socket.
func (s *sock) PeerName(ctx vfs.Context) ([]byte, error) {
	a, err := s.ep.GetRemoteAddress()
	if err != nil {
		return nil, unix.ENOTCONN
	}
	return encodeAddr(s.family, a), nil
}
