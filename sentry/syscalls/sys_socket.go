package syscalls

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/arch"
	"github.com/runsc-cri/runsc-cri/sentry/kernel"
	"github.com/runsc-cri/runsc-cri/sentry/socket"
	"github.com/runsc-cri/runsc-cri/sentry/socket/inet"
	"github.com/runsc-cri/runsc-cri/sentry/socket/unixsock"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

const (
	famNote     = "AF_UNIX, AF_INET, AF_INET6"
	sockMsgNote = "AF_UNIX, AF_INET, AF_INET6; MSG_OOB unsupported"
)

func init() {
	addFamily(map[uintptr]Entry{
		unix.SYS_SOCKET: {Handler: Socket, Support: Partial,
			Note: "AF_UNIX; AF_INET and AF_INET6 over the pod's netstack (TCP, UDP, ICMP ping sockets, SOCK_RAW with CAP_NET_RAW); AF_NETLINK NETLINK_ROUTE read-only (links, addresses); AF_PACKET and the rest return EAFNOSUPPORT"},
		unix.SYS_SOCKETPAIR:  {Handler: SocketPair, Support: Full},
		unix.SYS_BIND:        {Handler: Bind, Support: Partial, Note: famNote + "; AF_UNIX path names need a filesystem with socket files (tmpfs; EOPNOTSUPP elsewhere)"},
		unix.SYS_LISTEN:      {Handler: Listen, Support: Partial, Note: famNote},
		unix.SYS_ACCEPT:      {Handler: Accept, Support: Partial, Note: famNote},
		unix.SYS_ACCEPT4:     {Handler: Accept4, Support: Partial, Note: famNote},
		unix.SYS_CONNECT:     {Handler: Connect, Support: Partial, Note: famNote},
		unix.SYS_GETSOCKNAME: {Handler: GetSockName, Support: Partial, Note: famNote},
		unix.SYS_GETPEERNAME: {Handler: GetPeerName, Support: Partial, Note: famNote},
		unix.SYS_SHUTDOWN:    {Handler: Shutdown, Support: Partial, Note: famNote},
		unix.SYS_SENDTO:      {Handler: SendTo, Support: Partial, Note: sockMsgNote},
		unix.SYS_RECVFROM:    {Handler: RecvFrom, Support: Partial, Note: sockMsgNote},
		unix.SYS_SENDMSG:     {Handler: SendMsg, Support: Partial, Note: sockMsgNote},
		unix.SYS_RECVMSG:     {Handler: RecvMsg, Support: Partial, Note: sockMsgNote},
		unix.SYS_SENDMMSG:    {Handler: SendMMsg, Support: Partial, Note: sockMsgNote},
		unix.SYS_RECVMMSG:    {Handler: RecvMMsg, Support: Partial, Note: sockMsgNote + "; the timeout is checked between messages, as Linux"},
		unix.SYS_SETSOCKOPT:  {Handler: SetSockOpt, Support: Partial, Note: "SOL_SOCKET options; SOL_TCP, SOL_IP, SOL_IPV6 options of inet sockets"},
		unix.SYS_GETSOCKOPT:  {Handler: GetSockOpt, Support: Partial, Note: "SOL_SOCKET options; SOL_TCP, SOL_IP, SOL_IPV6 options of inet sockets"},
	})
	socket.PIDOf = func(ctx vfs.Context) int32 {
		if t, ok := ctx.(*kernel.Task); ok {
			return int32(t.ThreadGroup().ID())
		}
		return 0
	}
}

// maxSockAddr is sizeof(struct sockaddr_storage).
const maxSockAddr = 128

// sockFile returns the socket at fd (with a reference on its file), EBADF
// or ENOTSOCK.
func sockFile(t *kernel.Task, fd int32) (*vfs.FileDescription, socket.Socket, error) {
	f, err := getFileNoPath(t, fd)
	if err != nil {
		return nil, nil, err
	}
	s, ok := f.Impl().(socket.Socket)
	if !ok {
		f.DecRef(t)
		return nil, nil, unix.ENOTSOCK
	}
	return f, s, nil
}

