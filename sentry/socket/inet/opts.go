package inet

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"

	"github.com/runsc-cri/runsc-cri/sentry/socket"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// Limits of SO_SNDBUF / SO_RCVBUF (Linux: SOCK_MIN_SNDBUF/RCVBUF; the
// maximum is this stack's own).
const (
	minSndBuf = 4608
	minRcvBuf = 2304
)

// GetSockOpt implements socket.Socket. Unknown options and levels of other
// protocols answer ENOPROTOOPT, as Linux.
func (s *sock) GetSockOpt(ctx vfs.Context, level, name int, optLen int) ([]byte, error) {
	switch level {
	case unix.SOL_SOCKET:
		return s.getSocketOpt(name)
	case unix.SOL_TCP:
		if !s.isStream() {
			return nil, unix.ENOPROTOOPT
		}
		return s.getTCPOpt(name)
	case unix.SOL_IP:
		if s.family != unix.AF_INET {
			return nil, unix.ENOPROTOOPT
		}
		return s.getIPOpt(name)
	case unix.SOL_IPV6:
		if s.family != unix.AF_INET6 {
			return nil, unix.ENOPROTOOPT
		}
		return s.getIPv6Opt(name)
	case unix.SOL_ICMPV6:
		if s.family != unix.AF_INET6 || s.stype != unix.SOCK_RAW || name != icmp6Filter {
			return nil, unix.ENOPROTOOPT
		}
		var f tcpip.ICMPv6Filter
		if err := s.ep.GetSockOpt(&f); err != nil {
			return nil, errno(err)
		}
		b := make([]byte, 32)
		for i, w := range f.DenyType {
			binary.LittleEndian.PutUint32(b[4*i:], w)
		}
		return b, nil
	}
	return nil, unix.ENOPROTOOPT
}

// icmp6Filter is ICMP6_FILTER (level SOL_ICMPV6): struct icmp6_filter,
// eight 32-bit words, a set bit blocks that ICMPv6 type.
const icmp6Filter = 1

func (s *sock) intOpt(o tcpip.SockOptInt) ([]byte, error) {
	v, err := s.ep.GetSockOptInt(o)
	if err != nil {
		return nil, errno(err)
	}
	return socket.Int32Val(int32(v)), nil
}

func (s *sock) getSocketOpt(name int) ([]byte, error) {
	so := s.ep.SocketOptions()
	switch name {
	case unix.SO_TYPE:
		return socket.Int32Val(int32(s.stype)), nil
	case unix.SO_DOMAIN:
		return socket.Int32Val(int32(s.family)), nil
	case unix.SO_PROTOCOL:
		return socket.Int32Val(int32(s.protocol)), nil
	case unix.SO_ERROR:
		var e int32
		if err := s.ep.LastError(); err != nil {
			if en, ok := errno(err).(unix.Errno); ok {
				e = int32(en)
			}
		}
		return socket.Int32Val(e), nil
	case unix.SO_REUSEADDR:
		return socket.BoolVal(so.GetReuseAddress()), nil
	case unix.SO_REUSEPORT:
		return socket.BoolVal(so.GetReusePort()), nil
	case unix.SO_KEEPALIVE:
		return socket.BoolVal(so.GetKeepAlive()), nil
	case unix.SO_BROADCAST:
		return socket.BoolVal(so.GetBroadcast()), nil
	case unix.SO_ACCEPTCONN:
		return socket.BoolVal(so.GetAcceptConn()), nil
	case unix.SO_SNDBUF:
		return socket.Int32Val(int32(so.GetSendBufferSize())), nil
	case unix.SO_RCVBUF:
		return socket.Int32Val(int32(so.GetReceiveBufferSize())), nil
	case unix.SO_LINGER:
		l := so.GetLinger()
		b := make([]byte, 8)
		if l.Enabled {
			binary.LittleEndian.PutUint32(b, 1)
		}
		binary.LittleEndian.PutUint32(b[4:], uint32(l.Timeout/time.Second))
		return b, nil
	case unix.SO_RCVTIMEO, unix.SO_SNDTIMEO:
		return s.TimeoutOpt(name), nil
	case unix.SO_RCVLOWAT, unix.SO_SNDLOWAT:
		return socket.Int32Val(1), nil
	case unix.SO_OOBINLINE, unix.SO_PRIORITY, unix.SO_DONTROUTE, unix.SO_PASSCRED,
		unix.SO_TIMESTAMP, unix.SO_TIMESTAMPNS, unix.SO_MARK:
		return socket.Int32Val(0), nil
	case unix.SO_BINDTODEVICE:
		return nil, nil
	case unix.SO_PEERCRED:
		// No credentials travel over inet: Linux reports pid 0 and the
		// overflow ids.
		return socket.Creds{UID: socket.OverflowID, GID: socket.OverflowID}.Marshal(), nil
	}
	return nil, unix.ENOPROTOOPT
}

