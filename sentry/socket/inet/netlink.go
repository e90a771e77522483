package inet

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/tcpip"

	"github.com/runsc-cri/runsc-cri/sentry/socket"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

// A read-only NETLINK_ROUTE socket: the route netlink family answers
// RTM_GETLINK and RTM_GETADDR (dumps and single queries) from the pod's
// stack, so `ip link`, `ip addr`, getifaddrs(3), glibc's AI_ADDRCONFIG
// check and Go's net.Interfaces work. RTM_GETROUTE dumps are empty (lo's
// routes live in Linux's local table, which `ip route` does not show; the
// main table's routes of other NICs are listed).
// Changes (RTM_NEW*, RTM_DEL*, RTM_SET*) answer EPERM without
// CAP_NET_ADMIN and EOPNOTSUPP with it; multicast groups are accepted but
// deliver nothing. Every reply is queued on the socket as one datagram per
// request (the dump's NLMSG_DONE in a datagram of its own, as Linux
// usually does).
//
// Lock order: nlSock.mu is a leaf (Stack calls are made without it).

// nlmsghdr and friends (include/uapi/linux/netlink.h, rtnetlink.h).
const (
	nlmsgHdrLen    = 16
	ifinfomsgLen   = 16
	ifaddrmsgLen   = 8
	sockaddrNlLen  = 12
	nlMaxQueued    = 64 // datagrams; a client that never reads gets ENOBUFS
	ifOperUnknown  = 0
	ifOperDown     = 2
	ifOperUp       = 6
	loopbackTxQLen = 1000
	infinityLife   = 0xffffffff
	// capNetAdmin is CAP_NET_ADMIN (kernel/auth does not name it).
	capNetAdmin = 12
)

var nlNextPort atomic.Uint32

// nlSock is one AF_NETLINK socket.
type nlSock struct {
	vfs.FileDefaults
	socket.TimeoutOpts // SO_RCVTIMEO, SO_SNDTIMEO

	v     *vfs.VirtualFilesystem
	st    *Stack
	stype int
	wq    waiter.Queue

	// mu guards the fields below.
	mu             sync.Mutex
	port           uint32
	groups         uint32
	rq             [][]byte
	sndBuf, rcvBuf int32
	err            unix.Errno
}

var (
	_ socket.Socket   = (*nlSock)(nil)
	_ socket.Timeouts = (*nlSock)(nil)
)

// NewNetlink implements socket(AF_NETLINK, stype, protocol): SOCK_RAW or
// SOCK_DGRAM, protocol NETLINK_ROUTE only (others: EPROTONOSUPPORT).
func NewNetlink(ctx vfs.Context, v *vfs.VirtualFilesystem, stype, protocol int, flags uint32) (*vfs.FileDescription, error) {
	if stype != unix.SOCK_RAW && stype != unix.SOCK_DGRAM {
		return nil, unix.ESOCKTNOSUPPORT
	}
	if protocol != unix.NETLINK_ROUTE {
		return nil, unix.EPROTONOSUPPORT
	}
	s := &nlSock{v: v, st: StackFor(v), stype: stype, sndBuf: 212992, rcvBuf: 212992}
	creds := ctx.Credentials()
	ino := &inode{ino: v.NextAnonIno(), uid: uint32(creds.EffectiveUID), gid: uint32(creds.EffectiveGID), ctime: vfs.NowTimestamp()}
	vd := v.NewAnonVirtualDentry(fmt.Sprintf("socket:[%d]", ino.ino), ino)
	defer vd.DecRef()
	return v.NewFileDescription(s, vd, unix.O_RDWR|flags&unix.O_NONBLOCK), nil
}

// IsStream implements vfs.StreamFile.
func (s *nlSock) IsStream() bool { return true }

// Family implements socket.Socket.
func (s *nlSock) Family() int { return unix.AF_NETLINK }

// Type implements socket.Socket.
func (s *nlSock) Type() int { return s.stype }

// Protocol implements socket.Socket.
func (s *nlSock) Protocol() int { return unix.NETLINK_ROUTE }

// Release implements vfs.FileImpl.
func (s *nlSock) Release(ctx vfs.Context) {}

