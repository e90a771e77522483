package inet

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/socket"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

// tctx is a caller: credentials and a small memory for ioctl arguments.
type tctx struct {
	creds *auth.Credentials
	mem   map[uintptr][]byte
}

func (c *tctx) Credentials() *auth.Credentials { return c.creds }
func (c *tctx) FSContext() *vfs.FSContext      { return nil }
func (c *tctx) CopyIn(addr uintptr, dst []byte) (int, error) {
	return copy(dst, c.mem[addr]), nil
}
func (c *tctx) CopyOut(addr uintptr, src []byte) (int, error) {
	c.mem[addr] = append([]byte(nil), src...)
	return len(src), nil
}

// blocker waits like kernel.Task.BlockOn, with a test limit.
type blocker struct{}

var errTestTimeout = errors.New("test blocker: waited 5s")

func (blocker) BlockOn(w waiter.Waitable, mask waiter.EventMask, deadline time.Time) error {
	e := waiter.NewEntry()
	w.EventRegister(e, mask)
	defer w.EventUnregister(e)
	limit := time.After(5 * time.Second)
	for {
		if w.Readiness(mask) != 0 {
			return nil
		}
		var dl <-chan time.Time
		if !deadline.IsZero() {
			dl = time.After(time.Until(deadline))
		}
		select {
		case <-e.C:
		case <-dl:
			return unix.ETIMEDOUT
		case <-limit:
			return errTestTimeout
		}
	}
}

type env struct {
	t   *testing.T
	v   *vfs.VirtualFilesystem
	ctx *tctx
}

func newEnv(t *testing.T) *env {
	v := vfs.New()
	t.Cleanup(func() { Forget(v) })
	return &env{t: t, v: v, ctx: &tctx{creds: auth.NewCredentials(0, 0, nil, auth.AllCaps), mem: map[uintptr][]byte{}}}
}

func (e *env) sock(family, stype, proto int) *sock {
	e.t.Helper()
	f, err := New(e.ctx, e.v, family, stype, proto, 0)
	if err != nil {
		e.t.Fatalf("socket(%d, %d, %d): %v", family, stype, proto, err)
	}
	e.t.Cleanup(func() { f.DecRef(e.ctx) })
	return f.Impl().(*sock)
}

func addr4(a [4]byte, port uint16) []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint16(b, unix.AF_INET)
	binary.BigEndian.PutUint16(b[2:], port)
	copy(b[4:], a[:])
	return b
}

var lo4 = [4]byte{127, 0, 0, 1}

func portOf(t *testing.T, s *sock) uint16 {
	t.Helper()
	sa, err := s.SockName(nil)
	if err != nil {
		t.Fatal(err)
	}
	return binary.BigEndian.Uint16(sa[2:])
}