func (s *sock) getTCPOpt(name int) ([]byte, error) {
	so := s.ep.SocketOptions()
	switch name {
	case unix.TCP_NODELAY:
		return socket.BoolVal(!so.GetDelayOption()), nil
	case unix.TCP_CORK:
		return socket.BoolVal(so.GetCorkOption()), nil
	case unix.TCP_QUICKACK:
		return socket.BoolVal(so.GetQuickAck()), nil
	case unix.TCP_MAXSEG:
		return s.intOpt(tcpip.MaxSegOption)
	case unix.TCP_KEEPCNT:
		return s.intOpt(tcpip.KeepaliveCountOption)
	case unix.TCP_SYNCNT:
		return s.intOpt(tcpip.TCPSynCountOption)
	case unix.TCP_WINDOW_CLAMP:
		return s.intOpt(tcpip.TCPWindowClampOption)
	case unix.TCP_KEEPIDLE:
		var v tcpip.KeepaliveIdleOption
		if err := s.ep.GetSockOpt(&v); err != nil {
			return nil, errno(err)
		}
		return socket.Int32Val(int32(time.Duration(v) / time.Second)), nil
	case unix.TCP_KEEPINTVL:
		var v tcpip.KeepaliveIntervalOption
		if err := s.ep.GetSockOpt(&v); err != nil {
			return nil, errno(err)
		}
		return socket.Int32Val(int32(time.Duration(v) / time.Second)), nil
	case unix.TCP_USER_TIMEOUT:
		var v tcpip.TCPUserTimeoutOption
		if err := s.ep.GetSockOpt(&v); err != nil {
			return nil, errno(err)
		}
		return socket.Int32Val(int32(time.Duration(v) / time.Millisecond)), nil
	case unix.TCP_DEFER_ACCEPT:
		var v tcpip.TCPDeferAcceptOption
		if err := s.ep.GetSockOpt(&v); err != nil {
			return nil, errno(err)
		}
		return socket.Int32Val(int32(time.Duration(v) / time.Second)), nil
	case unix.TCP_CONGESTION:
		var v tcpip.CongestionControlOption
		if err := s.ep.GetSockOpt(&v); err != nil {
			return nil, errno(err)
		}
		b := make([]byte, 16)
		copy(b, v)
		return b, nil
	case unix.TCP_INFO:
		var v tcpip.TCPInfoOption
		if err := s.ep.GetSockOpt(&v); err != nil {
			return nil, errno(err)
		}
		// struct tcp_info: the state and the RTT fields are what programs
		// look at; the rest stays zero.
		b := make([]byte, 104)
		b[0] = byte(v.State)
		binary.LittleEndian.PutUint32(b[16:], uint32(v.RTO/time.Microsecond))
		binary.LittleEndian.PutUint32(b[68:], uint32(v.RTT/time.Microsecond))
		binary.LittleEndian.PutUint32(b[72:], uint32(v.RTTVar/time.Microsecond))
		binary.LittleEndian.PutUint32(b[76:], v.SndSsthresh)
		binary.LittleEndian.PutUint32(b[80:], v.SndCwnd)
		return b, nil
	}
	return nil, unix.ENOPROTOOPT
}

