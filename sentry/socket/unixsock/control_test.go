package unixsock

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/socket"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

func TestRightsPassing(t *testing.T) {
	e := newEnv(t)
	a, b, fa, fb := e.pair(unix.SOCK_STREAM)
	defer fb.DecRef(e.ctx)
	// The payload: one end of another pair; its peer tells us when it dies.
	x, _, fx, fy := e.pair(unix.SOCK_STREAM)
	defer fy.DecRef(e.ctx)
	y := fy.Impl().(*sock)
	_ = x
	n, err := a.SendMsg(e.ctx, nil, [][]byte{[]byte("fd")}, nil, socket.ControlMessages{Rights: []*vfs.FileDescription{fx}}, 0)
	if err != nil || n != 2 {
		t.Fatalf("send with rights: %d %v", n, err)
	}
	send(t, e.ctx, a, "more")
	fx.DecRef(e.ctx) // only the message holds it now
	if y.Readiness(waiter.EventHUp) != 0 {
		t.Fatal("passed socket closed while in flight")
	}
	// Peek duplicates; reading stops after the message carrying rights.
	buf := make([]byte, 100)
	r, err := b.RecvMsg(e.ctx, nil, [][]byte{buf}, unix.MSG_PEEK, false)
	if err != nil || r.N != 2 || len(r.Control.Rights) != 1 || r.Control.Rights[0] != fx {
		t.Fatalf("peek: %+v %v", r, err)
	}
	r.Control.Release(e.ctx)
	r, err = b.RecvMsg(e.ctx, nil, [][]byte{buf}, 0, false)
	if err != nil || r.N != 2 || len(r.Control.Rights) != 1 || r.Control.Rights[0] != fx {
		t.Fatalf("recv: %+v %v", r, err)
	}
	if got, r2 := recv(t, e.ctx, b, 100, 0); got != "more" || len(r2.Control.Rights) != 0 {
		t.Fatalf("after rights: %q %+v", got, r2)
	}
	// Encoding into a buffer with room for no descriptor: MSG_CTRUNC,
	// and the file is released.
	out, fl := socket.EncodeControl(e.ctx, &r.Control, socket.CmsgLen(0), func(*vfs.FileDescription) (int32, error) {
		t.Fatal("installed without room")
		return 0, nil
	})
	if len(out) != 0 || fl&unix.MSG_CTRUNC == 0 {
		t.Fatalf("encode without room: %d bytes, flags %#x", len(out), fl)
	}
	if y.Readiness(waiter.EventHUp) == 0 {
		t.Fatal("passed socket not released after the receiver dropped it")
	}
	// Unread rights are released when the receiving socket closes.
	fz, fw, _ := NewPair(e.ctx, e.v, unix.SOCK_DGRAM, 0, 0)
	w := fw.Impl().(*sock)
	if _, err := b.SendMsg(e.ctx, nil, [][]byte{[]byte("z")}, nil, socket.ControlMessages{Rights: []*vfs.FileDescription{fz}}, 0); err != nil {
		t.Fatal(err)
	}
	fz.DecRef(e.ctx)
	e.close(fa)
	if _, err := w.SendMsg(e.ctx, nil, [][]byte{[]byte("?")}, nil, socket.ControlMessages{}, 0); err != unix.ECONNREFUSED {
		t.Fatalf("peer of a released in-flight socket: %v", err)
	}
	fw.DecRef(e.ctx)
}

