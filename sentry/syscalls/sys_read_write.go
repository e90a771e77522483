package syscalls

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/arch"
	"github.com/runsc-cri/runsc-cri/sentry/kernel"
	"github.com/runsc-cri/runsc-cri/sentry/socket"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

func init() {
	addFamily(map[uintptr]Entry{
		unix.SYS_READ:            {Handler: Read, Support: Full},
		unix.SYS_WRITE:           {Handler: Write, Support: Full},
		unix.SYS_PREAD64:         {Handler: Pread64, Support: Full},
		unix.SYS_PWRITE64:        {Handler: Pwrite64, Support: Full},
		unix.SYS_READV:           {Handler: Readv, Support: Full},
		unix.SYS_WRITEV:          {Handler: Writev, Support: Full},
		unix.SYS_PREADV:          {Handler: Preadv, Support: Full},
		unix.SYS_PWRITEV:         {Handler: Pwritev, Support: Full},
		unix.SYS_PREADV2:         {Handler: Preadv2, Support: Partial, Note: "RWF_HIPRI/DSYNC/SYNC accepted and ignored"},
		unix.SYS_PWRITEV2:        {Handler: Pwritev2, Support: Partial, Note: "RWF_HIPRI/DSYNC/SYNC accepted and ignored"},
		unix.SYS_LSEEK:           {Handler: Lseek, Support: Full},
		unix.SYS_SENDFILE:        {Handler: Sendfile, Support: Partial, Note: "a read+write loop; data read from a stream but not written is lost on error"},
		unix.SYS_COPY_FILE_RANGE: {Handler: CopyFileRange, Support: Partial, Note: "a read+write loop"},
	})
}

// maxRW is MAX_RW_COUNT: one read or write moves at most this much.
const maxRW = 0x7ffff000

// iovec is one struct iovec.
type iovec struct{ base, len uintptr }

// copyInIovecs reads and validates count iovecs at addr, clamping the
// total to MAX_RW_COUNT as Linux does.
func copyInIovecs(t *kernel.Task, addr uintptr, count int32) ([]iovec, error) {
	if count < 0 || count > linux.UIO_MAXIOV {
		return nil, unix.EINVAL
	}
	if count == 0 {
		return nil, nil
	}
	buf := make([]byte, 16*int(count))
	if _, err := t.CopyIn(addr, buf); err != nil {
		return nil, unix.EFAULT
	}
	iovs := make([]iovec, count)
	var total uint64
	for i := range iovs {
		base := binary.LittleEndian.Uint64(buf[16*i:])
		l := binary.LittleEndian.Uint64(buf[16*i+8:])
		if int64(l) < 0 {
			return nil, unix.EINVAL
		}
		if total+l > maxRW {
			l = maxRW - total
		}
		total += l
		iovs[i] = iovec{uintptr(base), uintptr(l)}
	}
	return iovs, nil
}

// withIovecBlocks gives fn the application memory of iovs as one list of
// blocks (holding page references for all of them), stopping at the first
// iovec that is not wholly valid. EFAULT only if the first one is bad.
func withIovecBlocks(t *kernel.Task, iovs []iovec, write bool, fn func([][]byte) (int64, error)) (int64, error) {
	var all [][]byte
	var res int64
	called := false
	finish := func() (int, error) {
		called = true
		var err error
		res, err = fn(all)
		return 0, err
	}
	var rec func(i int) (int, error)
	rec = func(i int) (int, error) {
		for i < len(iovs) && iovs[i].len == 0 {
			i++
		}
		if i == len(iovs) {
			return finish()
		}
		_, err := t.WithBlocks(iovs[i].base, iovs[i].len, write, func(bs [][]byte) (int, error) {
			all = append(all, bs...)
			var got uintptr
			for _, b := range bs {
				got += uintptr(len(b))
			}
			if got < iovs[i].len {
				return finish()
			}
			return rec(i + 1)
		})
		if err != nil && !called && len(all) > 0 {
			return finish()
		}
		return 0, err
	}
	_, err := rec(0)
	if !called && err != nil {
		return 0, err
	}
	return res, err
}

// readInto reads from f into blocks, waiting while the file would block
// (unless it or this call is non-blocking). off < 0 uses the file offset.
func readInto(t *kernel.Task, f *vfs.FileDescription, bs [][]byte, off int64, nonblock bool) (int64, error) {
	w := ioWaiter{t: t, f: f, mask: waiter.ReadableEvents}
	defer w.done()
	for {
		var n int64
		var err error
		if off < 0 {
			n, err = f.Read(t, bs)
		} else {
			n, err = f.PRead(t, bs, off)
		}
		if err != unix.EAGAIN || nonblock || f.IsNonblocking() {
			return n, err
		}
		if err := w.wait(); err != nil {
			return 0, err
		}
	}
}