func (s *sock) getIPOpt(name int) ([]byte, error) {
	switch name {
	case unix.IP_TTL:
		v, err := s.ep.GetSockOptInt(tcpip.IPv4TTLOption)
		if err != nil {
			return nil, errno(err)
		}
		if v == 0 {
			v = 64 // the default is net.ipv4.ip_default_ttl
		}
		return socket.Int32Val(int32(v)), nil
	case unix.IP_TOS:
		return s.intOpt(tcpip.IPv4TOSOption)
	case unix.IP_MTU_DISCOVER:
		return s.intOpt(tcpip.MTUDiscoverOption)
	case unix.IP_HDRINCL:
		return socket.BoolVal(s.ep.SocketOptions().GetHeaderIncluded()), nil
	case unix.IP_RECVERR:
		return socket.BoolVal(s.ep.SocketOptions().GetIPv4RecvError()), nil
	case unix.IP_PKTINFO:
		return socket.BoolVal(s.ep.SocketOptions().GetReceivePacketInfo()), nil
	case unix.IP_RECVTTL:
		return socket.BoolVal(s.ep.SocketOptions().GetReceiveTTL()), nil
	case unix.IP_RECVTOS:
		return socket.BoolVal(s.ep.SocketOptions().GetReceiveTOS()), nil
	}
	return nil, unix.ENOPROTOOPT
}

func (s *sock) getIPv6Opt(name int) ([]byte, error) {
	switch name {
	case unix.IPV6_V6ONLY:
		return socket.BoolVal(s.ep.SocketOptions().GetV6Only()), nil
	case unix.IPV6_UNICAST_HOPS:
		v, err := s.ep.GetSockOptInt(tcpip.IPv6HopLimitOption)
		if err != nil {
			return nil, errno(err)
		}
		if v < 0 {
			v = 64
		}
		return socket.Int32Val(int32(v)), nil
	case unix.IPV6_TCLASS:
		return s.intOpt(tcpip.IPv6TrafficClassOption)
	case unix.IPV6_RECVERR:
		return socket.BoolVal(s.ep.SocketOptions().GetIPv6RecvError()), nil
	case unix.IPV6_RECVPKTINFO:
		return socket.BoolVal(s.ep.SocketOptions().GetIPv6ReceivePacketInfo()), nil
	case unix.IPV6_RECVHOPLIMIT:
		return socket.BoolVal(s.ep.SocketOptions().GetReceiveHopLimit()), nil
	case unix.IPV6_RECVTCLASS:
		return socket.BoolVal(s.ep.SocketOptions().GetReceiveTClass()), nil
	}
	return nil, unix.ENOPROTOOPT
}