// Readiness implements waiter.Waitable.
func (s *nlSock) Readiness(mask waiter.EventMask) waiter.EventMask {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := waiter.WritableEvents
	if len(s.rq) > 0 {
		r |= waiter.ReadableEvents
	}
	if s.err != 0 {
		r |= waiter.EventErr
	}
	return r & (mask | waiter.EventErr)
}

// EventRegister implements waiter.Waitable.
func (s *nlSock) EventRegister(e *waiter.Entry, mask waiter.EventMask) {
	s.wq.EventRegister(e, mask|waiter.EventErr)
}

// EventUnregister implements waiter.Waitable.
func (s *nlSock) EventUnregister(e *waiter.Entry) { s.wq.EventUnregister(e) }

// autobindLocked gives the socket a port id (Linux: the tgid for the first
// socket, then negative numbers; any unique id will do).
func (s *nlSock) autobindLocked() {
	if s.port == 0 {
		s.port = 1<<31 | nlNextPort.Add(1)
	}
}

func parseNlAddr(b []byte) (port, groups uint32, err error) {
	if len(b) < sockaddrNlLen {
		return 0, 0, unix.EINVAL
	}
	if binary.LittleEndian.Uint16(b) != unix.AF_NETLINK {
		return 0, 0, unix.EINVAL
	}
	return binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint32(b[8:]), nil
}

func nlAddr(port, groups uint32) []byte {
	b := make([]byte, sockaddrNlLen)
	binary.LittleEndian.PutUint16(b, unix.AF_NETLINK)
	binary.LittleEndian.PutUint32(b[4:], port)
	binary.LittleEndian.PutUint32(b[8:], groups)
	return b
}

// Bind implements socket.Socket.
func (s *nlSock) Bind(ctx vfs.Context, addr []byte) error {
	port, groups, err := parseNlAddr(addr)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if port != 0 {
		if s.port != 0 && s.port != port {
			return unix.EINVAL
		}
		s.port = port
	}
	s.autobindLocked()
	s.groups = groups
	return nil
}

// Connect implements socket.Socket: only the kernel (port 0) is a peer.
func (s *nlSock) Connect(ctx vfs.Context, b socket.Blocker, addr []byte) error {
	if len(addr) >= 2 && binary.LittleEndian.Uint16(addr) == unix.AF_UNSPEC {
		return nil
	}
	port, _, err := parseNlAddr(addr)
	if err != nil {
		return err
	}
	if port != 0 {
		return unix.ECONNREFUSED
	}
	s.mu.Lock()
	s.autobindLocked()
	s.mu.Unlock()
	return nil
}

// Listen implements socket.Socket.
func (s *nlSock) Listen(ctx vfs.Context, backlog int) error { return unix.EOPNOTSUPP }

// Accept implements socket.Socket.
func (s *nlSock) Accept(ctx vfs.Context, b socket.Blocker, flags uint32) (*vfs.FileDescription, []byte, error) {
	return nil, nil, unix.EOPNOTSUPP
}

// Shutdown implements socket.Socket.
func (s *nlSock) Shutdown(ctx vfs.Context, how int) error { return unix.EOPNOTSUPP }

// SockName implements socket.Socket.
func (s *nlSock) SockName(ctx vfs.Context) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return nlAddr(s.port, s.groups), nil
}

// PeerName implements socket.Socket: the kernel.
func (s *nlSock) PeerName(ctx vfs.Context) ([]byte, error) { return nlAddr(0, 0), nil }

// GetSockOpt implements socket.Socket.
func (s *nlSock) GetSockOpt(ctx vfs.Context, level, name int, optLen int) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch level {
	case unix.SOL_SOCKET:
		switch name {
		case unix.SO_TYPE:
			return socket.Int32Val(int32(s.stype)), nil
		case unix.SO_DOMAIN:
			return socket.Int32Val(unix.AF_NETLINK), nil
		case unix.SO_PROTOCOL:
			return socket.Int32Val(unix.NETLINK_ROUTE), nil
		case unix.SO_SNDBUF:
			return socket.Int32Val(s.sndBuf), nil
		case unix.SO_RCVBUF:
			return socket.Int32Val(s.rcvBuf), nil
		case unix.SO_ERROR:
			e := s.err
			s.err = 0
			return socket.Int32Val(int32(e)), nil
		case unix.SO_RCVTIMEO, unix.SO_SNDTIMEO:
			return s.TimeoutOpt(name), nil
		case unix.SO_PASSCRED:
			return socket.Int32Val(0), nil
		}
	case unix.SOL_NETLINK:
		return socket.Int32Val(0), nil
	}
	return nil, unix.ENOPROTOOPT
}

