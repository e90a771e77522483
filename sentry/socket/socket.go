// Package socket holds what every socket family of the sentry shares: the
// Socket interface the socket system calls (syscalls/sys_socket.go) drive,
// control messages (SCM_RIGHTS, SCM_CREDENTIALS) in their in-sentry form and
// their wire encoding, and small helpers for socket options.
//
// A socket is an open file (its vfs.FileImpl also implements Socket), so
// read/write/poll/close work through vfs like any other file. Those vfs
// paths never block (EAGAIN plus waiter notifications). The socket
// operations proper (SendMsg, RecvMsg, Accept, Connect) take a Blocker: nil
// means "do not wait" (O_NONBLOCK, MSG_DONTWAIT); otherwise the socket waits
// itself through the Blocker (the calling *kernel.Task), because only the
// socket knows what to wait on (a peer's queue, a listener's backlog) and
// its own SO_RCVTIMEO/SO_SNDTIMEO.
//
// Families: AF_UNIX is package unixsock. Inet sockets come with the
// netstack integration.
package socket

import (
	"encoding/binary"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/vfs"
	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

// Blocker waits for events of a Waitable. The kernel's *Task implements it
// (Task.BlockOn): it returns nil when an event in mask is ready, ETIMEDOUT
// at the deadline (zero: none) and kernel.ERESTARTSYS on a signal.
type Blocker interface {
	BlockOn(w waiter.Waitable, mask waiter.EventMask, deadline time.Time) error
}

// ERESTARTSYS is the kernel's restart errno (kernel.ERESTARTSYS), repeated
// here so sockets need not import the kernel.
const ERESTARTSYS = unix.Errno(512)

// PIDOf returns the process id of the caller of a socket operation (for
// SO_PEERCRED and SCM_CREDENTIALS). The syscall layer replaces it with one
// that knows *kernel.Task; by default a ctx with a PID() int32 method is
// asked, anything else is pid 0.
var PIDOf = func(ctx vfs.Context) int32 {
	if p, ok := ctx.(interface{ PID() int32 }); ok {
		return p.PID()
	}
	return 0
}

// Creds are the credentials carried by SCM_CREDENTIALS and reported by
// SO_PEERCRED (struct ucred).
type Creds struct {
	PID int32
	UID uint32
	GID uint32
}

// CallerCreds returns the caller's pid and effective uid/gid.
func CallerCreds(ctx vfs.Context) Creds {
	c := ctx.Credentials()
	return Creds{PID: PIDOf(ctx), UID: uint32(c.EffectiveUID), GID: uint32(c.EffectiveGID)}
}

// Marshal returns the 12-byte struct ucred.
func (c Creds) Marshal() []byte {
	b := make([]byte, 12)
	binary.LittleEndian.PutUint32(b[0:], uint32(c.PID))
	binary.LittleEndian.PutUint32(b[4:], c.UID)
	binary.LittleEndian.PutUint32(b[8:], c.GID)
	return b
}

// ControlMessages are the ancillary data of one message in sentry form.
// Rights hold one reference each, owned by whoever holds the struct.
type ControlMessages struct {
	Rights []*vfs.FileDescription
	// Creds is SCM_CREDENTIALS (nil: none given / none to report).
	Creds *Creds
	// IP are protocol-level messages to report (IP_PKTINFO, IP_TTL,
	// IPV6_HOPLIMIT, ...), already in their wire form, in order.
	IP []RawControl
}

// RawControl is one control message of a level other than SOL_SOCKET.
type RawControl struct {
	Level, Type int32
	Data        []byte
}

// Release drops the references of Rights.
func (c *ControlMessages) Release(ctx vfs.Context) {
	for _, f := range c.Rights {
		f.DecRef(ctx)
	}
	c.Rights = nil
}

// RecvResult is what RecvMsg returns besides an error.
type RecvResult struct {
	// N is the number of bytes copied (with MSG_TRUNC on a datagram
	// socket, the syscall returns MsgLen instead).
	N int64
	// MsgLen is the full length of the datagram read (= N for streams).
	MsgLen int64
	// From is the sender's address (struct sockaddr bytes), nil if the
	// sender is unnamed or the family has none to give.
	From []byte
	// Control is what came with the data; the caller installs or
	// releases Rights.
	Control ControlMessages
	// Flags are the msg_flags to report (MSG_TRUNC; MSG_CTRUNC is added
	// by the encoder).
	Flags int
}

// Socket is implemented by the FileImpl of every socket.
type Socket interface {
	vfs.FileImpl

	// Family, Type and Protocol are SO_DOMAIN, SO_TYPE and SO_PROTOCOL.
	Family() int
	Type() int
	Protocol() int

	Bind(ctx vfs.Context, addr []byte) error
	Listen(ctx vfs.Context, backlog int) error
	// Accept returns a new connected socket file (flags may hold
	// O_NONBLOCK) with one reference, and the peer's address.
	Accept(ctx vfs.Context, b Blocker, flags uint32) (*vfs.FileDescription, []byte, error)
	Connect(ctx vfs.Context, b Blocker, addr []byte) error
	Shutdown(ctx vfs.Context, how int) error
	// SockName and PeerName return struct sockaddr bytes.
	SockName(ctx vfs.Context) ([]byte, error)
	PeerName(ctx vfs.Context) ([]byte, error)
	// GetSockOpt returns the option's value (at most optLen bytes are
	// copied out by the caller; the value's own length is reported).
	GetSockOpt(ctx vfs.Context, level, name int, optLen int) ([]byte, error)
	SetSockOpt(ctx vfs.Context, level, name int, val []byte) error
	// SendMsg sends src (to: destination address or nil). The socket
	// takes its own references on ctrl.Rights; the caller keeps its own.
	SendMsg(ctx vfs.Context, b Blocker, src [][]byte, to []byte, ctrl ControlMessages, flags int) (int64, error)
	// RecvMsg receives into dst. wantAddr asks for From.
	RecvMsg(ctx vfs.Context, b Blocker, dst [][]byte, flags int, wantAddr bool) (RecvResult, error)
}

// Timeouts is implemented by sockets with SO_RCVTIMEO / SO_SNDTIMEO, so
// that read(2)/write(2) on a socket can bound their waits too (zero: no
// timeout; on expiry Linux returns EAGAIN).
type Timeouts interface {
	RecvTimeout() time.Duration
	SendTimeout() time.Duration
}

// TimeoutOpts keeps a socket's SO_RCVTIMEO and SO_SNDTIMEO; a socket type
// embeds it to implement Timeouts. Safe for concurrent use (no lock).
type TimeoutOpts struct{ rcv, snd atomic.Int64 }

// RecvTimeout implements Timeouts.
func (t *TimeoutOpts) RecvTimeout() time.Duration { return time.Duration(t.rcv.Load()) }

// SendTimeout implements Timeouts.
func (t *TimeoutOpts) SendTimeout() time.Duration { return time.Duration(t.snd.Load()) }

// TimeoutOpt returns SO_RCVTIMEO or SO_SNDTIMEO (name) as a struct timeval.
func (t *TimeoutOpts) TimeoutOpt(name int) []byte {
	if name == unix.SO_RCVTIMEO {
		return Timeval(t.RecvTimeout())
	}
	return Timeval(t.SendTimeout())
}

// SetTimeoutOpt sets SO_RCVTIMEO or SO_SNDTIMEO (name) from a struct
// timeval.
func (t *TimeoutOpts) SetTimeoutOpt(name int, val []byte) error {
	d, err := ParseTimeval(val)
	if err != nil {
		return err
	}
	if name == unix.SO_RCVTIMEO {
		t.rcv.Store(int64(d))
	} else {
		t.snd.Store(int64(d))
	}
	return nil
}

// TotalLen returns the summed length of blocks.
func TotalLen(bs [][]byte) int64 {
	var n int64
	for _, b := range bs {
		n += int64(len(b))
	}
	return n
}

// Timeval encodes d as struct timeval (16 bytes).
func Timeval(d time.Duration) []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b[0:], uint64(d/time.Second))
	binary.LittleEndian.PutUint64(b[8:], uint64((d%time.Second)/time.Microsecond))
	return b
}

