// Package gofer is the file server of a pod: the only process that touches
// the host files of a sandbox's rootfs and volumes. The sentry talks to it
// over a unix socket per served tree (the root, and each --volume, see
// volumes.go) with the protocol of package gofer/proto, and gets host file
// descriptors donated (SCM_RIGHTS) for opened files, so file data never
// goes through the protocol.
//
// # Model
//
// The server holds one O_PATH file descriptor per handle (node). Every name
// it is given is a single path component, checked by proto.CheckName and
// resolved relative to a handle's fd with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS) and O_NOFOLLOW, or with an
// *at syscall that does not follow a trailing symlink (mkdirat, unlinkat,
// renameat2, symlinkat, linkat without AT_SYMLINK_FOLLOW, mknodat). The gofer
// never follows a symlink: a walk onto a symlink returns a handle on the
// symlink itself, the sentry reads it with Readlink and resolves it inside
// the sandbox. So neither ".." nor a symlink in an image can reach a host
// file outside the root.
//
// Reopening a handle's file for I/O (Open, truncate, chmod) goes through
// /proc/self/fd/N of the gofer itself (a descriptor to that directory is
// opened before the gofer pivots away from the host root, see Main). That is
// a magic link, so it is only ever used on handles whose type was checked to
// be a regular file or directory (never a symlink); it lands on exactly the
// inode the handle already names.
//
// Set-up of the process (mount namespace, pivot_root, death signal) is in
// Main; Serve alone does not sandbox the process and is what tests use.
//
// # Concurrency and lock order
//
// One goroutine reads requests; each request runs in its own goroutine
// (bounded by Options.MaxInFlight) and replies with one sendmsg, in any
// order. server.mu guards the handle table only and is never held across a
// syscall. A node is reference counted (node.refs): the table holds one
// reference and every request using the node holds one while it runs, so a
// concurrent Close never lets the fd number be reused under a running
// request. The fd is closed when the last reference goes. node.dirMu
// serialises directory reads on one node; it is never held together with
// server.mu.
package gofer

import (
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/runsc-cri/runsc-cri/gofer/proto"
	"golang.org/x/sys/unix"
)

// Options configures Serve.
type Options struct {
	// ReadOnly refuses every mutation and every open for writing with
	// EROFS.
	ReadOnly bool
	// MaxInFlight bounds the number of requests served concurrently
	// (default 64).
	MaxInFlight int
	// Logf, if set, receives one line per protocol error (bad messages).
	Logf func(format string, args ...any)

	// procFD is an O_PATH descriptor of /proc/self/fd opened by Main
	// before pivot_root; Serve opens its own when it is 0.
	procFD int
}

// resolveFlags are the openat2 resolve flags for every lookup.
const resolveFlags = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_SYMLINKS

// node is an open handle.
type node struct {
	fd   int    // O_PATH|O_NOFOLLOW descriptor; immutable
	kind uint32 // S_IFMT bits; immutable (a file never changes type)
	refs atomic.Int32

	// dirMu serialises getdents on the cached read descriptor of a
	// directory (whose file position each call sets with lseek).
	dirMu  sync.Mutex
	dirFD  int  // guarded by dirMu; valid if hasDir
	hasDir bool // guarded by dirMu
}

type server struct {
	conn   *net.UnixConn
	rootFD int
	procFD int
	ro     bool
	logf   func(string, ...any)
	sem    chan struct{}
	wg     sync.WaitGroup

	mu      sync.Mutex
	handles map[uint64]*node // guarded by mu
	next    uint64           // guarded by mu; last handle issued
}

// Serve serves the protocol on conn for the directory tree at root until
// the peer closes the connection (then it returns nil) or reading fails.
// conn must be a connected SOCK_SEQPACKET unix socket. Serve closes conn and
// releases every handle before it returns. Serve itself does not confine
// the process (Main does); it needs /proc mounted to reopen files unless
// Main already holds a /proc/self/fd descriptor for it.
func Serve(conn *net.UnixConn, root string, opts Options) error {
	rootFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		conn.Close()
		return &opError{"open root " + root, err}
	}
	defer unix.Close(rootFD)
	return ServeFD(conn, rootFD, opts)
}