// SetSockOpt implements socket.Socket. Netlink options (SOL_NETLINK:
// NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK, memberships...) are accepted
// and change nothing.
func (s *nlSock) SetSockOpt(ctx vfs.Context, level, name int, val []byte) error {
	if level == unix.SOL_SOCKET && (name == unix.SO_RCVTIMEO || name == unix.SO_SNDTIMEO) {
		return s.SetTimeoutOpt(name, val)
	}
	v, err := socket.Int32Opt(val)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch level {
	case unix.SOL_SOCKET:
		switch name {
		case unix.SO_SNDBUF, unix.SO_SNDBUFFORCE:
			s.sndBuf = max(min(v, 1<<24)*2, 4608)
		case unix.SO_RCVBUF, unix.SO_RCVBUFFORCE:
			s.rcvBuf = max(min(v, 1<<24)*2, 2304)
		case unix.SO_PASSCRED, unix.SO_TIMESTAMP, unix.SO_PRIORITY:
		default:
			return unix.ENOPROTOOPT
		}
		return nil
	case unix.SOL_NETLINK:
		return nil
	}
	return unix.ENOPROTOOPT
}

// SendMsg implements socket.Socket: every message is a request to the
// kernel; the replies are queued at once.
func (s *nlSock) SendMsg(ctx vfs.Context, b socket.Blocker, src [][]byte, to []byte, ctrl socket.ControlMessages, flags int) (int64, error) {
	if to != nil {
		port, _, err := parseNlAddr(to)
		if err != nil {
			return 0, err
		}
		if port != 0 {
			return 0, unix.ECONNREFUSED // only the kernel answers here
		}
	}
	var buf []byte
	for _, b := range src {
		buf = append(buf, b...)
	}
	s.mu.Lock()
	s.autobindLocked()
	port := s.port
	s.mu.Unlock()
	var replies [][]byte
	for off := 0; off+nlmsgHdrLen <= len(buf); {
		l := int(binary.LittleEndian.Uint32(buf[off:]))
		if l < nlmsgHdrLen || off+l > len(buf) {
			break
		}
		replies = append(replies, s.handle(ctx, buf[off:off+l], port)...)
		off += nlAlign(l)
	}
	s.mu.Lock()
	for _, r := range replies {
		if len(s.rq) >= nlMaxQueued {
			s.err = unix.ENOBUFS
			break
		}
		s.rq = append(s.rq, r)
	}
	s.mu.Unlock()
	if len(replies) > 0 {
		s.wq.Notify(waiter.ReadableEvents)
	}
	return int64(len(buf)), nil
}

// RecvMsg implements socket.Socket: one datagram per call.
func (s *nlSock) RecvMsg(ctx vfs.Context, b socket.Blocker, dst [][]byte, flags int, wantAddr bool) (socket.RecvResult, error) {
	var dl time.Time
	for {
		s.mu.Lock()
		if s.err != 0 {
			e := s.err
			s.err = 0
			s.mu.Unlock()
			return socket.RecvResult{}, e
		}
		if len(s.rq) > 0 {
			d := s.rq[0]
			if flags&unix.MSG_PEEK == 0 {
				s.rq = s.rq[1:]
			}
			s.mu.Unlock()
			w := &blockWriter{bs: append([][]byte(nil), dst...), discard: true}
			w.Write(d)
			r := socket.RecvResult{N: w.n, MsgLen: int64(len(d))}
			if w.n < int64(len(d)) {
				r.Flags |= unix.MSG_TRUNC
			}
			if wantAddr {
				r.From = nlAddr(0, 0)
			}
			return r, nil
		}
		timeo := s.RecvTimeout()
		s.mu.Unlock()
		if b == nil {
			return socket.RecvResult{}, unix.EAGAIN
		}
		if dl.IsZero() {
			dl = deadline(timeo)
		}
		if err := b.BlockOn(s, waiter.ReadableEvents, dl); err != nil {
			return socket.RecvResult{}, waitErr(err, timeo)
		}
	}
}