// sockBlocker returns t, or nil when the call must not wait.
func sockBlocker(t *kernel.Task, f *vfs.FileDescription, flags int) socket.Blocker {
	if f.IsNonblocking() || flags&unix.MSG_DONTWAIT != 0 {
		return nil
	}
	return t
}

func copyInSockAddr(t *kernel.Task, addr uintptr, l int32) ([]byte, error) {
	if l < 0 || l > maxSockAddr {
		return nil, unix.EINVAL
	}
	b := make([]byte, l)
	if l > 0 {
		if _, err := t.CopyIn(addr, b); err != nil {
			return nil, unix.EFAULT
		}
	}
	return b, nil
}

// copyOutSockAddr writes sa to addr (at most *lenAddr bytes) and its full
// length to lenAddr, as move_addr_to_user.
func copyOutSockAddr(t *kernel.Task, addr, lenAddr uintptr, sa []byte) error {
	if addr == 0 {
		return nil
	}
	var lb [4]byte
	if _, err := t.CopyIn(lenAddr, lb[:]); err != nil {
		return unix.EFAULT
	}
	l := int32(binary.LittleEndian.Uint32(lb[:]))
	if l < 0 {
		return unix.EINVAL
	}
	if n := min(int(l), len(sa)); n > 0 {
		if _, err := t.CopyOut(addr, sa[:n]); err != nil {
			return unix.EFAULT
		}
	}
	binary.LittleEndian.PutUint32(lb[:], uint32(len(sa)))
	if _, err := t.CopyOut(lenAddr, lb[:]); err != nil {
		return unix.EFAULT
	}
	return nil
}

// sockTypeFlags splits socket(2)'s type into the type and the file flags.
func sockTypeFlags(typ int32) (int, uint32, bool, error) {
	if typ&^(0xf|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC) != 0 || typ&0xf > unix.SOCK_PACKET {
		return 0, 0, false, unix.EINVAL
	}
	var flags uint32
	if typ&unix.SOCK_NONBLOCK != 0 {
		flags |= unix.O_NONBLOCK
	}
	return int(typ & 0xf), flags, typ&unix.SOCK_CLOEXEC != 0, nil
}

// Socket implements Linux syscall socket(2).
func Socket(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	domain, protocol := int(a.Int(0)), int(a.Int(2))
	stype, flags, cloexec, err := sockTypeFlags(a.Int(1))
	if err != nil {
		return 0, err
	}
	var f *vfs.FileDescription
	switch domain {
	case unix.AF_UNIX:
		f, err = unixsock.New(t, t.Kernel().VFS(), stype, protocol, flags)
	case unix.AF_INET, unix.AF_INET6:
		f, err = inet.New(t, t.Kernel().VFS(), domain, stype, protocol, flags)
	case unix.AF_NETLINK:
		f, err = inet.NewNetlink(t, t.Kernel().VFS(), stype, protocol, flags)
	default:
		// AF_PACKET...
		return 0, unix.EAFNOSUPPORT
	}
	if err != nil {
		return 0, err
	}
	return newFD(t, f, cloexec)
}

