package unixsock

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/socket"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

// GetSockOpt implements socket.Socket. Only SOL_SOCKET exists for AF_UNIX
// (other levels: EOPNOTSUPP); unknown options are ENOPROTOOPT.
func (s *sock) GetSockOpt(ctx vfs.Context, level, name int, optLen int) ([]byte, error) {
	if level != unix.SOL_SOCKET {
		return nil, unix.EOPNOTSUPP
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch name {
	case unix.SO_TYPE:
		return socket.Int32Val(int32(s.stype)), nil
	case unix.SO_DOMAIN:
		return socket.Int32Val(unix.AF_UNIX), nil
	case unix.SO_PROTOCOL:
		return socket.Int32Val(0), nil
	case unix.SO_ERROR:
		e := s.err
		s.err = 0
		return socket.Int32Val(int32(e)), nil
	case unix.SO_SNDBUF:
		return socket.Int32Val(int32(s.sndBuf)), nil
	case unix.SO_RCVBUF:
		return socket.Int32Val(int32(s.rcvBuf)), nil
	case unix.SO_PASSCRED:
		return socket.BoolVal(s.passCred), nil
	case unix.SO_REUSEADDR:
		return socket.BoolVal(s.reuseAddr), nil
	case unix.SO_KEEPALIVE:
		return socket.BoolVal(s.keepAlive), nil
	case unix.SO_ACCEPTCONN:
		return socket.BoolVal(s.state == stateListening), nil
	case unix.SO_LINGER:
		return append([]byte(nil), s.linger[:]...), nil
	case unix.SO_RCVTIMEO, unix.SO_SNDTIMEO:
		return s.TimeoutOpt(name), nil
	case unix.SO_PEERCRED:
		c := socket.Creds{UID: socket.OverflowID, GID: socket.OverflowID}
		if s.hasPeerCred {
			c = s.peerCred
		}
		return c.Marshal(), nil
	case unix.SO_RCVLOWAT, unix.SO_SNDLOWAT:
		return socket.Int32Val(1), nil
	case unix.SO_BROADCAST, unix.SO_OOBINLINE, unix.SO_PRIORITY, unix.SO_DONTROUTE, unix.SO_PASSSEC:
		return socket.Int32Val(0), nil
	}
	return nil, unix.ENOPROTOOPT
}

// SetSockOpt implements socket.Socket.
func (s *sock) SetSockOpt(ctx vfs.Context, level, name int, val []byte) error {
	if level != unix.SOL_SOCKET {
		return unix.EOPNOTSUPP
	}
	switch name {
	case unix.SO_RCVTIMEO, unix.SO_SNDTIMEO:
		return s.SetTimeoutOpt(name, val)
	case unix.SO_LINGER:
		if len(val) < 8 {
			return unix.EINVAL
		}
		s.mu.Lock()
		copy(s.linger[:], val[:8])
		s.mu.Unlock()
		return nil
	}
	v, err := socket.Int32Opt(val)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch name {
	case unix.SO_SNDBUF, unix.SO_SNDBUFFORCE:
		b := min(int64(max(v, 0)), maxBuf) * 2
		s.sndBuf = max(b, minSndBuf)
		s.wq.Notify(waiter.WritableEvents)
	case unix.SO_RCVBUF, unix.SO_RCVBUFFORCE:
		b := min(int64(max(v, 0)), maxBuf) * 2
		s.rcvBuf = max(b, minRcvBuf)
	case unix.SO_PASSCRED:
		s.passCred = v != 0
	case unix.SO_REUSEADDR:
		s.reuseAddr = v != 0
	case unix.SO_KEEPALIVE:
		s.keepAlive = v != 0
	case unix.SO_RCVLOWAT, unix.SO_SNDLOWAT, unix.SO_BROADCAST, unix.SO_OOBINLINE,
		unix.SO_PRIORITY, unix.SO_DONTROUTE, unix.SO_PASSSEC:
		// Accepted and ignored.
	default:
		return unix.ENOPROTOOPT
	}
	return nil
}