// Read implements vfs.FileImpl.
func (s *nlSock) Read(ctx vfs.Context, dst [][]byte, off int64) (int64, error) {
	r, err := s.RecvMsg(ctx, nil, dst, 0, false)
	return r.N, err
}

// Write implements vfs.FileImpl.
func (s *nlSock) Write(ctx vfs.Context, src [][]byte, off int64, appendMode bool) (int64, int64, error) {
	n, err := s.SendMsg(ctx, nil, src, nil, socket.ControlMessages{}, 0)
	return n, off + n, err
}

// Ioctl implements vfs.FileImpl: FIONREAD and the interface ioctls.
func (s *nlSock) Ioctl(ctx vfs.IoctlContext, fd *vfs.FileDescription, cmd uint32, arg uintptr) (uintptr, error) {
	if cmd != linux.FIONREAD {
		return s.st.InterfaceIoctl(ctx, cmd, arg)
	}
	s.mu.Lock()
	var n int32
	if len(s.rq) > 0 {
		n = int32(len(s.rq[0]))
	}
	s.mu.Unlock()
	if _, err := ctx.CopyOut(arg, socket.Int32Val(n)); err != nil {
		return 0, unix.EFAULT
	}
	return 0, nil
}

func nlAlign(n int) int { return (n + 3) &^ 3 }

// nlMsg builds netlink messages.
type nlMsg struct{ b []byte }

// begin starts a message; end fills in its length.
func (m *nlMsg) begin(typ, flags uint16, seq, port uint32) int {
	start := len(m.b)
	h := make([]byte, nlmsgHdrLen)
	binary.LittleEndian.PutUint16(h[4:], typ)
	binary.LittleEndian.PutUint16(h[6:], flags)
	binary.LittleEndian.PutUint32(h[8:], seq)
	binary.LittleEndian.PutUint32(h[12:], port)
	m.b = append(m.b, h...)
	return start
}

func (m *nlMsg) end(start int) {
	binary.LittleEndian.PutUint32(m.b[start:], uint32(len(m.b)-start))
	for len(m.b)%4 != 0 {
		m.b = append(m.b, 0)
	}
}

func (m *nlMsg) raw(p []byte) {
	m.b = append(m.b, p...)
	for len(m.b)%4 != 0 {
		m.b = append(m.b, 0)
	}
}

// attr appends an rtattr.
func (m *nlMsg) attr(typ uint16, p []byte) {
	h := make([]byte, 4)
	binary.LittleEndian.PutUint16(h, uint16(4+len(p)))
	binary.LittleEndian.PutUint16(h[2:], typ)
	m.b = append(m.b, h...)
	m.raw(p)
}

func (m *nlMsg) attrU32(typ uint16, v uint32) {
	m.attr(typ, binary.LittleEndian.AppendUint32(nil, v))
}

func (m *nlMsg) attrStr(typ uint16, v string) { m.attr(typ, append([]byte(v), 0)) }

// errorMsg is an NLMSG_ERROR answering req (errno 0: an ACK).
func errorMsg(req []byte, errno unix.Errno, port uint32) []byte {
	var m nlMsg
	seq := binary.LittleEndian.Uint32(req[8:])
	st := m.begin(unix.NLMSG_ERROR, 0, seq, port)
	e := make([]byte, 4)
	binary.LittleEndian.PutUint32(e, uint32(-int32(errno)))
	m.b = append(m.b, e...)
	if errno == 0 {
		m.raw(req[:nlmsgHdrLen])
	} else {
		m.raw(req)
	}
	m.end(st)
	return m.b
}

