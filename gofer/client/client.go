// Package client is the sentry's side of the gofer protocol (package
// gofer/proto): a connection to one gofer, and File handles on the files it
// serves.
//
// A Client is safe for concurrent use: each call gets a request id, many
// calls can be in flight at once on the one connection, and a single reader
// goroutine hands each reply (and any donated file descriptor) to the caller
// waiting for that id. Every error a method returns is a unix.Errno; if the
// connection fails, pending and later calls return EIO.
//
// Donated host descriptors (from Open, OpenAt, Create) belong to the caller,
// are close-on-exec, and are used for data directly: file contents never go
// through the protocol.
//
// This package must not import anything from the sentry.
//
// Lock order: Client.mu is a leaf lock, never held while sending or waiting.
package client

import (
	"net"
	"os"
	"sync"

	"github.com/runsc-cri/runsc-cri/gofer/proto"
	"golang.org/x/sys/unix"
)

// Types shared with the protocol.
type (
	// Stat is a file's attributes (times in ns since the epoch).
	Stat = proto.Stat
	// Statfs is the host statfs of a file's filesystem.
	Statfs = proto.Statfs
	// Dirent is a directory entry; Next is the cookie after it.
	Dirent = proto.Dirent
	// Timespec is a time for Setattr; Nsec may be unix.UTIME_NOW or
	// unix.UTIME_OMIT.
	Timespec = proto.Timespec
)

// Setattr mask bits.
const (
	SetattrMode  = proto.SetattrMode
	SetattrUID   = proto.SetattrUID
	SetattrGID   = proto.SetattrGID
	SetattrSize  = proto.SetattrSize
	SetattrAtime = proto.SetattrAtime
	SetattrMtime = proto.SetattrMtime
)

// SetattrRequest selects with Mask the attributes to change.
type SetattrRequest struct {
	Mask  uint32
	Mode  uint32 // permission bits (07777)
	UID   uint32
	GID   uint32
	Size  uint64
	Atime Timespec
	Mtime Timespec
}

// Client is a connection to a gofer.
type Client struct {
	conn *net.UnixConn
	done chan struct{} // closed when the reader exits

	mu      sync.Mutex
	pending map[uint32]chan reply // guarded by mu
	nextID  uint32                // guarded by mu
	dead    bool                  // guarded by mu; reader exited
}

type reply struct {
	errno   unix.Errno
	payload []byte
	fds     []int
}

// New starts a client on conn, a connected SOCK_SEQPACKET unix socket whose
// other end is served by the gofer. The client owns conn.
func New(conn *net.UnixConn) *Client {
	c := &Client{
		conn:    conn,
		done:    make(chan struct{}),
		pending: make(map[uint32]chan reply),
	}
	go c.read()
	return c
}

// Close closes the connection; the gofer then releases every handle.
// Pending calls fail with EIO.
func (c *Client) Close() error {
	err := c.conn.Close()
	<-c.done
	return err
}

// read receives replies and hands them to their callers.
func (c *Client) read() {
	defer close(c.done)
	buf := make([]byte, proto.MaxMessage)
	oob := make([]byte, proto.OOBSize)
	for {
		msg, fds, err := proto.Recv(c.conn, buf, oob)
		if err != nil && err != unix.EMSGSIZE {
			proto.CloseFDs(fds)
			break
		}
		h, herr := proto.ParseHeader(msg)
		c.mu.Lock()
		ch, ok := c.pending[h.ID]
		if ok {
			delete(c.pending, h.ID)
		}
		c.mu.Unlock()
		if !ok {
			proto.CloseFDs(fds)
			continue
		}
		r := reply{errno: unix.Errno(h.Errno), fds: fds}
		if err != nil || herr != nil {
			proto.CloseFDs(fds)
			r = reply{errno: unix.EIO}
		} else if r.errno == 0 {
			r.payload = append([]byte(nil), msg[proto.HeaderSize:]...)
		}
		ch <- r
	}
	c.mu.Lock()
	c.dead = true
	for id, ch := range c.pending {
		delete(c.pending, id)
		ch <- reply{errno: unix.EIO}
	}
	c.mu.Unlock()
}

