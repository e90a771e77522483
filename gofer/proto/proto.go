// Package proto defines the wire protocol between the sentry and the gofer.
//
// # Transport
//
// One connected AF_UNIX SOCK_SEQPACKET socket per sentry. SEQPACKET was
// chosen over SOCK_STREAM because the kernel keeps message boundaries: every
// request and every reply is exactly one sendmsg/recvmsg, so a donated file
// descriptor (SCM_RIGHTS) is always attached to the one reply it belongs to,
// a short or oversized message is visible as such (MSG_TRUNC) instead of
// desynchronising a byte stream, and concurrent writers never interleave.
// The cost is a maximum message size (MaxMessage), which every operation
// respects by construction (names are at most 255 bytes, walks at most
// MaxWalk components, getdents pages are capped).
//
// # Framing
//
// Every message, in both directions, starts with a 16-byte little-endian
// header:
//
//	uint32 length  total message length including the header
//	uint32 id      request id, echoed in the reply; 0 = "no reply wanted"
//	uint32 op      operation (Op*), echoed in the reply
//	uint32 errno   0 in requests; in replies a Linux errno (payload empty)
//
// The length is redundant with the SEQPACKET boundary and is checked against
// it, so truncated messages are rejected. Ids let many requests be in flight
// on one connection: the gofer serves them concurrently and replies in any
// order. A reply with id 0 reports a message whose header could not be read.
//
// # Payloads
//
// Little-endian fixed-size integers; strings and byte slices are a uint32
// length followed by the bytes. Each Op's request and reply layouts are the
// Encode/Decode methods of the types in msgs.go. Errors are Linux errno
// numbers (unix.Errno). There is no version field: both ends are built from
// the same tree and started together.
//
// # Handles
//
// A handle (uint64, never 0, never reused on a connection) names a file the
// gofer holds open with O_PATH. Walk, Attach and the creating operations
// return new handles; Close releases them. Handles are per connection and all
// are released when the connection closes.
package proto

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// Op is an operation number.
type Op uint32

// Operations. The numbers are part of the wire format.
const (
	OpAttach   Op = 1
	OpWalk     Op = 2
	OpStat     Op = 3
	OpOpen     Op = 4
	OpCreate   Op = 5
	OpMkdir    Op = 6
	OpMknod    Op = 7
	OpSymlink  Op = 8
	OpLink     Op = 9
	OpUnlink   Op = 10
	OpRename   Op = 11
	OpReadlink Op = 12
	OpGetdents Op = 13
	OpSetattr  Op = 14
	OpStatfs   Op = 15
	OpClose    Op = 16
	OpBind     Op = 17
	OpWalkOpen Op = 18
	opMax      Op = 19
)

var opNames = [...]string{
	OpAttach: "attach", OpWalk: "walk", OpStat: "stat", OpOpen: "open",
	OpCreate: "create", OpMkdir: "mkdir", OpMknod: "mknod", OpSymlink: "symlink",
	OpLink: "link", OpUnlink: "unlink", OpRename: "rename", OpReadlink: "readlink",
	OpGetdents: "getdents", OpSetattr: "setattr", OpStatfs: "statfs",
	OpClose: "close", OpBind: "bind", OpWalkOpen: "walkopen",
}

func (o Op) String() string {
	if o > 0 && o < opMax {
		return opNames[o]
	}
	return "op?"
}

// Valid reports whether o is a known operation.
func (o Op) Valid() bool { return o > 0 && o < opMax }

const (
	// HeaderSize is the size of the message header.
	HeaderSize = 16
	// MaxMessage is the largest message either side sends or accepts.
	MaxMessage = 64 << 10
	// MaxWalk is the largest number of components in one Walk.
	MaxWalk = 128
	// MaxName is the longest single path component (NAME_MAX).
	MaxName = 255
	// MaxSymlink is the longest symlink target (PATH_MAX - 1).
	MaxSymlink = 4095
	// MaxClose is the largest number of handles in one Close.
	MaxClose = 1024
	// MaxFDs is the most file descriptors attached to one message.
	MaxFDs = 1
)

// Header is the message header.
type Header struct {
	Length uint32
	ID     uint32
	Op     Op
	Errno  uint32
}

