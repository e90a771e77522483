package client_test

import (
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/runsc-cri/runsc-cri/gofer/client"
	"github.com/runsc-cri/runsc-cri/gofer/proto"
	"golang.org/x/sys/unix"
)

func pair(t *testing.T) (*net.UnixConn, *net.UnixConn) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "s")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c.(*net.UnixConn)
	}
	return conn(fds[0]), conn(fds[1])
}

// readReqs reads n requests on the fake server's end.
func readReqs(t *testing.T, s *net.UnixConn, n int) []proto.Header {
	var hs []proto.Header
	buf := make([]byte, proto.MaxMessage)
	for len(hs) < n {
		msg, fds, err := proto.Recv(s, buf, make([]byte, proto.OOBSize))
		proto.CloseFDs(fds)
		if err != nil {
			t.Errorf("fake server recv: %v", err)
			return hs
		}
		h, err := proto.ParseHeader(msg)
		if err != nil {
			t.Errorf("bad request: %v", err)
		}
		hs = append(hs, h)
	}
	return hs
}

func send(t *testing.T, s *net.UnixConn, id uint32, op proto.Op, errno unix.Errno, m proto.Message, fds ...int) {
	e := proto.NewEncoder(nil)
	if m != nil {
		m.Encode(e)
	}
	if err := proto.Send(s, e.Finish(id, op, uint32(errno)), fds...); err != nil {
		t.Errorf("fake server send: %v", err)
	}
}

// TestOutOfOrderReplies checks that replies and their fds reach the right
// callers whatever order they come in.
func TestOutOfOrderReplies(t *testing.T) {
	s, cc := pair(t)
	c := client.New(cc)
	defer c.Close()

	const n = 20
	type result struct {
		fd  int
		err error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	files := make([]*client.File, n)
	go func() {
		// Attach replies in order, handles 1..n.
		for _, h := range readReqs(t, s, n) {
			send(t, s, h.ID, h.Op, 0, &proto.Node{Handle: uint64(h.ID)})
		}
	}()
	for i := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, _, err := c.Root()
			if err != nil {
				t.Error(err)
			}
			files[i] = f
		}()
	}
	wg.Wait()

	// Now open every file; the fake server answers in reverse order, each
	// with a pipe whose other end carries the handle number, odd ones with
	// an error instead.
	go func() {
		hs := readReqs(t, s, n)
		for i := len(hs) - 1; i >= 0; i-- {
			h := hs[i]
			if h.ID%2 == 1 {
				send(t, s, h.ID, h.Op, unix.EACCES, nil)
				continue
			}
			var p [2]int
			unix.Pipe2(p[:], unix.O_CLOEXEC)
			unix.Write(p[1], []byte{byte(h.ID)})
			send(t, s, h.ID, h.Op, 0, &proto.Empty{}, p[0])
			unix.Close(p[0])
			unix.Close(p[1])
		}
	}()
	// Each success must carry its own pipe (an even id, never one seen
	// twice), and errors and fds must add up.
	for i := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fd, err := files[i].Open(unix.O_RDONLY)
			results[i] = result{fd, err}
		}()
	}
	wg.Wait()
	ok, failed := 0, 0
	seen := map[byte]bool{}
	for _, r := range results {
		if r.err == unix.EACCES {
			failed++
			continue
		}
		if r.err != nil {
			t.Fatalf("open: %v", r.err)
		}
		b := make([]byte, 1)
		if n, _ := unix.Read(r.fd, b); n != 1 || b[0]%2 != 0 || seen[b[0]] {
			t.Errorf("fd carries %v", b)
		}
		seen[b[0]] = true
		unix.Close(r.fd)
		ok++
	}
	if ok != n/2 || failed != n/2 {
		t.Errorf("ok %d failed %d", ok, failed)
	}
}

// TestConnectionLoss checks that pending and later calls fail with EIO.
func TestConnectionLoss(t *testing.T) {
	s, cc := pair(t)
	c := client.New(cc)
	defer c.Close()
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() {
			_, _, err := c.Root()
			errs <- err
		}()
	}
	readReqs(t, s, 3)
	s.Close()
	for i := 0; i < 3; i++ {
		select {
		case err := <-errs:
			if err != unix.EIO {
				t.Errorf("pending call: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("pending call hung")
		}
	}
	if _, _, err := c.Root(); err != unix.EIO {
		t.Errorf("call after loss: %v", err)
	}
}

// TestBadReplies checks that malformed replies become EIO, and that a reply
// with an unexpected fd does not leak it.
func TestBadReplies(t *testing.T) {
	s, cc := pair(t)
	c := client.New(cc)
	defer c.Close()
	go func() {
		hs := readReqs(t, s, 1)
		send(t, s, hs[0].ID, hs[0].Op, 0, &proto.Empty{}) // Node expected
		hs = readReqs(t, s, 1)
		send(t, s, hs[0].ID, hs[0].Op, 0, &proto.Node{Handle: 1})
		hs = readReqs(t, s, 1)
		var p [2]int
		unix.Pipe2(p[:], unix.O_CLOEXEC)
		// Stat with an fd it should not have.
		send(t, s, hs[0].ID, hs[0].Op, 0, &proto.Stat{}, p[0])
		unix.Close(p[0])
		unix.Close(p[1])
		// A reply nobody asked for.
		send(t, s, 777, proto.OpStat, 0, &proto.Stat{})
		hs = readReqs(t, s, 1)
		send(t, s, hs[0].ID, hs[0].Op, 0, &proto.Empty{}) // Open without fd
	}()
	if _, _, err := c.Root(); err != unix.EIO {
		t.Errorf("short reply: %v", err)
	}
	f, _, err := c.Root()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Stat(); err != unix.EIO {
		t.Errorf("reply with stray fd: %v", err)
	}
	if _, err := f.Open(unix.O_RDONLY); err != unix.EIO {
		t.Errorf("open reply without fd: %v", err)
	}
}

func TestNewFDChecksType(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	if _, err := client.NewFD(fds[0]); err != unix.ESOCKTNOSUPPORT {
		t.Errorf("stream socket: %v", err)
	}
	if _, err := client.NewFD(-1); err == nil {
		t.Error("bad fd accepted")
	}
}