// handle answers one request message.
func (s *nlSock) handle(ctx vfs.Context, req []byte, port uint32) [][]byte {
	typ := binary.LittleEndian.Uint16(req[4:])
	flags := binary.LittleEndian.Uint16(req[6:])
	seq := binary.LittleEndian.Uint32(req[8:])
	body := req[nlmsgHdrLen:]
	dump := flags&unix.NLM_F_DUMP == unix.NLM_F_DUMP
	ack := flags&unix.NLM_F_ACK != 0
	if typ < unix.RTM_BASE {
		return nil // NLMSG_NOOP, NLMSG_DONE...: ignored, as Linux
	}
	if flags&unix.NLM_F_REQUEST == 0 {
		return nil
	}
	var m nlMsg
	var err unix.Errno
	switch typ {
	case unix.RTM_GETLINK:
		err = s.links(&m, body, dump, seq, port)
	case unix.RTM_GETADDR:
		err = s.addrs(&m, body, dump, seq, port)
	case unix.RTM_GETROUTE:
		if !dump {
			err = unix.EOPNOTSUPP
			break
		}
		err = s.routes(&m, body, seq, port)
	case unix.RTM_GETNEIGH, unix.RTM_GETRULE, unix.RTM_GETQDISC, unix.RTM_GETNETCONF:
		if !dump {
			err = unix.EOPNOTSUPP
		}
	default:
		if typ%4 == 2 { // RTM_GET*: nothing to report
			err = unix.EOPNOTSUPP
		} else if !ctx.Credentials().HasCapability(capNetAdmin) {
			err = unix.EPERM
		} else {
			err = unix.EOPNOTSUPP // the pod's network is read-only here
		}
	}
	if err != 0 {
		return [][]byte{errorMsg(req, err, port)}
	}
	var out [][]byte
	if len(m.b) > 0 {
		out = append(out, m.b)
	}
	if dump {
		var d nlMsg
		st := d.begin(unix.NLMSG_DONE, unix.NLM_F_MULTI, seq, port)
		d.b = append(d.b, 0, 0, 0, 0)
		d.end(st)
		out = append(out, d.b)
	} else if ack {
		out = append(out, errorMsg(req, 0, port))
	}
	return out
}

func (s *nlSock) links(m *nlMsg, body []byte, dump bool, seq, port uint32) unix.Errno {
	ifcs, err := s.st.Interfaces()
	if err != nil {
		return unix.ENOBUFS
	}
	var want int32
	if !dump {
		if len(body) < ifinfomsgLen {
			return unix.EINVAL
		}
		want = int32(binary.LittleEndian.Uint32(body[4:]))
	}
	found := false
	for _, ifc := range ifcs {
		if !dump && ifc.Index != want {
			continue
		}
		found = true
		flags := uint16(0)
		if dump {
			flags = unix.NLM_F_MULTI
		}
		st := m.begin(unix.RTM_NEWLINK, flags, seq, port)
		info := make([]byte, ifinfomsgLen)
		binary.LittleEndian.PutUint16(info[2:], ifc.ARPType)
		binary.LittleEndian.PutUint32(info[4:], uint32(ifc.Index))
		binary.LittleEndian.PutUint32(info[8:], ifc.Flags)
		m.raw(info)
		m.attrStr(unix.IFLA_IFNAME, ifc.Name)
		m.attrU32(unix.IFLA_TXQLEN, loopbackTxQLen)
		oper := byte(ifOperUnknown) // lo, as Linux
		if ifc.Flags&unix.IFF_LOOPBACK == 0 {
			oper = ifOperDown
			if ifc.Flags&unix.IFF_RUNNING != 0 {
				oper = ifOperUp
			}
		}
		m.attr(unix.IFLA_OPERSTATE, []byte{oper})
		m.attr(unix.IFLA_LINKMODE, []byte{0})
		m.attrU32(unix.IFLA_MTU, ifc.MTU)
		m.attrStr(unix.IFLA_QDISC, "noqueue")
		m.attr(unix.IFLA_ADDRESS, ifc.HardwareAddr)
		brd := make([]byte, len(ifc.HardwareAddr))
		if ifc.Flags&unix.IFF_LOOPBACK == 0 {
			for i := range brd {
				brd[i] = 0xff
			}
		}
		m.attr(unix.IFLA_BROADCAST, brd)
		m.end(st)
	}
	if !found {
		return unix.ENODEV
	}
	return 0
}