// listener returns a TCP socket listening on 127.0.0.1 and its port.
func (e *env) listener() (*sock, uint16) {
	e.t.Helper()
	l := e.sock(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err := l.Bind(e.ctx, addr4(lo4, 0)); err != nil {
		e.t.Fatal(err)
	}
	if err := l.Listen(e.ctx, 8); err != nil {
		e.t.Fatal(err)
	}
	return l, portOf(e.t, l)
}

func (e *env) accept(l *sock) *sock {
	e.t.Helper()
	f, _, err := l.Accept(e.ctx, blocker{}, 0)
	if err != nil {
		e.t.Fatalf("accept: %v", err)
	}
	e.t.Cleanup(func() { f.DecRef(e.ctx) })
	return f.Impl().(*sock)
}

func send(t *testing.T, s *sock, b socket.Blocker, data string) {
	t.Helper()
	n, err := s.SendMsg(nil, b, [][]byte{[]byte(data)}, nil, socket.ControlMessages{}, 0)
	if err != nil || n != int64(len(data)) {
		t.Fatalf("send %q: %d %v", data, n, err)
	}
}

func recv(s *sock, b socket.Blocker, n, flags int) (string, error) {
	buf := make([]byte, n)
	r, err := s.RecvMsg(nil, b, [][]byte{buf}, flags, false)
	return string(buf[:r.N]), err
}

func TestStackIsLazy(t *testing.T) {
	e := newEnv(t)
	st := StackFor(e.v)
	if st.Started() {
		t.Fatal("the netstack exists before any socket")
	}
	t0 := time.Now()
	e.sock(unix.AF_INET, unix.SOCK_STREAM, 0)
	t.Logf("first socket (netstack creation included): %v", time.Since(t0))
	if !st.Started() || StackFor(e.v) != st {
		t.Fatal("the first socket did not build the sandbox's one stack")
	}
}

func TestTCPStream(t *testing.T) {
	e := newEnv(t)
	l, port := e.listener()
	c := e.sock(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err := c.Connect(e.ctx, blocker{}, addr4(lo4, port)); err != nil {
		t.Fatalf("connect: %v", err)
	}
	a := e.accept(l)
	send(t, c, blocker{}, "hello")
	if got, err := recv(a, blocker{}, 3, unix.MSG_PEEK); got != "hel" || err != nil {
		t.Errorf("peek: %q %v", got, err)
	}
	if got, err := recv(a, blocker{}, 10, 0); got != "hello" || err != nil {
		t.Errorf("recv: %q %v", got, err)
	}
	if _, err := recv(a, nil, 10, 0); err != unix.EAGAIN {
		t.Errorf("empty non-blocking recv: %v, want EAGAIN", err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		send(t, c, blocker{}, "ab")
		time.Sleep(20 * time.Millisecond)
		send(t, c, blocker{}, "cd")
	}()
	if got, err := recv(a, blocker{}, 4, unix.MSG_WAITALL); got != "abcd" || err != nil {
		t.Errorf("MSG_WAITALL: %q %v", got, err)
	}
	if err := c.Shutdown(e.ctx, unix.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	if got, err := recv(a, blocker{}, 10, 0); got != "" || err != nil {
		t.Errorf("after the peer's SHUT_WR: %q %v, want EOF", got, err)
	}
	if a.Readiness(waiter.EventRdHUp)&waiter.EventRdHUp == 0 {
		t.Error("no EPOLLRDHUP after the peer's SHUT_WR")
	}
	send(t, a, blocker{}, "half")
	if got, err := recv(c, blocker{}, 10, 0); got != "half" || err != nil {
		t.Errorf("half-closed socket still receives: %q %v", got, err)
	}
	if _, err := c.SendMsg(nil, nil, [][]byte{[]byte("x")}, nil, socket.ControlMessages{}, 0); err != unix.EPIPE {
		t.Errorf("send after SHUT_WR: %v, want EPIPE", err)
	}
	peer, err := a.PeerName(nil)
	if err != nil || !bytes.Equal(peer[4:8], lo4[:]) {
		t.Errorf("getpeername: %v %v", peer, err)
	}
}

func TestConnectErrors(t *testing.T) {
	e := newEnv(t)
	l, port := e.listener()
	_ = l
	// A closed port: ECONNREFUSED, blocking and non-blocking.
	closed := e.sock(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err := closed.Bind(e.ctx, addr4(lo4, 0)); err != nil {
		t.Fatal(err)
	}
	cport := portOf(t, closed)
	c := e.sock(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err := c.Connect(e.ctx, blocker{}, addr4(lo4, cport)); err != unix.ECONNREFUSED {
		t.Errorf("blocking connect to a closed port: %v, want ECONNREFUSED", err)
	}
	nb := e.sock(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err := nb.Connect(e.ctx, nil, addr4(lo4, cport)); err != unix.EINPROGRESS {
		t.Fatalf("non-blocking connect: %v, want EINPROGRESS", err)
	}
	if err := (blocker{}).BlockOn(nb, waiter.WritableEvents, time.Time{}); err != nil {
		t.Fatal(err)
	}
	v, err := nb.GetSockOpt(nil, unix.SOL_SOCKET, unix.SO_ERROR, 4)
	if err != nil || int32(binary.LittleEndian.Uint32(v)) != int32(unix.ECONNREFUSED) {
		t.Errorf("SO_ERROR after a refused connect: %v %v", v, err)
	}
	// Addresses.
	b := e.sock(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err := b.Bind(e.ctx, addr4(lo4, port)); err != unix.EADDRINUSE {
		t.Errorf("bind to a listening port: %v, want EADDRINUSE", err)
	}
	if err := b.Bind(e.ctx, addr4([4]byte{10, 9, 8, 7}, 0)); err != unix.EADDRNOTAVAIL {
		t.Errorf("bind to a foreign address: %v, want EADDRNOTAVAIL", err)
	}
	if err := b.Bind(e.ctx, addr4(lo4, 0)[:8]); err != unix.EINVAL {
		t.Errorf("short sockaddr: %v, want EINVAL", err)
	}
	six := make([]byte, 28)
	binary.LittleEndian.PutUint16(six, unix.AF_INET6)
	if err := b.Connect(e.ctx, blocker{}, six); err != unix.EAFNOSUPPORT {
		t.Errorf("AF_INET6 address on AF_INET: %v, want EAFNOSUPPORT", err)
	}
	if _, err := b.PeerName(nil); err != unix.ENOTCONN {
		t.Errorf("getpeername unconnected: %v", err)
	}
	user := &tctx{creds: auth.NewCredentials(1000, 1000, nil, 0), mem: map[uintptr][]byte{}}
	f, err := New(user, e.v, unix.AF_INET, unix.SOCK_STREAM, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.DecRef(user)
	if err := f.Impl().(*sock).Bind(user, addr4(lo4, 80)); err != unix.EACCES {
		t.Errorf("unprivileged bind to port 80: %v, want EACCES", err)
	}
}

func TestSocketTypes(t *testing.T) {
	e := newEnv(t)
	user := &tctx{creds: auth.NewCredentials(1000, 1000, nil, 0)}
	for _, tc := range []struct {
		ctx                  vfs.Context
		family, stype, proto int
		want                 error
	}{
		{e.ctx, unix.AF_INET, unix.SOCK_SEQPACKET, 0, unix.ESOCKTNOSUPPORT},
		{e.ctx, unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_UDP, unix.EPROTONOSUPPORT},
		{e.ctx, unix.AF_INET6, unix.SOCK_DGRAM, unix.IPPROTO_TCP, unix.EPROTONOSUPPORT},
		{user, unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP, unix.EPERM},
		{e.ctx, unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_ICMP, unix.EACCES}, // ping_group_range "1 0"
		{e.ctx, unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP, nil},
		{e.ctx, unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_ICMPV6, nil},
	} {
		f, err := New(tc.ctx, e.v, tc.family, tc.stype, tc.proto, 0)
		if err != tc.want {
			t.Errorf("socket(%d, %d, %d): %v, want %v", tc.family, tc.stype, tc.proto, err, tc.want)
		}
		if f != nil {
			f.DecRef(tc.ctx)
		}
	}
	StackFor(e.v).SetSysctls(func(p string) string {
		if p == "net/ipv4/ping_group_range" {
			return "0\t2147483647"
		}
		return ""
	})
	f, err := New(e.ctx, e.v, unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_ICMP, 0)
	if err != nil {
		t.Fatalf("ping socket within ping_group_range: %v", err)
	}
	f.DecRef(e.ctx)
}

func TestUDP(t *testing.T) {
	e := newEnv(t)
	a := e.sock(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err := a.Bind(e.ctx, addr4(lo4, 0)); err != nil {
		t.Fatal(err)
	}
	to := addr4(lo4, portOf(t, a))
	b := e.sock(unix.AF_INET, unix.SOCK_DGRAM, 0)
	for _, m := range []string{"first datagram", "second"} {
		if _, err := b.SendMsg(nil, blocker{}, [][]byte{[]byte(m)}, to, socket.ControlMessages{}, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := (blocker{}).BlockOn(a, waiter.ReadableEvents, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Ioctl(e.ctx, nil, linux.FIONREAD, 100); err != nil || binary.LittleEndian.Uint32(e.ctx.mem[100]) != 14 {
		t.Errorf("FIONREAD: %v %v, want the first datagram's 14 bytes", e.ctx.mem[100], err)
	}
	buf := make([]byte, 5)
	r, err := a.RecvMsg(nil, blocker{}, [][]byte{buf}, 0, true)
	if err != nil || r.N != 5 || r.MsgLen != 14 || r.Flags&unix.MSG_TRUNC == 0 || string(buf) != "first" {
		t.Errorf("truncated recvmsg: %+v %q %v", r, buf, err)
	}
	if len(r.From) != 16 || !bytes.Equal(r.From[4:8], lo4[:]) {
		t.Errorf("sender address %v", r.From)
	}
	if got, err := recv(a, blocker{}, 100, 0); got != "second" || err != nil {
		t.Errorf("next datagram: %q %v", got, err)
	}
	if err := a.SetSockOpt(nil, unix.SOL_SOCKET, unix.SO_RCVTIMEO, socket.Timeval(50*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if _, err := recv(a, blocker{}, 10, 0); err != unix.EAGAIN || time.Since(t0) < 40*time.Millisecond {
		t.Errorf("SO_RCVTIMEO: %v after %v, want EAGAIN after 50ms", err, time.Since(t0))
	}
}

func TestInterfaceIoctls(t *testing.T) {
	e := newEnv(t)
	s := e.sock(unix.AF_INET, unix.SOCK_DGRAM, 0)
	req := make([]byte, ifreqSize)
	copy(req, "lo")
	e.ctx.mem[200] = req
	if _, err := s.Ioctl(e.ctx, nil, unix.SIOCGIFINDEX, 200); err != nil || binary.LittleEndian.Uint32(e.ctx.mem[200][16:]) != 1 {
		t.Errorf("SIOCGIFINDEX lo: %v", err)
	}
	e.ctx.mem[200] = req
	if _, err := s.Ioctl(e.ctx, nil, unix.SIOCGIFFLAGS, 200); err != nil ||
		binary.LittleEndian.Uint16(e.ctx.mem[200][16:]) != unix.IFF_UP|unix.IFF_LOOPBACK|unix.IFF_RUNNING {
		t.Errorf("SIOCGIFFLAGS lo: %#x %v", binary.LittleEndian.Uint16(e.ctx.mem[200][16:]), err)
	}
	e.ctx.mem[200] = req
	if _, err := s.Ioctl(e.ctx, nil, unix.SIOCGIFADDR, 200); err != nil || !bytes.Equal(e.ctx.mem[200][20:24], lo4[:]) {
		t.Errorf("SIOCGIFADDR lo: %v", err)
	}
	bad := make([]byte, ifreqSize)
	copy(bad, "eth9")
	e.ctx.mem[200] = bad
	if _, err := s.Ioctl(e.ctx, nil, unix.SIOCGIFMTU, 200); err != unix.ENODEV {
		t.Errorf("SIOCGIFMTU eth9: %v, want ENODEV", err)
	}
	conf := make([]byte, ifconfSize) // NULL buffer: the length needed
	e.ctx.mem[300] = conf
	if _, err := s.Ioctl(e.ctx, nil, unix.SIOCGIFCONF, 300); err != nil || binary.LittleEndian.Uint32(e.ctx.mem[300]) != ifreqSize {
		t.Errorf("SIOCGIFCONF length: %v %v", e.ctx.mem[300], err)
	}
}

func TestDialLoopback(t *testing.T) {
	e := newEnv(t)
	st := StackFor(e.v)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := st.DialLoopback(ctx, 4242); err != unix.ECONNREFUSED {
		t.Errorf("dial with no listener: %v, want ECONNREFUSED", err)
	}
	// A server on ::1 only is reached through the fallback.
	l := e.sock(unix.AF_INET6, unix.SOCK_STREAM, 0)
	six := make([]byte, 28)
	binary.LittleEndian.PutUint16(six, unix.AF_INET6)
	binary.BigEndian.PutUint16(six[2:], 4242)
	six[23] = 1
	if err := l.Bind(e.ctx, six); err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(e.ctx, 1); err != nil {
		t.Fatal(err)
	}
	c, err := st.DialLoopback(ctx, 4242)
	if err != nil {
		t.Fatalf("dial ::1: %v", err)
	}
	defer c.Close()
	a := e.accept(l)
	if _, err := c.Write([]byte("via the sentry")); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	if got, err := recv(a, blocker{}, 100, unix.MSG_WAITALL); got != "via the sentry" || err != nil {
		t.Errorf("server got %q %v", got, err)
	}
	send(t, a, blocker{}, "answer")
	a.Shutdown(e.ctx, unix.SHUT_WR)
	got, err := io.ReadAll(c)
	if string(got) != "answer" || err != nil {
		t.Errorf("dialer got %q %v", got, err)
	}
}

// nlMessages splits a datagram into (type, body) pairs.
func nlMessages(t *testing.T, d []byte) (out []struct {
	typ  uint16
	body []byte
}) {
	t.Helper()
	for off := 0; off+nlmsgHdrLen <= len(d); {
		l := int(binary.LittleEndian.Uint32(d[off:]))
		if l < nlmsgHdrLen || off+l > len(d) {
			t.Fatalf("bad netlink length %d at %d of %d", l, off, len(d))
		}
		out = append(out, struct {
			typ  uint16
			body []byte
		}{binary.LittleEndian.Uint16(d[off+4:]), d[off+nlmsgHdrLen : off+l]})
		off += nlAlign(l)
	}
	return out
}

func TestNetlinkRoute(t *testing.T) {
	e := newEnv(t)
	f, err := NewNetlink(e.ctx, e.v, unix.SOCK_RAW, unix.NETLINK_ROUTE, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.DecRef(e.ctx)
	s := f.Impl().(*nlSock)
	if _, err := NewNetlink(e.ctx, e.v, unix.SOCK_RAW, unix.NETLINK_AUDIT, 0); err != unix.EPROTONOSUPPORT {
		t.Errorf("NETLINK_AUDIT: %v", err)
	}
	req := func(typ uint16, flags uint16, seq uint32, body []byte) {
		t.Helper()
		var m nlMsg
		st := m.begin(typ, unix.NLM_F_REQUEST|flags, seq, 0)
		m.raw(body)
		m.end(st)
		if _, err := s.SendMsg(e.ctx, nil, [][]byte{m.b}, nil, socket.ControlMessages{}, 0); err != nil {
			t.Fatal(err)
		}
	}
	read := func() []byte {
		t.Helper()
		buf := make([]byte, 8192)
		r, err := s.RecvMsg(nil, nil, [][]byte{buf}, 0, false)
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		return buf[:r.N]
	}
	req(unix.RTM_GETLINK, unix.NLM_F_DUMP, 7, make([]byte, 1))
	msgs := nlMessages(t, read())
	if len(msgs) != 1 || msgs[0].typ != unix.RTM_NEWLINK || int32(binary.LittleEndian.Uint32(msgs[0].body[4:])) != 1 ||
		!bytes.Contains(msgs[0].body, []byte("lo\x00")) {
		t.Fatalf("link dump: %+v", msgs)
	}
	if done := nlMessages(t, read()); len(done) != 1 || done[0].typ != unix.NLMSG_DONE {
		t.Fatalf("no NLMSG_DONE after the dump: %+v", done)
	}
	req(unix.RTM_GETADDR, unix.NLM_F_DUMP, 8, []byte{unix.AF_INET6})
	msgs = nlMessages(t, read())
	if len(msgs) != 1 || msgs[0].body[0] != unix.AF_INET6 || msgs[0].body[1] != 128 || !bytes.Contains(msgs[0].body, append(make([]byte, 15), 1)) {
		t.Fatalf("IPv6 address dump: %+v", msgs)
	}
	read() // NLMSG_DONE
	req(unix.RTM_NEWADDR, unix.NLM_F_ACK, 9, make([]byte, 8))
	msgs = nlMessages(t, read())
	if len(msgs) != 1 || msgs[0].typ != unix.NLMSG_ERROR || int32(binary.LittleEndian.Uint32(msgs[0].body)) != -int32(unix.EOPNOTSUPP) {
		t.Fatalf("RTM_NEWADDR by root: %+v, want EOPNOTSUPP", msgs)
	}
	if _, err := s.RecvMsg(nil, nil, [][]byte{make([]byte, 10)}, 0, false); err != unix.EAGAIN {
		t.Errorf("empty queue: %v, want EAGAIN", err)
	}
}

func TestRoutesOfAddedNIC(t *testing.T) {
	e := newEnv(t)
	st := StackFor(e.v)
	sub, err := tcpip.NewSubnet(tcpip.AddrFrom4([4]byte{10, 88, 0, 0}), tcpip.MaskFromBytes([]byte{255, 255, 0, 0}))
	if err != nil {
		t.Fatal(err)
	}
	any4, _ := tcpip.NewSubnet(tcpip.AddrFrom4([4]byte{}), tcpip.MaskFromBytes(make([]byte, 4)))
	err = st.AddNIC(NIC{ID: 2, Name: "eth0", Link: channel.New(16, 1500, ""),
		Addresses: []tcpip.ProtocolAddress{{Protocol: ipv4.ProtocolNumber,
			AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4([4]byte{10, 88, 0, 5}), PrefixLen: 16}}},
		Routes: []tcpip.Route{{Destination: sub, NIC: 2}, {Destination: any4, Gateway: tcpip.AddrFrom4([4]byte{10, 88, 0, 1}), NIC: 2}},
	})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := st.Routes(unix.AF_INET)
	if err != nil || len(rs) != 2 || rs[0].Iface != "eth0" || rs[0].PrefixLen != 16 || !bytes.Equal(rs[0].Mask, []byte{255, 255, 0, 0}) ||
		!bytes.Equal(rs[1].Gateway, []byte{10, 88, 0, 1}) {
		t.Fatalf("routes: %+v %v", rs, err)
	}
	f, err := NewNetlink(e.ctx, e.v, unix.SOCK_DGRAM, unix.NETLINK_ROUTE, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.DecRef(e.ctx)
	s := f.Impl().(*nlSock)
	var m nlMsg
	h := m.begin(unix.RTM_GETROUTE, unix.NLM_F_REQUEST|unix.NLM_F_DUMP, 1, 0)
	m.raw([]byte{unix.AF_INET})
	m.end(h)
	if _, err := s.SendMsg(e.ctx, nil, [][]byte{m.b}, nil, socket.ControlMessages{}, 0); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	r, err := s.RecvMsg(nil, nil, [][]byte{buf}, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	msgs := nlMessages(t, buf[:r.N])
	if len(msgs) != 2 || msgs[0].typ != unix.RTM_NEWROUTE || msgs[0].body[1] != 16 || msgs[1].body[1] != 0 ||
		!bytes.Contains(msgs[1].body, []byte{10, 88, 0, 1}) || !bytes.Contains(msgs[0].body, []byte{10, 88, 0, 5}) {
		t.Errorf("route dump: %+v", msgs)
	}
}