// ServeFD is Serve for the directory tree of rootFD (an O_PATH or
// ordinary descriptor of a directory, which stays the caller's): nothing
// outside the tree below it is reachable on conn, whatever path the
// process could reach otherwise (every lookup is RESOLVE_BENEATH a handle
// that descends from it). Main serves each --volume connection this way.
func ServeFD(conn *net.UnixConn, rootFD int, opts Options) error {
	defer conn.Close()
	var err error
	procFD := opts.procFD
	if procFD == 0 {
		procFD, err = unix.Open("/proc/self/fd", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return &opError{"open /proc/self/fd", err}
		}
		defer unix.Close(procFD)
	}
	n := opts.MaxInFlight
	if n <= 0 {
		n = 64
	}
	s := &server{
		conn:    conn,
		rootFD:  rootFD,
		procFD:  procFD,
		ro:      opts.ReadOnly,
		logf:    opts.Logf,
		sem:     make(chan struct{}, n),
		handles: make(map[uint64]*node),
	}
	err = s.loop()
	s.wg.Wait()
	s.mu.Lock()
	for h, n := range s.handles {
		delete(s.handles, h)
		s.put(n)
	}
	s.mu.Unlock()
	// A peer that closes with replies still unread makes our read fail
	// with ECONNRESET rather than EOF; both are a normal end.
	if errors.Is(err, io.EOF) || errors.Is(err, unix.ECONNRESET) {
		return nil
	}
	return err
}

type opError struct {
	what string
	err  error
}

func (e *opError) Error() string { return "gofer: " + e.what + ": " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

func (s *server) log(format string, args ...any) {
	if s.logf != nil {
		s.logf(format, args...)
	}
}

// loop reads requests and starts one goroutine per request.
func (s *server) loop() error {
	buf := make([]byte, proto.MaxMessage)
	oob := make([]byte, proto.OOBSize)
	for {
		msg, fds, err := proto.Recv(s.conn, buf, oob)
		// The sentry never sends fds; don't let it fill our table.
		proto.CloseFDs(fds)
		if err != nil && err != unix.EMSGSIZE {
			return err
		}
		h, herr := proto.ParseHeader(msg)
		if err == unix.EMSGSIZE || herr != nil {
			s.log("gofer: bad message (%d bytes, id %d, op %d): %v %v", len(msg), h.ID, h.Op, err, herr)
			if len(msg) < proto.HeaderSize {
				// Unreadable header: report on id 0, which no
				// request uses.
				h = proto.Header{}
			}
			e := proto.NewEncoder(nil)
			if err := proto.Send(s.conn, e.Finish(h.ID, h.Op, uint32(unix.EINVAL))); err != nil {
				s.log("gofer: reply to bad message: %v", err)
			}
			continue
		}
		payload := append([]byte(nil), msg[proto.HeaderSize:]...)
		s.sem <- struct{}{}
		s.wg.Add(1)
		go func() {
			defer func() {
				<-s.sem
				s.wg.Done()
			}()
			s.handle(h, payload)
		}()
	}
}

// handle runs one request and replies to it (unless its id is 0).
func (s *server) handle(h proto.Header, payload []byte) {
	var enc *proto.Encoder
	fd := -1
	var err error
	defer func() {
		if r := recover(); r != nil {
			// A bug in an operation must not take the pod's gofer down.
			s.log("gofer: panic in %v: %v", h.Op, r)
			err = unix.EIO
		}
		if fd >= 0 && err != nil {
			unix.Close(fd)
			fd = -1
		}
		if err != nil {
			s.reply(h.ID, h.Op, proto.Errno(err), nil, -1)
		} else {
			s.reply(h.ID, h.Op, 0, enc, fd)
		}
		if fd >= 0 {
			unix.Close(fd)
		}
	}()
	if h.Errno != 0 {
		err = unix.EINVAL
		return
	}
	op, ok := ops[h.Op]
	if !ok {
		err = unix.ENOSYS
		return
	}
	req := op.req()
	d := &proto.Decoder{B: payload}
	req.Decode(d)
	if err = d.Done(); err != nil {
		return
	}
	enc = proto.NewEncoder(make([]byte, 0, 256))
	fd, err = op.fn(s, req, enc)
}

// reply sends a reply with an optional donated fd (not closed here).
func (s *server) reply(id uint32, op proto.Op, errno unix.Errno, enc *proto.Encoder, fd int) {
	if id == 0 {
		return // no reply wanted
	}
	if enc == nil || errno != 0 {
		enc = proto.NewEncoder(make([]byte, 0, proto.HeaderSize))
	}
	msg := enc.Finish(id, op, uint32(errno))
	var err error
	if fd >= 0 {
		err = proto.Send(s.conn, msg, fd)
	} else {
		err = proto.Send(s.conn, msg)
	}
	if err != nil {
		s.log("gofer: reply %v id %d: %v", op, id, err)
	}
}

// opFunc runs a decoded request, encodes the reply payload into e and
// returns a descriptor to donate with it (or -1).
type opFunc func(s *server, req proto.Message, e *proto.Encoder) (int, error)

type opEntry struct {
	req func() proto.Message
	fn  opFunc
}

// get returns the node of handle h with a reference the caller must put.
func (s *server) get(h uint64) (*node, error) {
	s.mu.Lock()
	n := s.handles[h]
	if n != nil {
		n.refs.Add(1)
	}
	s.mu.Unlock()
	if n == nil {
		return nil, unix.EBADF
	}
	return n, nil
}

// put drops a reference to n, closing its fd on the last one.
func (s *server) put(n *node) {
	if n.refs.Add(-1) == 0 {
		unix.Close(n.fd)
		if n.hasDir { // no other reference: dirMu not needed
			unix.Close(n.dirFD)
		}
	}
}

// add wraps fd (O_PATH) in a node, stats it and enters it in the table. The
// node is returned with an extra reference for the caller. On error fd is
// closed.
func (s *server) add(fd int) (*node, proto.Node, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, proto.Node{}, err
	}
	n := &node{fd: fd, kind: st.Mode & unix.S_IFMT}
	n.refs.Store(2)
	s.mu.Lock()
	s.next++
	h := s.next
	s.handles[h] = n
	s.mu.Unlock()
	return n, proto.Node{Handle: h, Stat: toStat(&st)}, nil
}