// ioWaiter blocks a read or write loop between attempts. The first wait
// only registers for f's events and asks for one more attempt (so no event
// between the failed attempt and the registration is lost); later waits
// wait for an event. It never asks f whether it is ready: a file whose
// readiness and I/O disagree would make the loop spin forever, deaf even to
// SIGKILL. (Found by test/fuzz: an eventfd reports writable, as in Linux,
// while a write of a value that would overflow its counter must wait; the
// old loop re-checked readiness, retried at once and never ended.)
//
// A socket's SO_RCVTIMEO or SO_SNDTIMEO bounds the whole wait: then a
// timeout is EAGAIN and a signal EINTR (a timed socket call is not
// restarted, as in Linux).
type ioWaiter struct {
	t        *kernel.Task
	f        *vfs.FileDescription
	mask     waiter.EventMask
	send     bool
	e        *waiter.Entry
	deadline time.Time
	timed    bool
}

// wait returns nil when the caller should try its I/O again.
func (w *ioWaiter) wait() error {
	if w.e == nil {
		if to, ok := w.f.Impl().(socket.Timeouts); ok {
			timeout := to.RecvTimeout()
			if w.send {
				timeout = to.SendTimeout()
			}
			if timeout > 0 {
				w.deadline, w.timed = time.Now().Add(timeout), true
			}
		}
		w.e = waiter.NewEntry()
		w.f.EventRegister(w.e, w.mask)
		return nil
	}
	err := w.t.BlockDeadline(w.e.C, w.deadline)
	if !w.timed {
		return err
	}
	switch err {
	case unix.ETIMEDOUT:
		return unix.EAGAIN
	case kernel.ERESTARTSYS:
		return unix.EINTR
	default:
		return err
	}
}

// done unregisters the waiter, if wait registered it.
func (w *ioWaiter) done() {
	if w.e != nil {
		w.f.EventUnregister(w.e)
	}
}

// writeFrom writes blocks to f. A blocking stream write continues until
// everything is written (or a signal arrives after some progress). EPIPE
// raises SIGPIPE.
func writeFrom(t *kernel.Task, f *vfs.FileDescription, bs [][]byte, off int64, nonblock bool) (int64, error) {
	w := ioWaiter{t: t, f: f, mask: waiter.WritableEvents, send: true}
	defer w.done()
	var total int64
	// A datagram or seqpacket socket takes one message per write: what
	// it did not take is not sent in further messages.
	message := false
	if s, ok := f.Impl().(socket.Socket); ok && s.Type() != unix.SOCK_STREAM {
		message = true
	}
	for {
		var n int64
		var err error
		if off < 0 {
			n, err = f.Write(t, bs)
		} else {
			n, err = f.PWrite(t, bs, off)
		}
		total += n
		bs = advanceBlocks(bs, n)
		if err == unix.EPIPE {
			t.SendSIGPIPE()
		}
		if len(bs) == 0 || !f.IsStream() || (message && n > 0) {
			if total > 0 {
				return total, nil
			}
			return 0, err
		}
		if err == unix.EAGAIN && !nonblock && !f.IsNonblocking() {
			if berr := w.wait(); berr != nil {
				if total > 0 {
					return total, nil
				}
				return 0, berr
			}
			continue
		}
		if err != nil || n == 0 || t.Interrupted() {
			// A signal ends a long write after some progress, as in
			// Linux: a 1 GiB write(2) to a UDP socket, one datagram
			// per round, was deaf to SIGKILL (found by test/fuzz).
			if total > 0 {
				return total, nil
			}
			return 0, err
		}
	}
}

// advanceBlocks drops the first n bytes of bs.
func advanceBlocks(bs [][]byte, n int64) [][]byte {
	for n > 0 && len(bs) > 0 {
		if int64(len(bs[0])) <= n {
			n -= int64(len(bs[0]))
			bs = bs[1:]
			continue
		}
		bs = append([][]byte{bs[0][n:]}, bs[1:]...)
		n = 0
	}
	for len(bs) > 0 && len(bs[0]) == 0 {
		bs = bs[1:]
	}
	return bs
}

func clampCount(n uint) uintptr {
	if n > maxRW {
		return maxRW
	}
	return uintptr(n)
}