// SocketPair implements Linux syscall socketpair(2).
func SocketPair(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	domain, protocol := int(a.Int(0)), int(a.Int(2))
	stype, flags, cloexec, err := sockTypeFlags(a.Int(1))
	if err != nil {
		return 0, err
	}
	switch domain {
	case unix.AF_UNIX:
	case unix.AF_INET, unix.AF_INET6:
		return 0, unix.EOPNOTSUPP // as Linux: inet has no socketpair
	default:
		return 0, unix.EAFNOSUPPORT
	}
	f1, f2, err := unixsock.NewPair(t, t.Kernel().VFS(), stype, protocol, flags)
	if err != nil {
		return 0, err
	}
	defer f1.DecRef(t)
	defer f2.DecRef(t)
	fdf := vfs.FDFlags{CloseOnExec: cloexec}
	fd1, err := t.FDTable().NewFD(0, f1, fdf, nofileLimit(t))
	if err != nil {
		return 0, err
	}
	fd2, err := t.FDTable().NewFD(0, f2, fdf, nofileLimit(t))
	if err != nil {
		t.FDTable().Remove(fd1)
		return 0, err
	}
	var b [8]byte
	binary.LittleEndian.PutUint32(b[0:], uint32(fd1))
	binary.LittleEndian.PutUint32(b[4:], uint32(fd2))
	if _, err := t.CopyOut(a.Ptr(3), b[:]); err != nil {
		t.FDTable().Remove(fd1)
		t.FDTable().Remove(fd2)
		return 0, unix.EFAULT
	}
	return 0, nil
}

// Bind implements Linux syscall bind(2).
func Bind(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	f, s, err := sockFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	addr, err := copyInSockAddr(t, a.Ptr(1), a.Int(2))
	if err != nil {
		return 0, err
	}
	return 0, s.Bind(t, addr)
}

// Listen implements Linux syscall listen(2).
func Listen(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	f, s, err := sockFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	return 0, s.Listen(t, int(a.Int(1)))
}

// Accept implements Linux syscall accept(2).
func Accept(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	return accept4(t, a.Int(0), a.Ptr(1), a.Ptr(2), 0)
}

// Accept4 implements Linux syscall accept4(2).
func Accept4(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	return accept4(t, a.Int(0), a.Ptr(1), a.Ptr(2), a.Int(3))
}

