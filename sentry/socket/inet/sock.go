package inet

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	// netstack's endpoints take and notify a waiter.Queue of this package
	// (tcpip's API exposes it); it is used only at that boundary (the
	// bridge entry of a sock), never elsewhere in the sentry.
	gwaiter "gvisor.dev/gvisor/pkg/waiter"

	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/socket"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

// sock is one inet socket.
type sock struct {
	vfs.FileDefaults
	socket.TimeoutOpts // SO_RCVTIMEO, SO_SNDTIMEO

	v        *vfs.VirtualFilesystem
	st       *Stack
	family   int
	stype    int
	protocol int

	ep tcpip.Endpoint
	// q is ep's netstack waiter queue; bridge forwards its events to wq.
	q      *gwaiter.Queue
	bridge gwaiter.Entry
	wq     waiter.Queue

	// ino and uid are the socket file's inode number and owner
	// (/proc/net), set once by newFile.
	ino uint64
	uid uint32
}

var (
	_ socket.Socket   = (*sock)(nil)
	_ socket.Timeouts = (*sock)(nil)
)

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

func netProto(family int) tcpip.NetworkProtocolNumber {
	if family == unix.AF_INET6 {
		return ipv6.ProtocolNumber
	}
	return ipv4.ProtocolNumber
}

// New implements socket(AF_INET/AF_INET6, stype, protocol) (stype without
// SOCK_NONBLOCK/SOCK_CLOEXEC): a new socket file with one reference. flags
// may hold O_NONBLOCK. Errors are Linux's: ESOCKTNOSUPPORT for other types,
// EPROTONOSUPPORT for protocols that do not fit the type, EPERM for
// SOCK_RAW without CAP_NET_RAW, EACCES for ping sockets outside
// net.ipv4.ping_group_range.
func New(ctx vfs.Context, v *vfs.VirtualFilesystem, family, stype, protocol int, flags uint32) (*vfs.FileDescription, error) {
	if family != unix.AF_INET && family != unix.AF_INET6 {
		return nil, unix.EAFNOSUPPORT
	}
	if protocol < 0 || protocol >= 256 {
		return nil, unix.EINVAL
	}
	st := StackFor(v)
	icmpProto := unix.IPPROTO_ICMP
	icmpNum := icmp.ProtocolNumber4
	if family == unix.AF_INET6 {
		icmpProto, icmpNum = unix.IPPROTO_ICMPV6, icmp.ProtocolNumber6
	}
	var trans tcpip.TransportProtocolNumber
	raw := false
	switch stype {
	case unix.SOCK_STREAM:
		if protocol != 0 && protocol != unix.IPPROTO_TCP {
			return nil, unix.EPROTONOSUPPORT
		}
		trans, protocol = tcp.ProtocolNumber, unix.IPPROTO_TCP
	case unix.SOCK_DGRAM:
		switch protocol {
		case 0, unix.IPPROTO_UDP:
			trans, protocol = udp.ProtocolNumber, unix.IPPROTO_UDP
		case icmpProto:
			if !st.pingAllowed(uint32(ctx.Credentials().EffectiveGID)) {
				return nil, unix.EACCES
			}
			trans = icmpNum
		default:
			return nil, unix.EPROTONOSUPPORT
		}
	case unix.SOCK_RAW:
		if !ctx.Credentials().HasCapability(auth.CapNetRaw) {
			return nil, unix.EPERM
		}
		if protocol == 0 {
			return nil, unix.EPROTONOSUPPORT
		}
		trans, raw = tcpip.TransportProtocolNumber(protocol), true
	default:
		return nil, unix.ESOCKTNOSUPPORT
	}
	ns, err := st.Netstack()
	if err != nil {
		return nil, err
	}
	q := &gwaiter.Queue{}
	var ep tcpip.Endpoint
	var terr tcpip.Error
	if raw {
		ep, terr = ns.NewRawEndpoint(trans, netProto(family), q, true)
	} else {
		ep, terr = ns.NewEndpoint(trans, netProto(family), q)
	}
	if terr != nil {
		return nil, errno(terr)
	}
	s := newSock(v, st, family, stype, protocol, ep, q)
	return s.newFile(ctx, flags), nil
}

func newSock(v *vfs.VirtualFilesystem, st *Stack, family, stype, protocol int, ep tcpip.Endpoint, q *gwaiter.Queue) *sock {
	s := &sock{v: v, st: st, family: family, stype: stype, protocol: protocol, ep: ep, q: q}
	s.bridge = gwaiter.NewFunctionEntry(gwaiter.EventMask(^uint64(0)), func(m gwaiter.EventMask) {
		s.wq.Notify(waiter.EventMask(m))
	})
	q.EventRegister(&s.bridge)
	return s
}

// newFile wraps s in an open file with one reference.
func (s *sock) newFile(ctx vfs.Context, flags uint32) *vfs.FileDescription {
	creds := ctx.Credentials()
	ino := &inode{ino: s.v.NextAnonIno(), uid: uint32(creds.EffectiveUID), gid: uint32(creds.EffectiveGID), ctime: vfs.NowTimestamp()}
	s.ino, s.uid = ino.ino, ino.uid
	s.st.register(s)
	vd := s.v.NewAnonVirtualDentry(fmt.Sprintf("socket:[%d]", ino.ino), ino)
	defer vd.DecRef()
	return s.v.NewFileDescription(s, vd, unix.O_RDWR|flags&unix.O_NONBLOCK)
}

// FromFile returns the inet socket behind fd, or nil.
func FromFile(fd *vfs.FileDescription) socket.Socket {
	if s, ok := fd.Impl().(*sock); ok {
		return s
	}
	return nil
}

// IsStream implements vfs.StreamFile.
func (s *sock) IsStream() bool { return true }

// Family implements socket.Socket.
func (s *sock) Family() int { return s.family }

// Type implements socket.Socket.
func (s *sock) Type() int { return s.stype }

// Protocol implements socket.Socket.
func (s *sock) Protocol() int { return s.protocol }

func (s *sock) isStream() bool { return s.stype == unix.SOCK_STREAM }

// Release implements vfs.FileImpl: the socket closes (SO_LINGER is
// netstack's business).
func (s *sock) Release(ctx vfs.Context) {
	s.st.unregister(s)
	s.q.EventUnregister(&s.bridge)
	s.ep.Close()
	s.wq.Notify(waiter.ReadableEvents | waiter.WritableEvents | waiter.EventHUp)
}

// Readiness implements waiter.Waitable (errors and hang-ups are always
// reported, as Linux's poll).
func (s *sock) Readiness(mask waiter.EventMask) waiter.EventMask {
	m := mask | waiter.EventHUp | waiter.EventErr
	return waiter.EventMask(s.ep.Readiness(gwaiter.EventMask(m))) & m
}

// EventRegister implements waiter.Waitable.
func (s *sock) EventRegister(e *waiter.Entry, mask waiter.EventMask) {
	s.wq.EventRegister(e, mask|waiter.EventHUp|waiter.EventErr)
}

// EventUnregister implements waiter.Waitable.
func (s *sock) EventUnregister(e *waiter.Entry) { s.wq.EventUnregister(e) }

func deadline(d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return time.Now().Add(d)
}

// waitErr maps a Blocker error as Linux's sock_intr_errno and timeouts do:
// a timeout is EAGAIN; a signal is EINTR when a timeout was set,
// ERESTARTSYS otherwise.
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
