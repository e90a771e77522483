package unixsock

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/tmpfs"
	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/memfile"
	"github.com/runsc-cri/runsc-cri/sentry/socket"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

// tctx is a caller: credentials, a pid, a filesystem context and a small
// memory for ioctl results.
type tctx struct {
	creds *auth.Credentials
	pid   int32
	fsc   *vfs.FSContext
	mem   map[uintptr][]byte
}

func (c *tctx) Credentials() *auth.Credentials { return c.creds }
func (c *tctx) PID() int32                     { return c.pid }
func (c *tctx) FSContext() *vfs.FSContext      { return c.fsc }
func (c *tctx) CopyIn(addr uintptr, dst []byte) (int, error) {
	return copy(dst, c.mem[addr]), nil
}
func (c *tctx) CopyOut(addr uintptr, src []byte) (int, error) {
	c.mem[addr] = append([]byte(nil), src...)
	return len(src), nil
}

// blocker waits like kernel.Task.BlockOn, with a test timeout.
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
	t      *testing.T
	v      *vfs.VirtualFilesystem
	ctx    *tctx
	closed map[*vfs.FileDescription]bool
	files  map[*vfs.FileDescription]bool
}

// close drops the test's reference on f now instead of at cleanup.
func (e *env) close(f *vfs.FileDescription) {
	e.closed[f] = true
	f.DecRef(e.ctx)
}

func (e *env) fileOf(s *sock) *vfs.FileDescription {
	for f := range e.files {
		if f.Impl() == any(s) {
			return f
		}
	}
	e.t.Fatal("no file for socket")
	return nil
}

func newEnv(t *testing.T) *env {
	t.Helper()
	v := vfs.New()
	ctx := &tctx{creds: auth.NewCredentials(0, 0, nil, auth.AllCaps), pid: 7, mem: map[uintptr][]byte{}}
	return &env{t: t, v: v, ctx: ctx, closed: map[*vfs.FileDescription]bool{}, files: map[*vfs.FileDescription]bool{}}
}

// withFS gives the env a tmpfs root for path names.
func (e *env) withFS() *env {
	mf, err := memfile.New("unixsock-test", 16<<20)
	if err != nil {
		e.t.Skipf("no memfd: %v", err)
	}
	e.t.Cleanup(func() { mf.Close() })
	fs := tmpfs.New(e.v, mf, tmpfs.Options{RootMode: 0o777})
	root := e.v.MountRoot(fs, "none", vfs.MountFlags{})
	e.ctx.fsc = vfs.NewFSContext(root, root)
	root.DecRef()
	return e
}

func (e *env) sock(stype int) (*vfs.FileDescription, *sock) {
	e.t.Helper()
	f, err := New(e.ctx, e.v, stype, 0, 0)
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	e.files[f] = true
	e.t.Cleanup(func() {
		if !e.closed[f] {
			f.DecRef(e.ctx)
		}
	})
	return f, f.Impl().(*sock)
}

func (e *env) pair(stype int) (*sock, *sock, *vfs.FileDescription, *vfs.FileDescription) {
	e.t.Helper()
	a, b, err := NewPair(e.ctx, e.v, stype, 0, 0)
	if err != nil {
		e.t.Fatalf("NewPair: %v", err)
	}
	return a.Impl().(*sock), b.Impl().(*sock), a, b
}

func abstractAddr(name string) []byte {
	return append([]byte{unix.AF_UNIX, 0, 0}, name...)
}

func pathAddr(p string) []byte {
	return append(append([]byte{unix.AF_UNIX, 0}, p...), 0)
}

func send(t *testing.T, ctx vfs.Context, s *sock, data string) {
	t.Helper()
	n, err := s.SendMsg(ctx, nil, [][]byte{[]byte(data)}, nil, socket.ControlMessages{}, 0)
	if err != nil || n != int64(len(data)) {
		t.Fatalf("send %q: %d %v", data, n, err)
	}
}

func recv(t *testing.T, ctx vfs.Context, s *sock, size, flags int) (string, socket.RecvResult) {
	t.Helper()
	buf := make([]byte, size)
	r, err := s.RecvMsg(ctx, nil, [][]byte{buf}, flags, true)
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	return string(buf[:r.N]), r
}