// SetSockOpt implements socket.Socket.
func (s *sock) SetSockOpt(ctx vfs.Context, level, name int, val []byte) error {
	if level == unix.SOL_SOCKET {
		switch name {
		case unix.SO_RCVTIMEO, unix.SO_SNDTIMEO:
			return s.SetTimeoutOpt(name, val)
		case unix.SO_LINGER:
			if len(val) < 8 {
				return unix.EINVAL
			}
			on := binary.LittleEndian.Uint32(val) != 0
			secs := int32(binary.LittleEndian.Uint32(val[4:]))
			s.ep.SocketOptions().SetLinger(tcpip.LingerOption{Enabled: on, Timeout: time.Duration(max(secs, 0)) * time.Second})
			return nil
		case unix.SO_BINDTODEVICE:
			return nil // one NIC per family for now: accepted
		}
	}
	if level == unix.SOL_ICMPV6 {
		if s.family != unix.AF_INET6 || s.stype != unix.SOCK_RAW || name != icmp6Filter {
			return unix.ENOPROTOOPT
		}
		if len(val) < 32 {
			return unix.EINVAL
		}
		var f tcpip.ICMPv6Filter
		for i := range f.DenyType {
			f.DenyType[i] = binary.LittleEndian.Uint32(val[4*i:])
		}
		return errno(s.ep.SetSockOpt(&f))
	}
	if level == unix.SOL_TCP && name == unix.TCP_CONGESTION {
		if !s.isStream() {
			return unix.ENOPROTOOPT
		}
		n := 0
		for n < len(val) && val[n] != 0 {
			n++
		}
		v := tcpip.CongestionControlOption(val[:n])
		return errno(s.ep.SetSockOpt(&v))
	}
	v, err := socket.Int32Opt(val)
	if err != nil {
		return err
	}
	switch level {
	case unix.SOL_SOCKET:
		return s.setSocketOpt(name, v)
	case unix.SOL_TCP:
		if !s.isStream() {
			return unix.ENOPROTOOPT
		}
		return s.setTCPOpt(name, v)
	case unix.SOL_IP:
		if s.family != unix.AF_INET {
			return unix.ENOPROTOOPT
		}
		return s.setIPOpt(name, v)
	case unix.SOL_IPV6:
		if s.family != unix.AF_INET6 {
			return unix.ENOPROTOOPT
		}
		return s.setIPv6Opt(name, v)
	}
	return unix.ENOPROTOOPT
}

func (s *sock) setSocketOpt(name int, v int32) error {
	so := s.ep.SocketOptions()
	switch name {
	case unix.SO_REUSEADDR:
		so.SetReuseAddress(v != 0)
	case unix.SO_REUSEPORT:
		so.SetReusePort(v != 0)
	case unix.SO_KEEPALIVE:
		so.SetKeepAlive(v != 0)
	case unix.SO_BROADCAST:
		so.SetBroadcast(v != 0)
	case unix.SO_SNDBUF, unix.SO_SNDBUFFORCE:
		b := min(int64(max(v, 0)), bufMax) * 2
		so.SetSendBufferSize(max(b, minSndBuf), true)
	case unix.SO_RCVBUF, unix.SO_RCVBUFFORCE:
		b := min(int64(max(v, 0)), bufMax) * 2
		so.SetReceiveBufferSize(max(b, minRcvBuf), true)
	case unix.SO_RCVLOWAT, unix.SO_SNDLOWAT, unix.SO_OOBINLINE, unix.SO_PRIORITY,
		unix.SO_DONTROUTE, unix.SO_PASSCRED, unix.SO_TIMESTAMP, unix.SO_TIMESTAMPNS, unix.SO_MARK:
		// Accepted and ignored.
	default:
		return unix.ENOPROTOOPT
	}
	return nil
}

func (s *sock) setTCPOpt(name int, v int32) error {
	so := s.ep.SocketOptions()
	secs := func(min32 int32) (time.Duration, error) {
		if v < min32 {
			return 0, unix.EINVAL
		}
		return time.Duration(v) * time.Second, nil
	}
	switch name {
	case unix.TCP_NODELAY:
		so.SetDelayOption(v == 0)
	case unix.TCP_CORK:
		so.SetCorkOption(v != 0)
	case unix.TCP_QUICKACK:
		so.SetQuickAck(v != 0)
	case unix.TCP_MAXSEG:
		return errno(s.ep.SetSockOptInt(tcpip.MaxSegOption, int(v)))
	case unix.TCP_KEEPCNT:
		if v < 1 || v > 127 {
			return unix.EINVAL
		}
		return errno(s.ep.SetSockOptInt(tcpip.KeepaliveCountOption, int(v)))
	case unix.TCP_SYNCNT:
		return errno(s.ep.SetSockOptInt(tcpip.TCPSynCountOption, int(v)))
	case unix.TCP_WINDOW_CLAMP:
		return errno(s.ep.SetSockOptInt(tcpip.TCPWindowClampOption, int(v)))
	case unix.TCP_KEEPIDLE:
		d, err := secs(1)
		if err != nil {
			return err
		}
		o := tcpip.KeepaliveIdleOption(d)
		return errno(s.ep.SetSockOpt(&o))
	case unix.TCP_KEEPINTVL:
		d, err := secs(1)
		if err != nil {
			return err
		}
		o := tcpip.KeepaliveIntervalOption(d)
		return errno(s.ep.SetSockOpt(&o))
	case unix.TCP_USER_TIMEOUT:
		if v < 0 {
			return unix.EINVAL
		}
		o := tcpip.TCPUserTimeoutOption(time.Duration(v) * time.Millisecond)
		return errno(s.ep.SetSockOpt(&o))
	case unix.TCP_DEFER_ACCEPT:
		o := tcpip.TCPDeferAcceptOption(time.Duration(max(v, 0)) * time.Second)
		return errno(s.ep.SetSockOpt(&o))
	case unix.TCP_LINGER2:
		o := tcpip.TCPLingerTimeoutOption(time.Duration(v) * time.Second)
		return errno(s.ep.SetSockOpt(&o))
	case unix.TCP_FASTOPEN, unix.TCP_FASTOPEN_CONNECT, unix.TCP_NOTSENT_LOWAT:
		// Accepted and ignored.
	default:
		return unix.ENOPROTOOPT
	}
	return nil
}