// PutHeader writes h into the first HeaderSize bytes of b.
func PutHeader(b []byte, h Header) {
	binary.LittleEndian.PutUint32(b[0:], h.Length)
	binary.LittleEndian.PutUint32(b[4:], h.ID)
	binary.LittleEndian.PutUint32(b[8:], uint32(h.Op))
	binary.LittleEndian.PutUint32(b[12:], h.Errno)
}

// ParseHeader reads the header of msg and checks its length field against
// len(msg). It returns EINVAL for a short or inconsistent message; the
// returned header is still filled in as far as it could be read so the id can
// be echoed.
func ParseHeader(msg []byte) (Header, error) {
	var h Header
	if len(msg) < HeaderSize {
		return h, unix.EINVAL
	}
	h.Length = binary.LittleEndian.Uint32(msg[0:])
	h.ID = binary.LittleEndian.Uint32(msg[4:])
	h.Op = Op(binary.LittleEndian.Uint32(msg[8:]))
	h.Errno = binary.LittleEndian.Uint32(msg[12:])
	if int(h.Length) != len(msg) {
		return h, unix.EINVAL
	}
	return h, nil
}

// Encoder appends little-endian values to a byte slice.
type Encoder struct {
	B []byte
}

// NewEncoder returns an encoder whose buffer starts with room for a header.
// buf is reused if it is large enough.
func NewEncoder(buf []byte) *Encoder {
	return &Encoder{B: append(buf[:0], make([]byte, HeaderSize)...)}
}

// Finish fills in the header and returns the message.
func (e *Encoder) Finish(id uint32, op Op, errno uint32) []byte {
	PutHeader(e.B, Header{Length: uint32(len(e.B)), ID: id, Op: op, Errno: errno})
	return e.B
}

// U8 appends v.
func (e *Encoder) U8(v uint8) { e.B = append(e.B, v) }

// U32 appends v.
func (e *Encoder) U32(v uint32) { e.B = binary.LittleEndian.AppendUint32(e.B, v) }

// U64 appends v.
func (e *Encoder) U64(v uint64) { e.B = binary.LittleEndian.AppendUint64(e.B, v) }

// I64 appends v.
func (e *Encoder) I64(v int64) { e.U64(uint64(v)) }

// String appends a length-prefixed string.
func (e *Encoder) String(s string) {
	e.U32(uint32(len(s)))
	e.B = append(e.B, s...)
}

// Decoder reads little-endian values from a byte slice. The first short read
// sets Err (EINVAL) and makes every later read return zero, so a message can
// be decoded field by field and checked once at the end.
type Decoder struct {
	B   []byte
	Err error
}

func (d *Decoder) take(n int) []byte {
	if d.Err != nil {
		return nil
	}
	if n < 0 || n > len(d.B) {
		d.Err = unix.EINVAL
		d.B = nil
		return nil
	}
	b := d.B[:n]
	d.B = d.B[n:]
	return b
}

// U8 reads a byte.
func (d *Decoder) U8() uint8 {
	if b := d.take(1); b != nil {
		return b[0]
	}
	return 0
}

// U32 reads a uint32.
func (d *Decoder) U32() uint32 {
	if b := d.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

// U64 reads a uint64.
func (d *Decoder) U64() uint64 {
	if b := d.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// I64 reads an int64.
func (d *Decoder) I64() int64 { return int64(d.U64()) }

// String reads a length-prefixed string of at most max bytes; a longer one
// sets Err to ENAMETOOLONG.
func (d *Decoder) String(max int) string {
	n := d.U32()
	if d.Err != nil {
		return ""
	}
	if int64(n) > int64(max) {
		d.Err = unix.ENAMETOOLONG
		return ""
	}
	return string(d.take(int(n)))
}

// Done returns Err, or EINVAL if bytes are left over.
func (d *Decoder) Done() error {
	if d.Err == nil && len(d.B) != 0 {
		d.Err = unix.EINVAL
	}
	return d.Err
}

// CheckName validates a single path component the way Linux would answer
// for a lookup of it: "" is ENOENT, "." and ".." are EINVAL (the sentry
// resolves them itself), names containing '/' or NUL are EINVAL, names longer
// than MaxName are ENAMETOOLONG.
func CheckName(name string) error {
	switch {
	case name == "":
		return unix.ENOENT
	case name == "." || name == "..":
		return unix.EINVAL
	case len(name) > MaxName:
		return unix.ENAMETOOLONG
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '/' || name[i] == 0 {
			return unix.EINVAL
		}
	}
	return nil
}

var errInval error = unix.EINVAL