func TestStreamPair(t *testing.T) {
	e := newEnv(t)
	a, b, fa, fb := e.pair(unix.SOCK_STREAM)
	defer fb.DecRef(e.ctx)
	send(t, e.ctx, a, "hello ")
	send(t, e.ctx, a, "world")
	// A stream read spans writes, and vectors fill in order.
	b1, b2 := make([]byte, 3), make([]byte, 20)
	r, err := b.RecvMsg(e.ctx, nil, [][]byte{b1, b2}, 0, false)
	if err != nil || r.N != 11 || string(b1)+string(b2[:8]) != "hello world" {
		t.Fatalf("recv: %+v %v %q %q", r, err, b1, b2)
	}
	if _, err := b.RecvMsg(e.ctx, nil, [][]byte{b1}, 0, false); err != unix.EAGAIN {
		t.Fatalf("empty recv: %v, want EAGAIN", err)
	}
	// Write and read through the vfs file.
	if n, err := fa.Write(e.ctx, [][]byte{[]byte("xyz")}); err != nil || n != 3 {
		t.Fatalf("file write: %d %v", n, err)
	}
	if n, err := fb.Read(e.ctx, [][]byte{b2}); err != nil || n != 3 || string(b2[:3]) != "xyz" {
		t.Fatalf("file read: %d %v", n, err)
	}
	// Close a with unread data in it: b gets ECONNRESET once, then EOF.
	send(t, e.ctx, b, "unread")
	fa.DecRef(e.ctx)
	if _, err := b.RecvMsg(e.ctx, nil, [][]byte{b2}, 0, false); err != unix.ECONNRESET {
		t.Fatalf("recv after reset: %v", err)
	}
	if r, err := b.RecvMsg(e.ctx, nil, [][]byte{b2}, 0, false); err != nil || r.N != 0 {
		t.Fatalf("recv at EOF: %+v %v", r, err)
	}
	if _, err := b.SendMsg(e.ctx, nil, [][]byte{[]byte("x")}, nil, socket.ControlMessages{}, 0); err != unix.EPIPE {
		t.Fatalf("send to closed peer: %v, want EPIPE", err)
	}
	if got := b.Readiness(waiter.AllEvents); got&(waiter.EventHUp|waiter.EventIn|waiter.EventRdHUp) != waiter.EventHUp|waiter.EventIn|waiter.EventRdHUp {
		t.Fatalf("readiness after peer close: %#x", got)
	}
}

func TestDgramBoundaries(t *testing.T) {
	e := newEnv(t)
	a, b, fa, fb := e.pair(unix.SOCK_DGRAM)
	defer fa.DecRef(e.ctx)
	send(t, e.ctx, a, "first message")
	send(t, e.ctx, a, "")
	send(t, e.ctx, a, "third")
	got, r := recv(t, e.ctx, b, 5, 0)
	if got != "first" || r.Flags&unix.MSG_TRUNC == 0 || r.MsgLen != 13 {
		t.Fatalf("truncated datagram: %q %+v", got, r)
	}
	if got, r := recv(t, e.ctx, b, 100, 0); got != "" || r.MsgLen != 0 || r.Flags != 0 {
		t.Fatalf("empty datagram: %q %+v", got, r)
	}
	if got, _ := recv(t, e.ctx, b, 100, unix.MSG_PEEK); got != "third" {
		t.Fatalf("peek: %q", got)
	}
	if got, _ := recv(t, e.ctx, b, 100, 0); got != "third" {
		t.Fatalf("after peek: %q", got)
	}
	// EMSGSIZE above the send buffer.
	big := make([]byte, defaultBuf)
	if _, err := a.SendMsg(e.ctx, nil, [][]byte{big}, nil, socket.ControlMessages{}, 0); err != unix.EMSGSIZE {
		t.Fatalf("huge datagram: %v", err)
	}
	// Closing the peer does not end a datagram socket: sends are refused.
	e.close(fb)
	if _, err := a.SendMsg(e.ctx, nil, [][]byte{{1}}, nil, socket.ControlMessages{}, 0); err != unix.ECONNREFUSED {
		t.Fatalf("send to closed dgram peer: %v", err)
	}
	if _, err := a.RecvMsg(e.ctx, nil, [][]byte{make([]byte, 1)}, 0, false); err != unix.EAGAIN {
		t.Fatalf("recv on dgram whose peer closed: %v", err)
	}
}

