package gofer_test

import (
	"encoding/binary"
	"math/rand"
	"net"
	"os"
	"testing"
	"time"

	"github.com/runsc-cri/runsc-cri/gofer"
	"github.com/runsc-cri/runsc-cri/gofer/proto"
	"golang.org/x/sys/unix"
)

// rawServer runs Serve and returns the client end as a raw connection.
func rawServer(t *testing.T, dir string) *net.UnixConn {
	sc, cc := socketPair(t)
	done := make(chan error, 1)
	go func() { done <- gofer.Serve(sc, dir, gofer.Options{Logf: func(string, ...any) {}}) }()
	t.Cleanup(func() {
		cc.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return")
		}
	})
	return cc
}

// roundTrip sends msg (with fds) and returns the reply header and payload.
func roundTrip(t *testing.T, c *net.UnixConn, msg []byte, fds ...int) (proto.Header, []byte, []int) {
	t.Helper()
	if err := proto.Send(c, msg, fds...); err != nil {
		t.Fatalf("send: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, proto.MaxMessage)
	rep, rfds, err := proto.Recv(c, buf, make([]byte, proto.OOBSize))
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	h, err := proto.ParseHeader(rep)
	if err != nil {
		t.Fatalf("bad reply header: %v", err)
	}
	return h, rep[proto.HeaderSize:], rfds
}

func message(id uint32, op proto.Op, m proto.Message) []byte {
	e := proto.NewEncoder(nil)
	if m != nil {
		m.Encode(e)
	}
	return e.Finish(id, op, 0)
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/f", "x")
	c := rawServer(t, dir)

	expect := func(what string, msg []byte, id uint32, errno unix.Errno) {
		t.Helper()
		h, _, fds := roundTrip(t, c, msg)
		proto.CloseFDs(fds)
		if h.ID != id || unix.Errno(h.Errno) != errno {
			t.Errorf("%s: reply id %d errno %v, want id %d %v", what, h.ID, unix.Errno(h.Errno), id, errno)
		}
	}
	expect("3 bytes", []byte{1, 2, 3}, 0, unix.EINVAL)
	bad := message(7, proto.OpAttach, &proto.AttachReq{})
	binary.LittleEndian.PutUint32(bad, 1000) // length field lies
	expect("length mismatch", bad, 7, unix.EINVAL)
	expect("unknown op", message(8, 999, nil), 8, unix.ENOSYS)
	expect("op 0", message(9, 0, nil), 9, unix.ENOSYS)
	withErrno := message(10, proto.OpAttach, &proto.AttachReq{})
	binary.LittleEndian.PutUint32(withErrno[12:], 5)
	expect("errno in request", withErrno, 10, unix.EINVAL)
	walk := message(11, proto.OpWalk, &proto.WalkReq{Dir: 1, Names: []string{"f"}})
	short := walk[:len(walk)-2]
	binary.LittleEndian.PutUint32(short, uint32(len(short)))
	expect("truncated payload", short, 11, unix.EINVAL)
	long := append(message(12, proto.OpStat, &proto.HandleReq{Handle: 1}), 0, 0)
	binary.LittleEndian.PutUint32(long, uint32(len(long)))
	expect("trailing bytes", long, 12, unix.EINVAL)

	// A walk claiming a billion names, and a string claiming 4 GiB.
	e := proto.NewEncoder(nil)
	e.U64(1)
	e.U32(1 << 30)
	expect("huge count", e.Finish(13, proto.OpWalk, 0), 13, unix.EINVAL)
	e = proto.NewEncoder(nil)
	e.U32(0xffffffff)
	expect("huge string", e.Finish(14, proto.OpAttach, 0), 14, unix.ENAMETOOLONG)
	e = proto.NewEncoder(nil)
	e.U32(1 << 20)
	expect("huge close", e.Finish(15, proto.OpClose, 0), 15, unix.EINVAL)
	expect("bad setattr mask", message(16, proto.OpSetattr, &proto.SetattrReq{Handle: 1, Mask: 1 << 20}), 16, unix.EINVAL)

	// Oversized message.
	big := make([]byte, proto.MaxMessage+100)
	proto.PutHeader(big, proto.Header{Length: uint32(len(big)), ID: 17, Op: proto.OpStat})
	expect("oversized", big, 17, unix.EINVAL)

	// Unknown handles.
	expect("stat bad handle", message(18, proto.OpStat, &proto.HandleReq{Handle: 12345}), 18, unix.EBADF)
	expect("stat handle 0", message(19, proto.OpStat, &proto.HandleReq{}), 19, unix.EBADF)

	// An fd sent to the gofer is closed, and the request still served.
	f, err := os.Open(dir + "/f")
	if err != nil {
		t.Fatal(err)
	}
	h, payload, _ := roundTrip(t, c, message(20, proto.OpAttach, &proto.AttachReq{}), int(f.Fd()))
	f.Close()
	if h.Errno != 0 || h.ID != 20 {
		t.Fatalf("attach with fd: %+v", h)
	}
	var root proto.Node
	d := proto.Decoder{B: payload}
	root.Decode(&d)
	if d.Done() != nil || root.Handle == 0 {
		t.Fatalf("attach reply: %v %+v", d.Err, root)
	}

	// Garbage: random ops with random payloads, valid headers.
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 2000; i++ {
		n := rng.Intn(200)
		msg := make([]byte, proto.HeaderSize+n)
		rng.Read(msg[proto.HeaderSize:])
		// Handles are small numbers; make some fields plausible.
		if n >= 8 && rng.Intn(2) == 0 {
			binary.LittleEndian.PutUint64(msg[proto.HeaderSize:], uint64(rng.Intn(4)))
		}
		op := proto.Op(rng.Intn(20))
		if op == proto.OpClose {
			continue // might close the root handle we still use
		}
		proto.PutHeader(msg, proto.Header{Length: uint32(len(msg)), ID: uint32(100 + i), Op: op})
		h, _, fds := roundTrip(t, c, msg)
		proto.CloseFDs(fds)
		if h.ID != uint32(100+i) {
			t.Fatalf("garbage %d: reply id %d", i, h.ID)
		}
	}

	// Still alive and correct.
	h, payload, _ = roundTrip(t, c, message(5000, proto.OpWalk, &proto.WalkReq{Dir: root.Handle, Names: []string{"f"}}))
	var wr proto.WalkReply
	d = proto.Decoder{B: payload}
	wr.Decode(&d)
	if h.Errno != 0 || d.Done() != nil || wr.Errno != 0 || len(wr.Nodes) != 1 || wr.Nodes[0].Stat.Size != 1 {
		t.Fatalf("walk after garbage: %+v %+v %v", h, wr, d.Err)
	}
	// Requests with id 0 get no reply: the next reply is for id 5001.
	if err := proto.Send(c, message(0, proto.OpStat, &proto.HandleReq{Handle: 999})); err != nil {
		t.Fatal(err)
	}
	if h, _, _ := roundTrip(t, c, message(5001, proto.OpStat, &proto.HandleReq{Handle: root.Handle})); h.ID != 5001 || h.Errno != 0 {
		t.Fatalf("after id 0: %+v", h)
	}
}

// TestServeGarbageStream checks that random whole messages (random headers
// too) never crash the server, and that it shuts down cleanly afterwards.
func TestServeGarbageStream(t *testing.T) {
	dir := t.TempDir()
	c := rawServer(t, dir)
	rng := rand.New(rand.NewSource(2))
	go func() {
		buf := make([]byte, proto.MaxMessage)
		for {
			_, fds, err := proto.Recv(c, buf, make([]byte, proto.OOBSize))
			proto.CloseFDs(fds)
			if err != nil && err != unix.EMSGSIZE {
				return
			}
		}
	}()
	for i := 0; i < 3000; i++ {
		msg := make([]byte, 1+rng.Intn(300))
		rng.Read(msg)
		if len(msg) >= 4 && rng.Intn(2) == 0 {
			binary.LittleEndian.PutUint32(msg, uint32(len(msg)))
		}
		if len(msg) >= 12 && rng.Intn(2) == 0 {
			binary.LittleEndian.PutUint32(msg[8:], uint32(rng.Intn(20)))
		}
		if err := proto.Send(c, msg); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
}