func TestControlEncoding(t *testing.T) {
	e := newEnv(t)
	var files []*vfs.FileDescription
	for i := 0; i < 3; i++ {
		f, _ := e.sock(unix.SOCK_DGRAM)
		files = append(files, f)
	}
	// Parse SCM_RIGHTS + SCM_CREDENTIALS.
	var buf []byte
	hdr := func(typ int32, data []byte) {
		h := make([]byte, 16)
		binary.LittleEndian.PutUint64(h, uint64(16+len(data)))
		binary.LittleEndian.PutUint32(h[8:], unix.SOL_SOCKET)
		binary.LittleEndian.PutUint32(h[12:], uint32(typ))
		buf = append(buf, h...)
		buf = append(buf, data...)
		for len(buf)%8 != 0 {
			buf = append(buf, 0)
		}
	}
	fds := make([]byte, 12)
	for i := range 3 {
		binary.LittleEndian.PutUint32(fds[4*i:], uint32(i+10))
	}
	hdr(unix.SCM_RIGHTS, fds)
	hdr(unix.SCM_CREDENTIALS, (socket.Creds{PID: 7, UID: 0, GID: 0}).Marshal())
	lookup := func(fd int32) *vfs.FileDescription {
		if fd < 10 || fd > 12 {
			return nil
		}
		files[fd-10].IncRef()
		return files[fd-10]
	}
	cm, err := socket.ParseControl(e.ctx, buf, lookup)
	if err != nil || len(cm.Rights) != 3 || cm.Creds == nil || cm.Creds.PID != 7 {
		t.Fatalf("parse: %+v %v", cm, err)
	}
	// Room for two descriptors only (and the credentials first).
	space := socket.CmsgSpace(12) + socket.CmsgLen(8)
	next := int32(100)
	out, fl := socket.EncodeControl(e.ctx, &cm, space, func(f *vfs.FileDescription) (int32, error) {
		next++
		return next, nil
	})
	if fl != unix.MSG_CTRUNC || len(out) != space {
		t.Fatalf("encode: %d bytes (want %d), flags %#x", len(out), space, fl)
	}
	if l := binary.LittleEndian.Uint64(out[socket.CmsgSpace(12):]); l != uint64(socket.CmsgLen(8)) {
		t.Fatalf("rights cmsg_len %d", l)
	}
	// A bad fd is EBADF; a stranger's credentials are EPERM.
	buf = nil
	hdr(unix.SCM_RIGHTS, []byte{1, 0, 0, 0})
	if _, err := socket.ParseControl(e.ctx, buf, lookup); err != unix.EBADF {
		t.Fatalf("bad fd: %v", err)
	}
	buf = nil
	hdr(unix.SCM_CREDENTIALS, (socket.Creds{PID: 8, UID: 5, GID: 5}).Marshal())
	user := &tctx{creds: auth.NewCredentials(1000, 1000, nil, 0), pid: 9}
	if _, err := socket.ParseControl(user, buf, lookup); err != unix.EPERM {
		t.Fatalf("forged creds: %v", err)
	}
	if _, err := socket.ParseControl(e.ctx, []byte{1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0}, lookup); err != unix.EINVAL {
		t.Fatalf("short cmsg_len: %v", err)
	}
}

func TestPassCred(t *testing.T) {
	e := newEnv(t)
	a, b, fa, fb := e.pair(unix.SOCK_STREAM)
	defer fa.DecRef(e.ctx)
	defer fb.DecRef(e.ctx)
	send(t, e.ctx, a, "before")
	b.SetSockOpt(e.ctx, unix.SOL_SOCKET, unix.SO_PASSCRED, socket.Int32Val(1))
	other := &tctx{creds: auth.NewCredentials(0, 0, nil, auth.AllCaps), pid: 99}
	send(t, other, a, "after")
	// The first message had no credentials (pid 0, overflow ids) and is
	// not glued to the second.
	got, r := recv(t, e.ctx, b, 100, 0)
	if got != "before" || r.Control.Creds == nil || r.Control.Creds.PID != 0 || r.Control.Creds.UID != socket.OverflowID {
		t.Fatalf("first: %q %+v", got, r.Control.Creds)
	}
	got, r = recv(t, e.ctx, b, 100, 0)
	if got != "after" || r.Control.Creds == nil || r.Control.Creds.PID != 99 {
		t.Fatalf("second: %q %+v", got, r.Control.Creds)
	}
}