func TestDgramUnconnected(t *testing.T) {
	e := newEnv(t)
	_, srv := e.sock(unix.SOCK_DGRAM)
	_, cli := e.sock(unix.SOCK_DGRAM)
	_, other := e.sock(unix.SOCK_DGRAM)
	if err := srv.Bind(e.ctx, abstractAddr("dsrv")); err != nil {
		t.Fatal(err)
	}
	if err := cli.Bind(e.ctx, abstractAddr("dcli")); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.SendMsg(e.ctx, nil, [][]byte{[]byte("x")}, nil, socket.ControlMessages{}, 0); err != unix.ENOTCONN {
		t.Fatalf("send without address: %v", err)
	}
	if n, err := cli.SendMsg(e.ctx, nil, [][]byte{[]byte("ping")}, abstractAddr("dsrv"), socket.ControlMessages{}, 0); err != nil || n != 4 {
		t.Fatalf("sendto: %d %v", n, err)
	}
	got, r := recv(t, e.ctx, srv, 10, 0)
	if got != "ping" || !bytes.Equal(r.From, abstractAddr("dcli")) {
		t.Fatalf("recvfrom: %q from %q", got, r.From)
	}
	// An unnamed sender has no address.
	if _, err := other.SendMsg(e.ctx, nil, [][]byte{[]byte("anon")}, abstractAddr("dsrv"), socket.ControlMessages{}, 0); err != nil {
		t.Fatal(err)
	}
	if _, r := recv(t, e.ctx, srv, 10, 0); r.From != nil {
		t.Fatalf("unnamed sender has address %q", r.From)
	}
	// A server connected to cli refuses others (EPERM).
	if err := srv.Connect(e.ctx, nil, abstractAddr("dcli")); err != nil {
		t.Fatal(err)
	}
	if _, err := other.SendMsg(e.ctx, nil, [][]byte{[]byte("no")}, abstractAddr("dsrv"), socket.ControlMessages{}, 0); err != unix.EPERM {
		t.Fatalf("send to a socket connected elsewhere: %v", err)
	}
	if _, err := cli.SendMsg(e.ctx, nil, [][]byte{[]byte("ok")}, abstractAddr("dsrv"), socket.ControlMessages{}, 0); err != nil {
		t.Fatal(err)
	}
	if err := cli.Connect(e.ctx, nil, abstractAddr("nobody")); err != unix.ECONNREFUSED {
		t.Fatalf("connect to nothing: %v", err)
	}
	// Type mismatch.
	_, st := e.sock(unix.SOCK_STREAM)
	if err := st.Connect(e.ctx, nil, abstractAddr("dsrv")); err != unix.EPROTOTYPE {
		t.Fatalf("stream to dgram: %v", err)
	}
}

