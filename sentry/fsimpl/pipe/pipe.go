// Package pipe implements pipes and FIFOs: a byte buffer (64 KiB by
// default, changeable with F_SETPIPE_SZ) with reader and writer ends.
//
// Semantics follow Linux: writes of at most PIPE_BUF bytes are atomic (all
// or EAGAIN); larger writes may be partial; a write with no reader fails
// with EPIPE (the syscall layer sends SIGPIPE); a read of an empty pipe
// returns EAGAIN while writers exist and end of file when none do. Nothing
// here blocks: EAGAIN plus waiter notifications let the syscall layer wait.
//
// A FIFO's open follows fifo(7): O_RDONLY without O_NONBLOCK waits for a
// writer (through vfs.OpenWaiter), O_WRONLY|O_NONBLOCK with no reader fails
// with ENXIO, O_RDWR never waits.
//
// Locking: Pipe.mu guards everything in the Pipe; it is taken before the
// waiter queue's lock (Notify is called with it held).
package pipe

import (
	"encoding/binary"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

// Sizes, as Linux.
const (
	// PipeBuf is PIPE_BUF: writes up to this size are atomic.
	PipeBuf = 4096
	// DefaultSize is a new pipe's capacity.
	DefaultSize = 65536
	// MaxSize is /proc/sys/fs/pipe-max-size: F_SETPIPE_SZ beyond it needs
	// CAP_SYS_RESOURCE.
	MaxSize = 1 << 20
	// hardMax bounds F_SETPIPE_SZ even with the capability.
	hardMax = 1 << 26
)

// Pipe is one pipe buffer with its ends.
type Pipe struct {
	queue waiter.Queue

	mu sync.Mutex
	// data holds the unread bytes, data[0] first.
	data []byte
	max  int
	// readers and writers count open ends.
	readers, writers int
	// rOpens and wOpens count opens ever made, for FIFO open waiting.
	rOpens, wOpens uint64
	// openCh is closed (and replaced) whenever an end opens.
	openCh chan struct{}
}

// New returns an empty pipe with no ends open.
func New() *Pipe {
	return &Pipe{max: DefaultSize, openCh: make(chan struct{})}
}

// end is one open end of a pipe: the vfs.FileImpl.
type end struct {
	vfs.FileDefaults
	p        *Pipe
	read     bool
	write    bool
	fifo     bool
	awaitCnt uint64 // the other side's open count this end waits to change
	awaiting bool
}

// IsStream implements vfs.StreamFile.
func (e *end) IsStream() bool { return true }

// Open implements opening one end with open(2) flags (for FIFOs).
func (p *Pipe) Open(ctx vfs.Context, vd vfs.VirtualDentry, flags uint32) (vfs.FileImpl, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := &end{p: p, fifo: true}
	nonblock := flags&unix.O_NONBLOCK != 0
	switch flags & unix.O_ACCMODE {
	case unix.O_RDONLY:
		e.read = true
		if !nonblock && p.writers == 0 {
			e.awaiting, e.awaitCnt = true, p.wOpens
		}
	case unix.O_WRONLY:
		if p.readers == 0 {
			if nonblock {
				return nil, unix.ENXIO
			}
			e.awaiting, e.awaitCnt = true, p.rOpens
		}
		e.write = true
	case unix.O_RDWR:
		e.read, e.write = true, true
	default:
		return nil, unix.EINVAL
	}
	p.openLocked(e)
	return e, nil
}

func (p *Pipe) openLocked(e *end) {
	if e.read {
		p.readers++
		p.rOpens++
	}
	if e.write {
		p.writers++
		p.wOpens++
	}
	close(p.openCh)
	p.openCh = make(chan struct{})
	p.queue.Notify(waiter.ReadableEvents | waiter.WritableEvents)
}

// OpenReady implements vfs.OpenWaiter.
func (e *end) OpenReady() (bool, <-chan struct{}) {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if !e.awaiting {
		return true, nil
	}
	if e.read && (p.writers > 0 || p.wOpens != e.awaitCnt) {
		e.awaiting = false
		return true, nil
	}
	if e.write && !e.read && (p.readers > 0 || p.rOpens != e.awaitCnt) {
		e.awaiting = false
		return true, nil
	}
	return false, p.openCh
}

// Release implements vfs.FileImpl.
func (e *end) Release(ctx vfs.Context) {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.read {
		p.readers--
	}
	if e.write {
		p.writers--
	}
	if p.readers == 0 && p.writers == 0 && e.fifo {
		// A FIFO's contents vanish when the last end closes.
		p.data = nil
	}
	close(p.openCh)
	p.openCh = make(chan struct{})
	p.queue.Notify(waiter.ReadableEvents | waiter.WritableEvents | waiter.EventHUp | waiter.EventErr)
}

// Read implements vfs.FileImpl.
func (e *end) Read(ctx vfs.Context, dst [][]byte, off int64) (int64, error) {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	want := 0
	for _, b := range dst {
		want += len(b)
	}
	if want == 0 {
		return 0, nil
	}
	if len(p.data) == 0 {
		if p.writers == 0 {
			return 0, nil
		}
		return 0, unix.EAGAIN
	}
	var n int
	for _, b := range dst {
		c := copy(b, p.data[n:])
		n += c
		if c < len(b) {
			break
		}
	}
	p.data = p.data[n:]
	if len(p.data) == 0 {
		p.data = nil
	}
	p.queue.Notify(waiter.WritableEvents)
	return int64(n), nil
}

// Write implements vfs.FileImpl.
func (e *end) Write(ctx vfs.Context, src [][]byte, off int64, appendMode bool) (int64, int64, error) {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	total := 0
	for _, b := range src {
		total += len(b)
	}
	if p.readers == 0 {
		return 0, 0, unix.EPIPE
	}
	if total == 0 {
		return 0, 0, nil
	}
	free := p.max - len(p.data)
	if free <= 0 || (total <= PipeBuf && free < total) {
		return 0, 0, unix.EAGAIN
	}
	n := 0
	for _, b := range src {
		if n >= free {
			break
		}
		c := min(len(b), free-n)
		p.data = append(p.data, b[:c]...)
		n += c
	}
	p.queue.Notify(waiter.ReadableEvents)
	return int64(n), 0, nil
}

// Readiness implements waiter.Waitable.
func (e *end) Readiness(mask waiter.EventMask) waiter.EventMask {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	var r waiter.EventMask
	if e.read {
		if len(p.data) > 0 {
			r |= waiter.ReadableEvents
		}
		if p.writers == 0 && p.wOpens > 0 {
			r |= waiter.EventHUp
		}
	}
	if e.write {
		if p.readers == 0 {
			r |= waiter.EventErr
		} else if p.max-len(p.data) >= min(PipeBuf, p.max) {
			r |= waiter.WritableEvents
		}
	}
	return r & (mask | waiter.EventHUp | waiter.EventErr)
}

// EventRegister implements waiter.Waitable.
func (e *end) EventRegister(w *waiter.Entry, mask waiter.EventMask) {
	e.p.queue.EventRegister(w, mask|waiter.EventHUp|waiter.EventErr)
}

// EventUnregister implements waiter.Waitable.
func (e *end) EventUnregister(w *waiter.Entry) { e.p.queue.EventUnregister(w) }

// Seek implements vfs.FileImpl.
func (e *end) Seek(ctx vfs.Context, off int64, whence int, cur int64) (int64, error) {
	return 0, unix.ESPIPE
}

// Allocate implements vfs.FileImpl.
func (e *end) Allocate(ctx vfs.Context, mode uint32, off, length int64) error { return unix.ESPIPE }

// Ioctl implements vfs.FileImpl: FIONREAD.
func (e *end) Ioctl(ctx vfs.IoctlContext, fd *vfs.FileDescription, cmd uint32, arg uintptr) (uintptr, error) {
	switch cmd {
	case linux.FIONREAD:
		e.p.mu.Lock()
		n := len(e.p.data)
		e.p.mu.Unlock()
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(n))
		if _, err := ctx.CopyOut(arg, b[:]); err != nil {
			return 0, err
		}
		return 0, nil
	}
	return 0, unix.ENOTTY
}