var chanPool = sync.Pool{New: func() any { return make(chan reply, 1) }}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// call sends req as op and decodes the reply into rep (which may be nil for
// an empty reply). It returns the donated fds, which the caller owns.
func (c *Client) call(op proto.Op, req, rep proto.Message) ([]int, error) {
	ch := chanPool.Get().(chan reply)
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		chanPool.Put(ch)
		return nil, unix.EIO
	}
	c.nextID++
	if c.nextID == 0 {
		c.nextID++
	}
	for c.pending[c.nextID] != nil {
		c.nextID++
	}
	id := c.nextID
	c.pending[id] = ch
	c.mu.Unlock()

	bp := bufPool.Get().(*[]byte)
	e := proto.NewEncoder(*bp)
	req.Encode(e)
	msg := e.Finish(id, op, 0)
	var err error
	if len(msg) > proto.MaxMessage {
		err = unix.ENAMETOOLONG
	} else {
		err = proto.Send(c.conn, msg)
	}
	*bp = e.B[:0]
	bufPool.Put(bp)
	if err != nil {
		c.mu.Lock()
		_, mine := c.pending[id]
		delete(c.pending, id)
		c.mu.Unlock()
		if !mine {
			// The reader failed us meanwhile; drain its reply.
			r := <-ch
			proto.CloseFDs(r.fds)
		}
		chanPool.Put(ch)
		if err == unix.ENAMETOOLONG {
			return nil, err
		}
		return nil, unix.EIO
	}
	r := <-ch
	chanPool.Put(ch)
	if r.errno != 0 {
		proto.CloseFDs(r.fds)
		return nil, r.errno
	}
	if rep != nil {
		d := proto.Decoder{B: r.payload}
		rep.Decode(&d)
		if d.Done() != nil {
			proto.CloseFDs(r.fds)
			return nil, unix.EIO
		}
	}
	return r.fds, nil
}

// callFD is call for replies that carry exactly one fd.
func (c *Client) callFD(op proto.Op, req, rep proto.Message) (int, error) {
	fds, err := c.call(op, req, rep)
	if err != nil {
		return -1, err
	}
	if len(fds) != 1 {
		proto.CloseFDs(fds)
		return -1, unix.EIO
	}
	return fds[0], nil
}

// noFD is call for replies that carry no fd.
func (c *Client) noFD(op proto.Op, req, rep proto.Message) error {
	fds, err := c.call(op, req, rep)
	if len(fds) != 0 {
		proto.CloseFDs(fds)
		return unix.EIO
	}
	return err
}

// send sends req with id 0: the gofer does not reply.
func (c *Client) send(op proto.Op, req proto.Message) error {
	e := proto.NewEncoder(make([]byte, 0, 64))
	req.Encode(e)
	if err := proto.Send(c.conn, e.Finish(0, op, 0)); err != nil {
		return unix.EIO
	}
	return nil
}

// Root returns a handle on the gofer's root directory.
func (c *Client) Root() (*File, Stat, error) { return c.Attach("") }

// Attach returns a handle on path, a directory or file below the gofer's
// root given relative to it ("" is the root). path must not contain "." or
// ".." components or symlinks (ELOOP).
func (c *Client) Attach(path string) (*File, Stat, error) {
	var rep proto.Node
	if err := c.noFD(proto.OpAttach, &proto.AttachReq{Path: path}, &rep); err != nil {
		return nil, Stat{}, err
	}
	return c.file(rep.Handle), rep.Stat, nil
}

// CloseFiles releases several handles in one message (no reply). nil
// entries and already closed files are skipped.
func (c *Client) CloseFiles(files ...*File) error {
	var req proto.CloseReq
	for _, f := range files {
		if f == nil {
			continue
		}
		h := f.h.Swap(0)
		if h == 0 {
			continue
		}
		req.Handles = append(req.Handles, h)
		if len(req.Handles) == proto.MaxClose {
			if err := c.send(proto.OpClose, &req); err != nil {
				return err
			}
			req.Handles = req.Handles[:0]
		}
	}
	if len(req.Handles) == 0 {
		return nil
	}
	return c.send(proto.OpClose, &req)
}

// NewFD is New for an inherited socket descriptor (as the sentry receives
// it from the daemon). It takes ownership of fd.
func NewFD(fd int) (*Client, error) {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		unix.Close(fd)
		return nil, proto.Errno(err)
	}
	if typ != unix.SOCK_SEQPACKET {
		unix.Close(fd)
		return nil, unix.ESOCKTNOSUPPORT
	}
	f := os.NewFile(uintptr(fd), "gofer")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, proto.Errno(err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, unix.ENOTSOCK
	}
	return New(uc), nil
}