func TestListenAcceptAbstract(t *testing.T) {
	e := newEnv(t)
	_, l := e.sock(unix.SOCK_STREAM)
	if err := l.Listen(e.ctx, 1); err != unix.EINVAL {
		t.Fatalf("listen unbound: %v", err)
	}
	if err := l.Bind(e.ctx, abstractAddr("srv")); err != nil {
		t.Fatal(err)
	}
	_, dup := e.sock(unix.SOCK_STREAM)
	if err := dup.Bind(e.ctx, abstractAddr("srv")); err != unix.EADDRINUSE {
		t.Fatalf("second bind: %v", err)
	}
	if err := l.Bind(e.ctx, abstractAddr("again")); err != unix.EINVAL {
		t.Fatalf("rebind: %v", err)
	}
	listener := &tctx{creds: auth.NewCredentials(1000, 1001, nil, 0), pid: 42, mem: map[uintptr][]byte{}}
	if err := l.Listen(listener, 0); err != nil {
		t.Fatal(err)
	}
	if l.Readiness(waiter.AllEvents)&(waiter.EventIn|waiter.EventOut) != 0 {
		t.Fatalf("idle listener ready: %#x", l.Readiness(waiter.AllEvents))
	}
	if _, _, err := l.Accept(e.ctx, nil, 0); err != unix.EAGAIN {
		t.Fatalf("accept on empty: %v", err)
	}
	_, c := e.sock(unix.SOCK_STREAM)
	if err := c.Connect(e.ctx, nil, abstractAddr("srv")); err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(e.ctx, nil, abstractAddr("srv")); err != unix.EISCONN {
		t.Fatalf("second connect: %v", err)
	}
	// The client may write before accept.
	send(t, e.ctx, c, "early")
	// Backlog 0 admits one; the next non-blocking connect is EAGAIN.
	_, c2 := e.sock(unix.SOCK_STREAM)
	if err := c2.Connect(e.ctx, nil, abstractAddr("srv")); err != unix.EAGAIN {
		t.Fatalf("connect over backlog: %v", err)
	}
	if l.Readiness(waiter.ReadableEvents) == 0 {
		t.Fatal("listener with a pending connection not readable")
	}
	nf, peer, err := l.Accept(e.ctx, nil, unix.O_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer nf.DecRef(e.ctx)
	if !nf.IsNonblocking() || !bytes.Equal(peer, []byte{unix.AF_UNIX, 0}) {
		t.Fatalf("accepted: nonblock %v peer %q", nf.IsNonblocking(), peer)
	}
	s := nf.Impl().(*sock)
	if got, _ := recv(t, e.ctx, s, 10, 0); got != "early" {
		t.Fatalf("accepted read %q", got)
	}
	if name, _ := s.SockName(e.ctx); !bytes.Equal(name, abstractAddr("srv")) {
		t.Fatalf("accepted sockname %q", name)
	}
	if name, _ := c.PeerName(e.ctx); !bytes.Equal(name, abstractAddr("srv")) {
		t.Fatalf("client peername %q", name)
	}
	if _, err := l.PeerName(e.ctx); err != unix.ENOTCONN {
		t.Fatalf("listener peername: %v", err)
	}
	// SO_PEERCRED: the client sees the listen() caller, the server the
	// connect() caller.
	pc, _ := c.GetSockOpt(e.ctx, unix.SOL_SOCKET, unix.SO_PEERCRED, 12)
	if want := (socket.Creds{PID: 42, UID: 1000, GID: 1001}).Marshal(); !bytes.Equal(pc, want) {
		t.Fatalf("client SO_PEERCRED %v want %v", pc, want)
	}
	pc, _ = s.GetSockOpt(e.ctx, unix.SOL_SOCKET, unix.SO_PEERCRED, 12)
	if want := (socket.Creds{PID: 7}).Marshal(); !bytes.Equal(pc, want) {
		t.Fatalf("server SO_PEERCRED %v want %v", pc, want)
	}
	if v, _ := l.GetSockOpt(e.ctx, unix.SOL_SOCKET, unix.SO_ACCEPTCONN, 4); !bytes.Equal(v, socket.Int32Val(1)) {
		t.Fatalf("SO_ACCEPTCONN %v", v)
	}
	// Now c2 fits; a blocking connect succeeds.
	if err := c2.Connect(e.ctx, blocker{}, abstractAddr("srv")); err != nil {
		t.Fatalf("blocking connect: %v", err)
	}
	// Closing the listener resets the unaccepted client and frees the name.
	e.close(e.fileOf(l))
	if _, err := c2.RecvMsg(e.ctx, nil, [][]byte{make([]byte, 4)}, 0, false); err != unix.ECONNRESET {
		t.Fatalf("unaccepted client after listener close: %v", err)
	}
	_, c3 := e.sock(unix.SOCK_STREAM)
	if err := c3.Connect(e.ctx, nil, abstractAddr("srv")); err != unix.ECONNREFUSED {
		t.Fatalf("connect to closed listener: %v", err)
	}
}

func TestAutobind(t *testing.T) {
	e := newEnv(t)
	_, s := e.sock(unix.SOCK_DGRAM)
	if err := s.Bind(e.ctx, []byte{unix.AF_UNIX, 0}); err != nil {
		t.Fatal(err)
	}
	name, _ := s.SockName(e.ctx)
	if len(name) != 8 || name[2] != 0 {
		t.Fatalf("autobound name %q", name)
	}
	// SO_PASSCRED autobinds on connect.
	_, l := e.sock(unix.SOCK_STREAM)
	l.Bind(e.ctx, abstractAddr("pc"))
	l.Listen(e.ctx, 5)
	_, c := e.sock(unix.SOCK_STREAM)
	c.SetSockOpt(e.ctx, unix.SOL_SOCKET, unix.SO_PASSCRED, socket.Int32Val(1))
	if err := c.Connect(e.ctx, nil, abstractAddr("pc")); err != nil {
		t.Fatal(err)
	}
	if name, _ := c.SockName(e.ctx); len(name) != 8 {
		t.Fatalf("passcred client not autobound: %q", name)
	}
}

func TestPathBind(t *testing.T) {
	e := newEnv(t).withFS()
	_, l := e.sock(unix.SOCK_STREAM)
	if err := l.Bind(e.ctx, pathAddr("/sock")); err != nil {
		t.Fatal(err)
	}
	pop := e.ctx.fsc.PathOp(vfs.VirtualDentry{}, "/sock", false)
	st, err := e.v.StatAt(e.ctx, pop)
	pop.Release()
	if err != nil || uint32(st.Mode)&linux.S_IFMT != linux.S_IFSOCK {
		t.Fatalf("socket file: %v mode %o", err, st.Mode)
	}
	_, l2 := e.sock(unix.SOCK_STREAM)
	if err := l2.Bind(e.ctx, pathAddr("/sock")); err != unix.EADDRINUSE {
		t.Fatalf("bind over existing file: %v", err)
	}
	if err := l2.Bind(e.ctx, pathAddr("/missing/dir/sock")); err != unix.ENOENT {
		t.Fatalf("bind in missing dir: %v", err)
	}
	if name, _ := l.SockName(e.ctx); !bytes.Equal(name, pathAddr("/sock")) {
		t.Fatalf("sockname %q", name)
	}
	if err := l.Listen(e.ctx, 4); err != nil {
		t.Fatal(err)
	}
	_, c := e.sock(unix.SOCK_STREAM)
	if err := c.Connect(e.ctx, nil, pathAddr("/missing")); err != unix.ENOENT {
		t.Fatalf("connect to missing path: %v", err)
	}
	// Not a NUL-terminated path: the address length ends it.
	if err := c.Connect(e.ctx, nil, append([]byte{unix.AF_UNIX, 0}, "/sock"...)); err != nil {
		t.Fatalf("connect by path: %v", err)
	}
	nf, _, err := l.Accept(e.ctx, blocker{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	nf.DecRef(e.ctx)
	// A user without write permission on the file is refused.
	user := &tctx{creds: auth.NewCredentials(1000, 1000, nil, 0), fsc: e.ctx.fsc, mem: map[uintptr][]byte{}}
	pop = e.ctx.fsc.PathOp(vfs.VirtualDentry{}, "/sock", false)
	e.v.SetStatAt(e.ctx, pop, &vfs.SetStatOptions{Mask: linux.STATX_MODE, Mode: 0o755})
	pop.Release()
	_, c2 := e.sock(unix.SOCK_STREAM)
	if err := c2.Connect(user, nil, pathAddr("/sock")); err != unix.EACCES {
		t.Fatalf("connect without permission: %v", err)
	}
	// After close the file stays but refuses connections.
	e.close(e.fileOf(l))
	if err := c2.Connect(e.ctx, nil, pathAddr("/sock")); err != unix.ECONNREFUSED {
		t.Fatalf("connect to closed socket's file: %v", err)
	}
}

func TestSeqpacket(t *testing.T) {
	e := newEnv(t)
	_, l := e.sock(unix.SOCK_SEQPACKET)
	l.Bind(e.ctx, abstractAddr("seq"))
	if err := l.Listen(e.ctx, 8); err != nil {
		t.Fatal(err)
	}
	cf, c := e.sock(unix.SOCK_SEQPACKET)
	if _, err := c.SendMsg(e.ctx, nil, [][]byte{[]byte("x")}, nil, socket.ControlMessages{}, 0); err != unix.ENOTCONN {
		t.Fatalf("send unconnected: %v", err)
	}
	if err := c.Connect(e.ctx, nil, abstractAddr("seq")); err != nil {
		t.Fatal(err)
	}
	nf, _, err := l.Accept(e.ctx, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer nf.DecRef(e.ctx)
	s := nf.Impl().(*sock)
	send(t, e.ctx, c, "one")
	send(t, e.ctx, c, "two two")
	if got, _ := recv(t, e.ctx, s, 100, 0); got != "one" {
		t.Fatalf("seqpacket 1: %q", got)
	}
	if got, r := recv(t, e.ctx, s, 3, 0); got != "two" || r.Flags&unix.MSG_TRUNC == 0 || r.MsgLen != 7 {
		t.Fatalf("seqpacket 2: %q %+v", got, r)
	}
	e.close(cf)
	if got, r := recv(t, e.ctx, s, 3, 0); got != "" || r.N != 0 {
		t.Fatalf("seqpacket EOF: %q %+v", got, r)
	}
	if _, err := s.SendMsg(e.ctx, nil, [][]byte{[]byte("x")}, nil, socket.ControlMessages{}, 0); err != unix.EPIPE {
		t.Fatalf("send to closed seqpacket peer: %v", err)
	}
}

func TestShutdown(t *testing.T) {
	e := newEnv(t)
	a, b, fa, fb := e.pair(unix.SOCK_STREAM)
	defer fa.DecRef(e.ctx)
	defer fb.DecRef(e.ctx)
	send(t, e.ctx, a, "last")
	if err := a.Shutdown(e.ctx, unix.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SendMsg(e.ctx, nil, [][]byte{[]byte("x")}, nil, socket.ControlMessages{}, 0); err != unix.EPIPE {
		t.Fatalf("send after SHUT_WR: %v", err)
	}
	if got := b.Readiness(waiter.AllEvents); got&waiter.EventRdHUp == 0 || got&waiter.EventHUp != 0 {
		t.Fatalf("peer readiness after SHUT_WR: %#x", got)
	}
	if got, _ := recv(t, e.ctx, b, 100, 0); got != "last" {
		t.Fatalf("data before EOF: %q", got)
	}
	if got, r := recv(t, e.ctx, b, 100, 0); got != "" || r.N != 0 {
		t.Fatal("no EOF after SHUT_WR")
	}
	// b may still write to a.
	send(t, e.ctx, b, "back")
	if got, _ := recv(t, e.ctx, a, 100, 0); got != "back" {
		t.Fatalf("reverse direction: %q", got)
	}
	// SHUT_RD on a: b's sends fail.
	a.Shutdown(e.ctx, unix.SHUT_RD)
	if _, err := b.SendMsg(e.ctx, nil, [][]byte{[]byte("x")}, nil, socket.ControlMessages{}, 0); err != unix.EPIPE {
		t.Fatalf("send to SHUT_RD peer: %v", err)
	}
	if got := a.Readiness(waiter.AllEvents); got&waiter.EventHUp == 0 {
		t.Fatalf("fully shut socket not HUP: %#x", got)
	}
	if err := a.Shutdown(e.ctx, 7); err != unix.EINVAL {
		t.Fatalf("bad how: %v", err)
	}
}

func TestReadinessAndFlowControl(t *testing.T) {
	e := newEnv(t)
	_, u := e.sock(unix.SOCK_STREAM)
	if got := u.Readiness(waiter.AllEvents); got != waiter.WritableEvents|waiter.EventHUp {
		t.Fatalf("unconnected stream readiness %#x", got)
	}
	a, b, fa, fb := e.pair(unix.SOCK_STREAM)
	defer fa.DecRef(e.ctx)
	defer fb.DecRef(e.ctx)
	if got := a.Readiness(waiter.AllEvents); got != waiter.WritableEvents {
		t.Fatalf("connected idle readiness %#x", got)
	}
	ent := waiter.NewEntry()
	b.EventRegister(ent, waiter.ReadableEvents)
	send(t, e.ctx, a, "x")
	select {
	case <-ent.C:
	default:
		t.Fatal("no readable notification")
	}
	b.EventUnregister(ent)
	recv(t, e.ctx, b, 10, 0)
	// Fill until EAGAIN; a non-blocking send may be partial.
	chunk := make([]byte, 64<<10)
	var total int64
	for {
		n, err := a.SendMsg(e.ctx, nil, [][]byte{chunk}, nil, socket.ControlMessages{}, 0)
		total += n
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if total != defaultBuf {
		t.Fatalf("buffered %d, want %d", total, defaultBuf)
	}
	if a.Readiness(waiter.WritableEvents) != 0 {
		t.Fatal("full socket writable")
	}
	var outq int32
	e.ctx.mem = map[uintptr][]byte{}
	a.Ioctl(e.ctx, nil, linux.TIOCOUTQ, 0x10)
	b.Ioctl(e.ctx, nil, linux.FIONREAD, 0x20)
	outq = int32(binary.LittleEndian.Uint32(e.ctx.mem[0x10]))
	if inq := int32(binary.LittleEndian.Uint32(e.ctx.mem[0x20])); inq != defaultBuf || outq != defaultBuf {
		t.Fatalf("FIONREAD %d TIOCOUTQ %d", inq, outq)
	}
	ent = waiter.NewEntry()
	a.EventRegister(ent, waiter.WritableEvents)
	defer a.EventUnregister(ent)
	// Draining most of it makes a writable again, with a notification.
	big := make([]byte, defaultBuf-1000)
	if r, err := b.RecvMsg(e.ctx, nil, [][]byte{big}, 0, false); err != nil || r.N != int64(len(big)) {
		t.Fatalf("drain: %+v %v", r, err)
	}
	select {
	case <-ent.C:
	default:
		t.Fatal("no writable notification")
	}
	if a.Readiness(waiter.WritableEvents) == 0 {
		t.Fatal("drained socket not writable")
	}
}

func TestBlocking(t *testing.T) {
	e := newEnv(t)
	a, b, fa, fb := e.pair(unix.SOCK_STREAM)
	defer fa.DecRef(e.ctx)
	defer fb.DecRef(e.ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, s := range []string{"ab", "cd", "ef"} {
			time.Sleep(5 * time.Millisecond)
			send(t, e.ctx, a, s)
		}
	}()
	buf := make([]byte, 6)
	r, err := b.RecvMsg(e.ctx, blocker{}, [][]byte{buf}, unix.MSG_WAITALL, false)
	wg.Wait()
	if err != nil || r.N != 6 || string(buf) != "abcdef" {
		t.Fatalf("MSG_WAITALL: %+v %v %q", r, err, buf)
	}
	// SO_RCVTIMEO: EAGAIN after the timeout.
	if err := b.SetSockOpt(e.ctx, unix.SOL_SOCKET, unix.SO_RCVTIMEO, socket.Timeval(20*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := b.RecvMsg(e.ctx, blocker{}, [][]byte{buf}, 0, false); err != unix.EAGAIN || time.Since(start) < 15*time.Millisecond {
		t.Fatalf("recv with timeout: %v after %v", err, time.Since(start))
	}
	if v, _ := b.GetSockOpt(e.ctx, unix.SOL_SOCKET, unix.SO_RCVTIMEO, 16); !bytes.Equal(v, socket.Timeval(20*time.Millisecond)) {
		t.Fatalf("SO_RCVTIMEO read back %v", v)
	}
	// A blocking send larger than the buffer completes as the reader drains.
	big := make([]byte, 3*defaultBuf)
	for i := range big {
		big[i] = byte(i)
	}
	got := make([]byte, 0, len(big))
	wg.Add(1)
	go func() {
		defer wg.Done()
		tmp := make([]byte, 50000)
		for len(got) < len(big) {
			r, err := b.RecvMsg(e.ctx, blocker{}, [][]byte{tmp}, 0, false)
			if err != nil {
				t.Errorf("reader: %v", err)
				return
			}
			got = append(got, tmp[:r.N]...)
		}
	}()
	n, err := a.SendMsg(e.ctx, blocker{}, [][]byte{big}, nil, socket.ControlMessages{}, 0)
	wg.Wait()
	if err != nil || n != int64(len(big)) || !bytes.Equal(got, big) {
		t.Fatalf("big blocking send: %d %v (got %d bytes)", n, err, len(got))
	}
	// Blocking accept wakes on connect.
	_, l := e.sock(unix.SOCK_STREAM)
	l.Bind(e.ctx, abstractAddr("blk"))
	l.Listen(e.ctx, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(5 * time.Millisecond)
		f, _ := New(e.ctx, e.v, unix.SOCK_STREAM, 0, 0)
		defer f.DecRef(e.ctx)
		if err := f.Impl().(*sock).Connect(e.ctx, nil, abstractAddr("blk")); err != nil {
			t.Errorf("connect: %v", err)
		}
	}()
	nf, _, err := l.Accept(e.ctx, blocker{}, 0)
	wg.Wait()
	if err != nil {
		t.Fatalf("blocking accept: %v", err)
	}
	nf.DecRef(e.ctx)
}

func TestDgramQueueLimit(t *testing.T) {
	e := newEnv(t)
	_, srv := e.sock(unix.SOCK_DGRAM)
	srv.Bind(e.ctx, abstractAddr("q"))
	_, cli := e.sock(unix.SOCK_DGRAM)
	// A large send buffer, so that the queue length is what limits.
	cli.SetSockOpt(e.ctx, unix.SOL_SOCKET, unix.SO_SNDBUF, socket.Int32Val(1<<30))
	if err := cli.Connect(e.ctx, nil, abstractAddr("q")); err != nil {
		t.Fatal(err)
	}
	var sent int
	for ; sent < 10000; sent++ {
		if _, err := cli.SendMsg(e.ctx, nil, [][]byte{{1}}, nil, socket.ControlMessages{}, 0); err != nil {
			if err != unix.EAGAIN {
				t.Fatal(err)
			}
			break
		}
	}
	if sent != maxDgramQlen+1 {
		t.Fatalf("queued %d datagrams, want %d", sent, maxDgramQlen+1)
	}
	if cli.Readiness(waiter.WritableEvents) != 0 {
		t.Fatal("sender to a full receiver is writable")
	}
	ent := waiter.NewEntry()
	cli.EventRegister(ent, waiter.WritableEvents)
	defer cli.EventUnregister(ent)
	recv(t, e.ctx, srv, 1, 0)
	select {
	case <-ent.C:
	default:
		t.Fatal("no writable notification through the receiver's queue")
	}
	if cli.Readiness(waiter.WritableEvents) == 0 {
		t.Fatal("not writable after the receiver read")
	}
	// The receiver dies: the connected sender gets ECONNREFUSED once,
	// then ENOTCONN.
	e.close(e.fileOf(srv))
	if _, err := cli.SendMsg(e.ctx, nil, [][]byte{{1}}, nil, socket.ControlMessages{}, 0); err != unix.ECONNREFUSED {
		t.Fatalf("send to dead peer: %v", err)
	}
	if _, err := cli.SendMsg(e.ctx, nil, [][]byte{{1}}, nil, socket.ControlMessages{}, 0); err != unix.ENOTCONN {
		t.Fatalf("send after refusal: %v", err)
	}
}

func TestSockOptsAndTypes(t *testing.T) {
	e := newEnv(t)
	if _, err := New(e.ctx, e.v, 9, 0, 0); err != unix.ESOCKTNOSUPPORT {
		t.Fatalf("bad type: %v", err)
	}
	if _, err := New(e.ctx, e.v, unix.SOCK_STREAM, 6, 0); err != unix.EPROTONOSUPPORT {
		t.Fatalf("bad protocol: %v", err)
	}
	f, s := e.sock(unix.SOCK_SEQPACKET)
	st, err := f.Stat(e.ctx)
	if err != nil || uint32(st.Mode)&linux.S_IFMT != linux.S_IFSOCK {
		t.Fatalf("stat: %v %o", err, st.Mode)
	}
	if p, _ := e.v.PathOf(vfs.VirtualDentry{}, f.VirtualDentry()); p != "socket:["+itoa(st.Ino)+"]" {
		t.Fatalf("fd link %q", p)
	}
	get := func(name int) []byte {
		v, err := s.GetSockOpt(e.ctx, unix.SOL_SOCKET, name, 16)
		if err != nil {
			t.Fatalf("getsockopt %d: %v", name, err)
		}
		return v
	}
	if !bytes.Equal(get(unix.SO_TYPE), socket.Int32Val(unix.SOCK_SEQPACKET)) || !bytes.Equal(get(unix.SO_DOMAIN), socket.Int32Val(unix.AF_UNIX)) {
		t.Fatal("SO_TYPE/SO_DOMAIN")
	}
	s.SetSockOpt(e.ctx, unix.SOL_SOCKET, unix.SO_SNDBUF, socket.Int32Val(10000))
	if !bytes.Equal(get(unix.SO_SNDBUF), socket.Int32Val(20000)) {
		t.Fatalf("SO_SNDBUF %v", get(unix.SO_SNDBUF))
	}
	s.SetSockOpt(e.ctx, unix.SOL_SOCKET, unix.SO_RCVBUF, socket.Int32Val(1))
	if !bytes.Equal(get(unix.SO_RCVBUF), socket.Int32Val(minRcvBuf)) {
		t.Fatalf("SO_RCVBUF %v", get(unix.SO_RCVBUF))
	}
	s.SetSockOpt(e.ctx, unix.SOL_SOCKET, unix.SO_KEEPALIVE, socket.Int32Val(1))
	if !bytes.Equal(get(unix.SO_KEEPALIVE), socket.Int32Val(1)) {
		t.Fatal("SO_KEEPALIVE not stored")
	}
	lin := []byte{1, 0, 0, 0, 5, 0, 0, 0}
	s.SetSockOpt(e.ctx, unix.SOL_SOCKET, unix.SO_LINGER, lin)
	if !bytes.Equal(get(unix.SO_LINGER), lin) {
		t.Fatal("SO_LINGER not stored")
	}
	if err := s.SetSockOpt(e.ctx, unix.SOL_SOCKET, unix.SO_RCVTIMEO, make([]byte, 8)); err != unix.EINVAL {
		t.Fatalf("short timeval: %v", err)
	}
	if err := s.SetSockOpt(e.ctx, unix.SOL_SOCKET, unix.SO_TYPE, socket.Int32Val(1)); err != unix.ENOPROTOOPT {
		t.Fatalf("set SO_TYPE: %v", err)
	}
	if _, err := s.GetSockOpt(e.ctx, unix.IPPROTO_TCP, 1, 4); err != unix.EOPNOTSUPP {
		t.Fatalf("TCP level: %v", err)
	}
	if !bytes.Equal(get(unix.SO_PEERCRED), (socket.Creds{UID: socket.OverflowID, GID: socket.OverflowID}).Marshal()) {
		t.Fatal("unconnected SO_PEERCRED")
	}
	if _, err := s.RecvMsg(e.ctx, nil, [][]byte{make([]byte, 1)}, 0, false); err != unix.ENOTCONN {
		t.Fatalf("seqpacket recv unconnected: %v", err)
	}
	_, ds := e.sock(unix.SOCK_DGRAM)
	if err := ds.Listen(e.ctx, 1); err != unix.EOPNOTSUPP {
		t.Fatalf("listen on dgram: %v", err)
	}
}

func itoa(v uint64) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + v%10)}, b...)
		v /= 10
		if v == 0 {
			return string(b)
		}
	}
}

func TestShutdownListenerWakesAccept(t *testing.T) {
	e := newEnv(t)
	_, l := e.sock(unix.SOCK_STREAM)
	l.Bind(e.ctx, abstractAddr("shl"))
	l.Listen(e.ctx, 1)
	done := make(chan error, 1)
	go func() {
		_, _, err := l.Accept(e.ctx, blocker{}, 0)
		done <- err
	}()
	time.Sleep(5 * time.Millisecond)
	l.Shutdown(e.ctx, unix.SHUT_RDWR)
	if err := <-done; err != unix.EINVAL {
		t.Fatalf("accept after shutdown: %v", err)
	}
	_, c := e.sock(unix.SOCK_STREAM)
	if err := c.Connect(e.ctx, nil, abstractAddr("shl")); err != unix.ECONNREFUSED {
		t.Fatalf("connect to shut listener: %v", err)
	}
}