// ParseTimeval decodes a struct timeval for SO_RCVTIMEO/SO_SNDTIMEO: it
// needs 16 bytes (EINVAL), usec must be in [0, 1e6) (EDOM), a negative
// value means no timeout, as Linux.
func ParseTimeval(b []byte) (time.Duration, error) {
	if len(b) < 16 {
		return 0, unix.EINVAL
	}
	sec := int64(binary.LittleEndian.Uint64(b[0:]))
	usec := int64(binary.LittleEndian.Uint64(b[8:]))
	if usec < 0 || usec >= 1000000 {
		return 0, unix.EDOM
	}
	if sec < 0 {
		return 0, nil
	}
	if sec > int64(1<<62)/int64(time.Second) {
		return 0, nil // effectively forever
	}
	return time.Duration(sec)*time.Second + time.Duration(usec)*time.Microsecond, nil
}

// Int32Opt reads an int option value (at least 4 bytes, else EINVAL).
func Int32Opt(b []byte) (int32, error) {
	if len(b) < 4 {
		return 0, unix.EINVAL
	}
	return int32(binary.LittleEndian.Uint32(b)), nil
}

// Int32Val encodes v as an int option value.
func Int32Val(v int32) []byte {
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, uint32(v))
	return b
}

// BoolVal encodes v as 0/1.
func BoolVal(v bool) []byte {
	if v {
		return Int32Val(1)
	}
	return Int32Val(0)
}