func (s *sock) setIPOpt(name int, v int32) error {
	switch name {
	case unix.IP_TTL:
		if v == -1 {
			v = 0 // back to the default
		}
		if v < 0 || v > 255 {
			return unix.EINVAL
		}
		return errno(s.ep.SetSockOptInt(tcpip.IPv4TTLOption, int(v)))
	case unix.IP_TOS:
		return errno(s.ep.SetSockOptInt(tcpip.IPv4TOSOption, int(v)))
	case unix.IP_MTU_DISCOVER:
		return errno(s.ep.SetSockOptInt(tcpip.MTUDiscoverOption, int(v)))
	case unix.IP_HDRINCL:
		if s.stype != unix.SOCK_RAW {
			return unix.ENOPROTOOPT
		}
		s.ep.SocketOptions().SetHeaderIncluded(v != 0)
	case unix.IP_RECVERR:
		s.ep.SocketOptions().SetIPv4RecvError(v != 0)
	case unix.IP_PKTINFO:
		s.ep.SocketOptions().SetReceivePacketInfo(v != 0)
	case unix.IP_RECVTTL:
		s.ep.SocketOptions().SetReceiveTTL(v != 0)
	case unix.IP_RECVTOS:
		s.ep.SocketOptions().SetReceiveTOS(v != 0)
	default:
		return unix.ENOPROTOOPT
	}
	return nil
}

func (s *sock) setIPv6Opt(name int, v int32) error {
	switch name {
	case unix.IPV6_V6ONLY:
		if a, err := s.ep.GetLocalAddress(); err == nil && a.Port != 0 {
			return unix.EINVAL // Linux: only before bind
		}
		s.ep.SocketOptions().SetV6Only(v != 0)
	case unix.IPV6_UNICAST_HOPS:
		if v < -1 || v > 255 {
			return unix.EINVAL
		}
		return errno(s.ep.SetSockOptInt(tcpip.IPv6HopLimitOption, int(v)))
	case unix.IPV6_TCLASS:
		return errno(s.ep.SetSockOptInt(tcpip.IPv6TrafficClassOption, int(v)))
	case unix.IPV6_RECVERR:
		s.ep.SocketOptions().SetIPv6RecvError(v != 0)
	case unix.IPV6_RECVPKTINFO:
		s.ep.SocketOptions().SetIPv6ReceivePacketInfo(v != 0)
	case unix.IPV6_RECVHOPLIMIT:
		s.ep.SocketOptions().SetReceiveHopLimit(v != 0)
	case unix.IPV6_RECVTCLASS:
		s.ep.SocketOptions().SetReceiveTClass(v != 0)
	default:
		return unix.ENOPROTOOPT
	}
	return nil
}