func accept4(t *kernel.Task, fd int32, addr, lenAddr uintptr, flags int32) (uintptr, error) {
	if flags&^(unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC) != 0 {
		return 0, unix.EINVAL
	}
	f, s, err := sockFile(t, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	var fflags uint32
	if flags&unix.SOCK_NONBLOCK != 0 {
		fflags = unix.O_NONBLOCK
	}
	nf, peer, err := s.Accept(t, sockBlocker(t, f, 0), fflags)
	if err != nil {
		return 0, err
	}
	defer nf.DecRef(t)
	nfd, err := t.FDTable().NewFD(0, nf, vfs.FDFlags{CloseOnExec: flags&unix.SOCK_CLOEXEC != 0}, nofileLimit(t))
	if err != nil {
		return 0, err
	}
	if err := copyOutSockAddr(t, addr, lenAddr, peer); err != nil {
		t.FDTable().Remove(nfd)
		return 0, err
	}
	return uintptr(nfd), nil
}

// Connect implements Linux syscall connect(2).
func Connect(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	f, s, err := sockFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	addr, err := copyInSockAddr(t, a.Ptr(1), a.Int(2))
	if err != nil {
		return 0, err
	}
	return 0, s.Connect(t, sockBlocker(t, f, 0), addr)
}

// GetSockName implements Linux syscall getsockname(2).
func GetSockName(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	f, s, err := sockFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	sa, err := s.SockName(t)
	if err != nil {
		return 0, err
	}
	return 0, copyOutSockAddr(t, a.Ptr(1), a.Ptr(2), sa)
}

// GetPeerName implements Linux syscall getpeername(2).
func GetPeerName(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	f, s, err := sockFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	sa, err := s.PeerName(t)
	if err != nil {
		return 0, err
	}
	return 0, copyOutSockAddr(t, a.Ptr(1), a.Ptr(2), sa)
}

// Shutdown implements Linux syscall shutdown(2).
func Shutdown(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	f, s, err := sockFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	return 0, s.Shutdown(t, int(a.Int(1)))
}

// SetSockOpt implements Linux syscall setsockopt(2).
func SetSockOpt(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	f, s, err := sockFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	l := a.Int(4)
	if l < 0 {
		return 0, unix.EINVAL
	}
	l = min(l, 4096)
	val := make([]byte, l)
	if l > 0 {
		if _, err := t.CopyIn(a.Ptr(3), val); err != nil {
			return 0, unix.EFAULT
		}
	}
	return 0, s.SetSockOpt(t, int(a.Int(1)), int(a.Int(2)), val)
}

// GetSockOpt implements Linux syscall getsockopt(2).
func GetSockOpt(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	f, s, err := sockFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	var lb [4]byte
	if _, err := t.CopyIn(a.Ptr(4), lb[:]); err != nil {
		return 0, unix.EFAULT
	}
	l := int32(binary.LittleEndian.Uint32(lb[:]))
	if l < 0 {
		return 0, unix.EINVAL
	}
	val, err := s.GetSockOpt(t, int(a.Int(1)), int(a.Int(2)), int(l))
	if err != nil {
		return 0, err
	}
	n := min(int(l), len(val))
	if n > 0 {
		if _, err := t.CopyOut(a.Ptr(3), val[:n]); err != nil {
			return 0, unix.EFAULT
		}
	}
	binary.LittleEndian.PutUint32(lb[:], uint32(n))
	if _, err := t.CopyOut(a.Ptr(4), lb[:]); err != nil {
		return 0, unix.EFAULT
	}
	return 0, nil
}

// SendTo implements Linux syscall sendto(2).
func SendTo(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	f, s, err := sockFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	flags := int(a.Int(3))
	var to []byte
	if a.Ptr(4) != 0 {
		if to, err = copyInSockAddr(t, a.Ptr(4), a.Int(5)); err != nil {
			return 0, err
		}
		if len(to) == 0 {
			to = nil
		}
	}
	iovs := []iovec{{a.Ptr(1), clampCount(a.SizeT(2))}}
	return sockSend(t, f, s, iovs, to, socket.ControlMessages{}, flags)
}

// RecvFrom implements Linux syscall recvfrom(2).
func RecvFrom(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	f, s, err := sockFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	flags := int(a.Int(3))
	iovs := []iovec{{a.Ptr(1), clampCount(a.SizeT(2))}}
	var res socket.RecvResult
	n, err := sockRecv(t, f, s, iovs, flags, a.Ptr(4) != 0, &res)
	res.Control.Release(t)
	if err != nil {
		return 0, err
	}
	if a.Ptr(4) != 0 {
		if err := copyOutSockAddr(t, a.Ptr(4), a.Ptr(5), res.From); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// sockSend sends iovs' memory; EPIPE raises SIGPIPE unless MSG_NOSIGNAL.
func sockSend(t *kernel.Task, f *vfs.FileDescription, s socket.Socket, iovs []iovec, to []byte, ctrl socket.ControlMessages, flags int) (uintptr, error) {
	n, err := withIovecBlocks(t, iovs, false, func(bs [][]byte) (int64, error) {
		return s.SendMsg(t, sockBlocker(t, f, flags), bs, to, ctrl, flags)
	})
	if err == unix.EPIPE && flags&unix.MSG_NOSIGNAL == 0 {
		t.SendSIGPIPE()
	}
	if err != nil {
		return 0, err
	}
	return uintptr(n), nil
}

// sockRecv receives into iovs' memory; it returns what recv(2) returns
// (the datagram's full length with MSG_TRUNC) and fills res.
func sockRecv(t *kernel.Task, f *vfs.FileDescription, s socket.Socket, iovs []iovec, flags int, wantAddr bool, res *socket.RecvResult) (uintptr, error) {
	_, err := withIovecBlocks(t, iovs, true, func(bs [][]byte) (int64, error) {
		r, err := s.RecvMsg(t, sockBlocker(t, f, flags), bs, flags, wantAddr)
		*res = r
		return r.N, err
	})
	if err != nil {
		return 0, err
	}
	if flags&unix.MSG_TRUNC != 0 && s.Type() != unix.SOCK_STREAM {
		return uintptr(res.MsgLen), nil
	}
	return uintptr(res.N), nil
}

// msghdr offsets (struct msghdr on amd64, 56 bytes).
const (
	msghdrSize       = 56
	mmsghdrSize      = 64
	msgNameOff       = 0
	msgNameLenOff    = 8
	msgIovOff        = 16
	msgIovLenOff     = 24
	msgControlOff    = 32
	msgControlLenOff = 40
	msgFlagsOff      = 48
	maxControlLen    = 1 << 20
)

// SendMsg implements Linux syscall sendmsg(2).
func SendMsg(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	f, s, err := sockFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	return sendMsgAt(t, f, s, a.Ptr(1), int(a.Int(2)))
}

func sendMsgAt(t *kernel.Task, f *vfs.FileDescription, s socket.Socket, addr uintptr, flags int) (uintptr, error) {
	var h [msghdrSize]byte
	if _, err := t.CopyIn(addr, h[:]); err != nil {
		return 0, unix.EFAULT
	}
	le := binary.LittleEndian
	var to []byte
	if name := uintptr(le.Uint64(h[msgNameOff:])); name != 0 {
		var err error
		if to, err = copyInSockAddr(t, name, int32(le.Uint32(h[msgNameLenOff:]))); err != nil {
			return 0, err
		}
		if len(to) == 0 {
			to = nil
		}
	}
	iovLen := le.Uint64(h[msgIovLenOff:])
	if iovLen > linux.UIO_MAXIOV {
		return 0, unix.EMSGSIZE
	}
	iovs, err := copyInIovecs(t, uintptr(le.Uint64(h[msgIovOff:])), int32(iovLen))
	if err != nil {
		return 0, err
	}
	var ctrl socket.ControlMessages
	if cl := le.Uint64(h[msgControlLenOff:]); cl > 0 {
		if cl > maxControlLen {
			return 0, unix.ENOBUFS
		}
		buf := make([]byte, cl)
		if _, err := t.CopyIn(uintptr(le.Uint64(h[msgControlOff:])), buf); err != nil {
			return 0, unix.EFAULT
		}
		ctrl, err = socket.ParseControl(t, buf, func(fd int32) *vfs.FileDescription {
			f, _ := t.FDTable().Get(fd)
			return f
		})
		if err != nil {
			return 0, err
		}
		defer ctrl.Release(t)
	}
	return sockSend(t, f, s, iovs, to, ctrl, flags)
}

// RecvMsg implements Linux syscall recvmsg(2).
func RecvMsg(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	f, s, err := sockFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	return recvMsgAt(t, f, s, a.Ptr(1), int(a.Int(2)))
}

func recvMsgAt(t *kernel.Task, f *vfs.FileDescription, s socket.Socket, addr uintptr, flags int) (uintptr, error) {
	var h [msghdrSize]byte
	if _, err := t.CopyIn(addr, h[:]); err != nil {
		return 0, unix.EFAULT
	}
	le := binary.LittleEndian
	iovLen := le.Uint64(h[msgIovLenOff:])
	if iovLen > linux.UIO_MAXIOV {
		return 0, unix.EMSGSIZE
	}
	iovs, err := copyInIovecs(t, uintptr(le.Uint64(h[msgIovOff:])), int32(iovLen))
	if err != nil {
		return 0, err
	}
	name := uintptr(le.Uint64(h[msgNameOff:]))
	nameLen := int32(le.Uint32(h[msgNameLenOff:]))
	if name != 0 && nameLen < 0 {
		return 0, unix.EINVAL
	}
	var res socket.RecvResult
	n, err := sockRecv(t, f, s, iovs, flags, name != 0, &res)
	if err != nil {
		res.Control.Release(t)
		return 0, err
	}
	if name != 0 {
		if c := min(int(nameLen), len(res.From)); c > 0 {
			if _, err := t.CopyOut(name, res.From[:c]); err != nil {
				res.Control.Release(t)
				return 0, unix.EFAULT
			}
		}
		le.PutUint32(h[msgNameLenOff:], uint32(len(res.From)))
	} else {
		le.PutUint32(h[msgNameLenOff:], 0)
	}
	space := int(min(le.Uint64(h[msgControlLenOff:]), maxControlLen))
	if le.Uint64(h[msgControlOff:]) == 0 {
		space = 0
	}
	cloexec := flags&unix.MSG_CMSG_CLOEXEC != 0
	out, cflags := socket.EncodeControl(t, &res.Control, space, func(nf *vfs.FileDescription) (int32, error) {
		return t.FDTable().NewFD(0, nf, vfs.FDFlags{CloseOnExec: cloexec}, nofileLimit(t))
	})
	if len(out) > 0 {
		if _, err := t.CopyOut(uintptr(le.Uint64(h[msgControlOff:])), out); err != nil {
			return 0, unix.EFAULT
		}
	}
	le.PutUint64(h[msgControlLenOff:], uint64(len(out)))
	le.PutUint32(h[msgFlagsOff:], uint32(res.Flags|cflags))
	if _, err := t.CopyOut(addr, h[:]); err != nil {
		return 0, unix.EFAULT
	}
	return n, nil
}

// SendMMsg implements Linux syscall sendmmsg(2).
func SendMMsg(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	f, s, err := sockFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	vec, vlen, flags := a.Ptr(1), min(a.Uint(2), linux.UIO_MAXIOV), int(a.Int(3))
	var i uint32
	for ; i < vlen; i++ {
		m := vec + uintptr(i)*mmsghdrSize
		n, err := sendMsgAt(t, f, s, m, flags)
		if err != nil {
			if i > 0 {
				break
			}
			return 0, err
		}
		var lb [4]byte
		binary.LittleEndian.PutUint32(lb[:], uint32(n))
		if _, err := t.CopyOut(m+msghdrSize, lb[:]); err != nil {
			if i > 0 {
				break
			}
			return 0, unix.EFAULT
		}
	}
	return uintptr(i), nil
}

// RecvMMsg implements Linux syscall recvmmsg(2).
func RecvMMsg(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	f, s, err := sockFile(t, a.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	vec, vlen, flags := a.Ptr(1), min(a.Uint(2), linux.UIO_MAXIOV), int(a.Int(3))
	var dl time.Time
	if ts := a.Ptr(4); ts != 0 {
		var b [16]byte
		if _, err := t.CopyIn(ts, b[:]); err != nil {
			return 0, unix.EFAULT
		}
		sec, nsec := int64(binary.LittleEndian.Uint64(b[0:])), int64(binary.LittleEndian.Uint64(b[8:]))
		if sec < 0 || nsec < 0 || nsec >= 1e9 {
			return 0, unix.EINVAL
		}
		dl = time.Now().Add(time.Duration(sec)*time.Second + time.Duration(nsec))
	}
	var i uint32
	for ; i < vlen; i++ {
		m := vec + uintptr(i)*mmsghdrSize
		n, err := recvMsgAt(t, f, s, m, flags&^unix.MSG_WAITFORONE)
		if err != nil {
			if i > 0 {
				break
			}
			return 0, err
		}
		var lb [4]byte
		binary.LittleEndian.PutUint32(lb[:], uint32(n))
		if _, err := t.CopyOut(m+msghdrSize, lb[:]); err != nil {
			if i > 0 {
				break
			}
			return 0, unix.EFAULT
		}
		if flags&unix.MSG_WAITFORONE != 0 {
			flags |= unix.MSG_DONTWAIT
		}
		if !dl.IsZero() && time.Now().After(dl) {
			i++
			break
		}
	}
	return uintptr(i), nil
}