// remove drops handle h from the table.
func (s *server) remove(h uint64) {
	s.mu.Lock()
	n := s.handles[h]
	delete(s.handles, h)
	s.mu.Unlock()
	if n != nil {
		s.put(n)
	}
}

func toStat(st *unix.Stat_t) proto.Stat {
	return proto.Stat{
		Mode:    st.Mode,
		Nlink:   uint64(st.Nlink),
		UID:     st.Uid,
		GID:     st.Gid,
		Rdev:    st.Rdev,
		Size:    st.Size,
		Blksize: int64(st.Blksize),
		Blocks:  st.Blocks,
		Atime:   st.Atim.Nano(),
		Mtime:   st.Mtim.Nano(),
		Ctime:   st.Ctim.Nano(),
		Ino:     st.Ino,
		Dev:     st.Dev,
	}
}

// procName is the name of fd in the /proc/self/fd directory.
func procName(fd int) string { return strconv.Itoa(fd) }

// lookup opens name (a checked single component) beneath dir as an O_PATH
// descriptor without following any symlink.
func lookup(dirFD int, name string, extra uint64) (int, error) {
	if err := proto.CheckName(name); err != nil {
		return -1, err
	}
	return openat2(dirFD, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC|extra, 0)
}

// openat2 is unix.Openat2 with the gofer's resolve flags, retrying EINTR and
// EAGAIN (which openat2 returns when a concurrent rename races a
// RESOLVE_BENEATH lookup).
func openat2(dirFD int, path string, flags uint64, mode uint64) (int, error) {
	how := unix.OpenHow{Flags: flags, Mode: mode, Resolve: resolveFlags}
	for i := 0; ; i++ {
		fd, err := unix.Openat2(dirFD, path, &how)
		if (err == unix.EINTR || err == unix.EAGAIN) && i < 100 {
			continue
		}
		return fd, err
	}
}