// rw runs one read or write of f over iovs.
func rw(t *kernel.Task, fd int32, iovs []iovec, off int64, write, nonblock bool) (uintptr, error) {
	f, err := getFileNoPath(t, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	if write && !f.Writable() || !write && !f.Readable() {
		return 0, unix.EBADF
	}
	if off >= 0 && f.IsStream() {
		return 0, unix.ESPIPE
	}
	n, err := withIovecBlocks(t, iovs, !write, func(bs [][]byte) (int64, error) {
		if write {
			return writeFrom(t, f, bs, off, nonblock)
		}
		return readInto(t, f, bs, off, nonblock)
	})
	if n > 0 {
		return uintptr(n), nil
	}
	return 0, err
}

// Read implements Linux syscall read(2).
func Read(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return rw(t, args.Int(0), []iovec{{args.Ptr(1), clampCount(args.SizeT(2))}}, -1, false, false)
}

// Write implements Linux syscall write(2).
func Write(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return rw(t, args.Int(0), []iovec{{args.Ptr(1), clampCount(args.SizeT(2))}}, -1, true, false)
}

// Pread64 implements Linux syscall pread64(2).
func Pread64(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	off := args.Int64(3)
	if off < 0 {
		return 0, unix.EINVAL
	}
	return rw(t, args.Int(0), []iovec{{args.Ptr(1), clampCount(args.SizeT(2))}}, off, false, false)
}

// Pwrite64 implements Linux syscall pwrite64(2).
func Pwrite64(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	off := args.Int64(3)
	if off < 0 {
		return 0, unix.EINVAL
	}
	return rw(t, args.Int(0), []iovec{{args.Ptr(1), clampCount(args.SizeT(2))}}, off, true, false)
}

func vectored(t *kernel.Task, args *arch.SyscallArguments, off int64, write, nonblock bool) (uintptr, error) {
	// Check the descriptor before the vector, as Linux does.
	f, err := getFile(t, args.Int(0))
	if err != nil {
		return 0, err
	}
	f.DecRef(t)
	iovs, err := copyInIovecs(t, args.Ptr(1), args.Int(2))
	if err != nil {
		return 0, err
	}
	return rw(t, args.Int(0), iovs, off, write, nonblock)
}

// Readv implements Linux syscall readv(2).
func Readv(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return vectored(t, args, -1, false, false)
}

// Writev implements Linux syscall writev(2).
func Writev(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return vectored(t, args, -1, true, false)
}

// Preadv implements Linux syscall preadv(2).
func Preadv(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	off := args.Int64(3)
	if off < 0 {
		return 0, unix.EINVAL
	}
	return vectored(t, args, off, false, false)
}

// Pwritev implements Linux syscall pwritev(2).
func Pwritev(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	off := args.Int64(3)
	if off < 0 {
		return 0, unix.EINVAL
	}
	return vectored(t, args, off, true, false)
}

const rwfSupported = unix.RWF_HIPRI | unix.RWF_DSYNC | unix.RWF_SYNC | unix.RWF_NOWAIT | unix.RWF_APPEND

// Preadv2 implements Linux syscall preadv2(2).
func Preadv2(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return rwv2(t, args, false)
}

// Pwritev2 implements Linux syscall pwritev2(2).
func Pwritev2(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return rwv2(t, args, true)
}

func rwv2(t *kernel.Task, args *arch.SyscallArguments, write bool) (uintptr, error) {
	off := args.Int64(3)
	flags := args.Uint(5)
	if flags&^rwfSupported != 0 {
		return 0, unix.EOPNOTSUPP
	}
	if off < -1 {
		return 0, unix.EINVAL
	}
	if write && flags&unix.RWF_APPEND != 0 {
		// Append regardless of the offset: a write at the file offset
		// with O_APPEND semantics is the closest; pwritev2 with offset -1
		// does exactly that when the file has O_APPEND.
		off = -1
	}
	return vectored(t, args, off, write, flags&unix.RWF_NOWAIT != 0)
}

// Lseek implements Linux syscall lseek(2).
func Lseek(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	f, err := getFileNoPath(t, args.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	whence := int(args.Int(2))
	if whence < unix.SEEK_SET || whence > unix.SEEK_HOLE {
		return 0, unix.EINVAL
	}
	n, err := f.Seek(t, args.Int64(1), whence)
	if err != nil {
		return 0, err
	}
	return uintptr(n), nil
}

// copyChunk is the buffer size of sendfile and copy_file_range.
const copyChunk = 64 << 10

// Sendfile implements Linux syscall sendfile(2).
func Sendfile(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	outFD, inFD, offAddr, count := args.Int(0), args.Int(1), args.Ptr(2), clampCount(args.SizeT(3))
	in, err := getFileNoPath(t, inFD)
	if err != nil {
		return 0, err
	}
	defer in.DecRef(t)
	out, err := getFileNoPath(t, outFD)
	if err != nil {
		return 0, err
	}
	defer out.DecRef(t)
	if !in.Readable() || !out.Writable() {
		return 0, unix.EBADF
	}
	if out.StatusFlags()&unix.O_APPEND != 0 {
		return 0, unix.EINVAL
	}
	off := int64(-1)
	if offAddr != 0 {
		if in.IsStream() {
			return 0, unix.ESPIPE
		}
		var b [8]byte
		if _, err := t.CopyIn(offAddr, b[:]); err != nil {
			return 0, unix.EFAULT
		}
		off = int64(binary.LittleEndian.Uint64(b[:]))
		if off < 0 {
			return 0, unix.EINVAL
		}
	}
	n, err := copyLoop(t, in, out, off, -1, int64(count))
	if offAddr != 0 && n > 0 {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(off+n))
		if _, err := t.CopyOut(offAddr, b[:]); err != nil {
			return 0, unix.EFAULT
		}
	}
	if n > 0 {
		return uintptr(n), nil
	}
	return 0, err
}

// copyLoop copies up to count bytes from in (at inOff, or its offset if
// negative) to out (likewise).
func copyLoop(t *kernel.Task, in, out *vfs.FileDescription, inOff, outOff, count int64) (int64, error) {
	buf := make([]byte, min(count, copyChunk))
	var total int64
	for total < count {
		chunk := buf[:min(int64(len(buf)), count-total)]
		ro := int64(-1)
		if inOff >= 0 {
			ro = inOff + total
		}
		// Only the first read may block: afterwards return what was done.
		n, err := readInto(t, in, [][]byte{chunk}, ro, total > 0)
		if n == 0 {
			if total > 0 {
				return total, nil
			}
			return 0, err
		}
		wo := int64(-1)
		if outOff >= 0 {
			wo = outOff + total
		}
		w, err := writeFrom(t, out, [][]byte{chunk[:n]}, wo, false)
		total += w
		if err != nil || w < n {
			if total > 0 {
				return total, nil
			}
			return 0, err
		}
		if n < int64(len(chunk)) {
			break
		}
	}
	return total, nil
}

// CopyFileRange implements Linux syscall copy_file_range(2).
func CopyFileRange(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	inFD, inOffAddr, outFD, outOffAddr := args.Int(0), args.Ptr(1), args.Int(2), args.Ptr(3)
	count, flags := clampCount(args.SizeT(4)), args.Uint(5)
	if flags != 0 {
		return 0, unix.EINVAL
	}
	in, err := getFileNoPath(t, inFD)
	if err != nil {
		return 0, err
	}
	defer in.DecRef(t)
	out, err := getFileNoPath(t, outFD)
	if err != nil {
		return 0, err
	}
	defer out.DecRef(t)
	if !in.Readable() || !out.Writable() || out.StatusFlags()&unix.O_APPEND != 0 {
		return 0, unix.EBADF
	}
	for _, f := range []*vfs.FileDescription{in, out} {
		st, err := f.Stat(t)
		if err != nil {
			return 0, err
		}
		switch uint32(st.Mode) & linux.S_IFMT {
		case linux.S_IFREG:
		case linux.S_IFDIR:
			return 0, unix.EISDIR
		default:
			return 0, unix.EINVAL
		}
	}
	readOff := func(addr uintptr) (int64, error) {
		if addr == 0 {
			return -1, nil
		}
		var b [8]byte
		if _, err := t.CopyIn(addr, b[:]); err != nil {
			return 0, unix.EFAULT
		}
		o := int64(binary.LittleEndian.Uint64(b[:]))
		if o < 0 {
			return 0, unix.EINVAL
		}
		return o, nil
	}
	inOff, err := readOff(inOffAddr)
	if err != nil {
		return 0, err
	}
	outOff, err := readOff(outOffAddr)
	if err != nil {
		return 0, err
	}
	if in.Inode() == out.Inode() {
		io, oo := inOff, outOff
		if io < 0 {
			io = in.Offset()
		}
		if oo < 0 {
			oo = out.Offset()
		}
		if io < oo+int64(count) && oo < io+int64(count) {
			return 0, unix.EINVAL
		}
	}
	if count == 0 {
		return 0, nil
	}
	n, err := copyLoop(t, in, out, inOff, outOff, int64(count))
	for _, p := range []struct {
		addr uintptr
		off  int64
	}{{inOffAddr, inOff}, {outOffAddr, outOff}} {
		if p.addr != 0 && n > 0 {
			var b [8]byte
			binary.LittleEndian.PutUint64(b[:], uint64(p.off+n))
			if _, err := t.CopyOut(p.addr, b[:]); err != nil {
				return 0, unix.EFAULT
			}
		}
	}
	if n > 0 {
		return uintptr(n), nil
	}
	return 0, err
}