func (s *nlSock) addrs(m *nlMsg, body []byte, dump bool, seq, port uint32) unix.Errno {
	if !dump {
		return unix.EOPNOTSUPP // Linux has no RTM_GETADDR doit either
	}
	family := uint8(unix.AF_UNSPEC)
	if len(body) >= 1 {
		family = body[0]
	}
	ifcs, err := s.st.Interfaces()
	if err != nil {
		return unix.ENOBUFS
	}
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		if family != unix.AF_UNSPEC && family != fam {
			continue
		}
		for _, ifc := range ifcs {
			for _, a := range ifc.Addrs {
				if (a.Address.Len() == 4) != (fam == unix.AF_INET) {
					continue
				}
				st := m.begin(unix.RTM_NEWADDR, unix.NLM_F_MULTI, seq, port)
				m.raw([]byte{fam, uint8(a.PrefixLen), unix.IFA_F_PERMANENT, addrScope(ifc, a.Address), 0, 0, 0, 0})
				binary.LittleEndian.PutUint32(m.b[len(m.b)-4:], uint32(ifc.Index))
				addr := a.Address.AsSlice()
				m.attr(unix.IFA_ADDRESS, addr)
				if fam == unix.AF_INET {
					m.attr(unix.IFA_LOCAL, addr)
					m.attrStr(unix.IFA_LABEL, ifc.Name)
				}
				m.attrU32(unix.IFA_FLAGS, unix.IFA_F_PERMANENT)
				ci := make([]byte, 16)
				binary.LittleEndian.PutUint32(ci[0:], infinityLife)
				binary.LittleEndian.PutUint32(ci[4:], infinityLife)
				m.attr(unix.IFA_CACHEINFO, ci)
				m.end(st)
			}
		}
	}
	return 0
}

// routes dumps the main table (RTM_NEWROUTE per route of a NIC other than
// lo): directly connected subnets with scope link and the NIC's address
// as preferred source, others through their gateway.
func (s *nlSock) routes(m *nlMsg, body []byte, seq, port uint32) unix.Errno {
	family := uint8(unix.AF_UNSPEC)
	if len(body) >= 1 {
		family = body[0]
	}
	ifcs, err := s.st.Interfaces()
	if err != nil {
		return unix.ENOBUFS
	}
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		if family != unix.AF_UNSPEC && family != fam {
			continue
		}
		rs, err := s.st.Routes(int(fam))
		if err != nil {
			return unix.ENOBUFS
		}
		for _, r := range rs {
			direct := true
			for _, b := range r.Gateway {
				if b != 0 {
					direct = false
				}
			}
			st := m.begin(unix.RTM_NEWROUTE, unix.NLM_F_MULTI, seq, port)
			scope, proto := uint8(unix.RT_SCOPE_UNIVERSE), uint8(unix.RTPROT_BOOT)
			if direct {
				scope, proto = unix.RT_SCOPE_LINK, unix.RTPROT_KERNEL
			}
			m.raw([]byte{fam, uint8(r.PrefixLen), 0, 0, unix.RT_TABLE_MAIN, proto, scope, unix.RTN_UNICAST, 0, 0, 0, 0})
			m.attrU32(unix.RTA_TABLE, unix.RT_TABLE_MAIN)
			if r.PrefixLen > 0 {
				m.attr(unix.RTA_DST, r.Dst)
			}
			if direct {
				for _, ifc := range ifcs {
					if ifc.Index != r.Index {
						continue
					}
					for _, a := range ifc.Addrs {
						if a.Address.Len() == len(r.Dst) {
							m.attr(unix.RTA_PREFSRC, a.Address.AsSlice())
							break
						}
					}
				}
			} else {
				m.attr(unix.RTA_GATEWAY, r.Gateway)
			}
			m.attrU32(unix.RTA_OIF, uint32(r.Index))
			m.end(st)
		}
	}
	return 0
}

// addrScope is the scope Linux gives an address: host for loopback ones,
// link for IPv6 link-local (fe80::/10), universe for the rest.
func addrScope(ifc Interface, a tcpip.Address) uint8 {
	b := a.AsSlice()
	switch {
	case ifc.Flags&unix.IFF_LOOPBACK != 0:
		return unix.RT_SCOPE_HOST
	case len(b) == 16 && b[0] == 0xfe && b[1]&0xc0 == 0x80:
		return unix.RT_SCOPE_LINK
	}
	return unix.RT_SCOPE_UNIVERSE
}