// Size returns the capacity (F_GETPIPE_SZ).
func (p *Pipe) Size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.max
}

// SetSize implements F_SETPIPE_SZ: the size is rounded up to a power of
// two of pages; beyond MaxSize it needs CAP_SYS_RESOURCE (EPERM); smaller
// than the bytes buffered it is EBUSY. It returns the new size.
func (p *Pipe) SetSize(creds *auth.Credentials, size int64) (int, error) {
	if size < 0 || size > hardMax {
		return 0, unix.EINVAL
	}
	n := int64(4096)
	for n < size {
		n <<= 1
	}
	if n > MaxSize && !creds.HasCapability(auth.CapSysResource) {
		return 0, unix.EPERM
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if int(n) < len(p.data) {
		return 0, unix.EBUSY
	}
	p.max = int(n)
	p.queue.Notify(waiter.WritableEvents)
	return p.max, nil
}

// FromFile returns the pipe behind an open pipe or FIFO, or nil.
func FromFile(fd *vfs.FileDescription) *Pipe {
	if e, ok := fd.Impl().(*end); ok {
		return e.p
	}
	return nil
}

// anonInode is the inode of a pipe made by pipe(2).
type anonInode struct {
	vfs.NoSetStat
	ino      uint64
	uid, gid uint32
	p        *Pipe
	ctime    linux.StatxTimestamp
}

// Stat implements vfs.Inode.
func (a *anonInode) Stat(ctx vfs.Context) (linux.Statx, error) {
	a.p.mu.Lock()
	size := uint64(len(a.p.data))
	a.p.mu.Unlock()
	return linux.Statx{
		Mask: linux.STATX_BASIC_STATS, Blksize: 4096, Nlink: 1, UID: a.uid, GID: a.gid,
		Mode: uint16(linux.S_IFIFO | 0o600), Ino: a.ino, Size: size,
		Atime: a.ctime, Mtime: a.ctime, Ctime: a.ctime,
	}, nil
}

// NewConnectedFiles implements pipe(2): it returns the read and write ends
// of a new pipe, each with one reference. flags may hold O_NONBLOCK and
// O_DIRECT (O_CLOEXEC is the caller's FD flag).
func NewConnectedFiles(ctx vfs.Context, v *vfs.VirtualFilesystem, flags uint32) (r, w *vfs.FileDescription) {
	p := New()
	creds := ctx.Credentials()
	ino := &anonInode{ino: v.NextAnonIno(), uid: uint32(creds.EffectiveUID), gid: uint32(creds.EffectiveGID), p: p, ctime: vfs.NowTimestamp()}
	vd := v.NewAnonVirtualDentry(fmt.Sprintf("pipe:[%d]", ino.ino), ino)
	defer vd.DecRef()
	re := &end{p: p, read: true}
	we := &end{p: p, write: true}
	p.mu.Lock()
	p.openLocked(re)
	p.openLocked(we)
	p.mu.Unlock()
	extra := flags & (unix.O_NONBLOCK | unix.O_DIRECT)
	r = v.NewFileDescription(re, vd, unix.O_RDONLY|extra)
	w = v.NewFileDescription(we, vd, unix.O_WRONLY|extra)
	return r, w
}

// Sync implements vfs.FileImpl: fsync of a pipe is EINVAL.
func (e *end) Sync(ctx vfs.Context) error { return unix.EINVAL }
