// Package host serves a host file descriptor that the sentry was given
// (the sandbox's stdin/stdout/stderr from `runsc-cri do`, container log
// pipes) as an open file inside the sandbox.
//
// # The model
//
// NewFile wraps one host fd in a vfs.FileDescription whose inode lives in
// vfs's anonymous filesystem: /proc/self/fd/N shows "pipe:[ino]",
// "socket:[ino]" or "/dev/pts/N" for it, never a host path. The file takes
// ownership of the fd and closes it on release.
//
// Nothing here blocks the sentry: vfs files never block, so a read or a
// write that cannot proceed returns EAGAIN and the task waits on the file's
// waiter.Queue. How "would block" is found out depends on the fd:
//
//   - pipes and sockets: preadv2/pwritev2 with RWF_NOWAIT (the fd's own
//     O_NONBLOCK flag, shared with whoever else holds the file, is never
//     changed);
//   - ttys (RWF_NOWAIT is not supported there, and a tty is usually shared
//     with the user's shell): poll(2) with a zero timeout, then read;
//   - regular files: read/write/lseek at the host fd's own offset, which
//     is authoritative (a redirection like `>out 2>&1` shares it between
//     two sandbox fds).
//
// Readiness events come from one epoll instance per sentry process (see
// notifier.go): a goroutine waits on it and Notifies the queue of the file
// whose fd became ready. Files epoll refuses (regular files, /dev/null) are
// always ready.
//
// ttys get termios and window-size ioctls passed through to the host. The
// foreground process group (TIOCGPGRP/TIOCSPGRP) is kept in the sandbox:
// host process group ids mean nothing to sandboxed processes.
//
// Locking: file.mu guards the foreground process group only; the notifier's
// mutex is a leaf and is never held while calling Notify.
package host

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/vfs"
	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

// kind is how a host fd is read and written.
type kind int

const (
	kindRegular kind = iota // pread/pwrite at the sandbox offset
	kindNowait              // pipes, sockets: RWF_NOWAIT
	kindPoll                // ttys and other character devices: poll, then read
)

// inode is the anonymous inode of a host fd: attributes come from fstat.
type inode struct {
	vfs.NoSetStat
	fd int
}

// Stat implements vfs.Inode.Stat.
func (i *inode) Stat(ctx vfs.Context) (linux.Statx, error) {
	var st unix.Stat_t
	if err := unix.Fstat(i.fd, &st); err != nil {
		return linux.Statx{}, toErrno(err)
	}
	return statxFromHost(&st), nil
}

func statxFromHost(st *unix.Stat_t) linux.Statx {
	return linux.Statx{
		Mask:      linux.STATX_BASIC_STATS,
		Blksize:   uint32(st.Blksize),
		Nlink:     uint32(st.Nlink),
		UID:       st.Uid,
		GID:       st.Gid,
		Mode:      uint16(st.Mode),
		Ino:       st.Ino,
		Size:      uint64(st.Size),
		Blocks:    uint64(st.Blocks),
		Atime:     linux.StatxTimestamp{Sec: st.Atim.Sec, Nsec: uint32(st.Atim.Nsec)},
		Mtime:     linux.StatxTimestamp{Sec: st.Mtim.Sec, Nsec: uint32(st.Mtim.Nsec)},
		Ctime:     linux.StatxTimestamp{Sec: st.Ctim.Sec, Nsec: uint32(st.Ctim.Nsec)},
		RdevMajor: unix.Major(st.Rdev),
		RdevMinor: unix.Minor(st.Rdev),
	}
}

// file is the FileImpl of a host fd.
type file struct {
	vfs.FileDefaults
	fd     int
	kind   kind
	tty    bool
	queue  waiter.Queue
	polled bool // registered with the notifier

	mu   sync.Mutex
	fgPG int32 // foreground process group of a tty (sandbox id), 0 = unset
}

// NewFile returns an open file for hostFD, which the file owns from now on
// (it is closed when the file is released; dup it first to keep a copy).
// flags are the open(2) flags the sandbox sees (access mode, O_APPEND,
// O_NONBLOCK); the host fd's own flags are left alone.
func NewFile(v *vfs.VirtualFilesystem, hostFD int, flags uint32) (*vfs.FileDescription, error) {
	var st unix.Stat_t
	if err := unix.Fstat(hostFD, &st); err != nil {
		return nil, toErrno(err)
	}
	f := &file{fd: hostFD}
	name := ""
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		f.kind = kindRegular
		name = fmt.Sprintf("host:[%d]", st.Ino)
	case unix.S_IFIFO:
		f.kind = kindNowait
		name = fmt.Sprintf("pipe:[%d]", st.Ino)
	case unix.S_IFSOCK:
		f.kind = kindNowait
		name = fmt.Sprintf("socket:[%d]", st.Ino)
	case unix.S_IFCHR:
		f.kind = kindPoll
		f.tty = isTTY(hostFD)
		name = charDevName(&st, f.tty)
	case unix.S_IFDIR:
		return nil, unix.EISDIR
	default:
		f.kind = kindPoll
		name = fmt.Sprintf("host:[%d]", st.Ino)
	}
	if f.kind != kindRegular {
		f.polled = notify.add(hostFD, &f.queue)
	}
	vd := v.NewAnonVirtualDentry(name, &inode{fd: hostFD})
	defer vd.DecRef()
	fd := v.NewFileDescription(f, vd, flags)
	if f.kind == kindRegular {
		// Start where the host fd is (a `>>` redirection, a shared file).
		if off, err := unix.Seek(hostFD, 0, unix.SEEK_CUR); err == nil && off > 0 {
			fd.Seek(nil, off, unix.SEEK_SET)
		}
	}
	return fd, nil
}

func isTTY(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

// charDevName is what /proc/self/fd shows for a host character device.
func charDevName(st *unix.Stat_t, tty bool) string {
	major, minor := unix.Major(st.Rdev), unix.Minor(st.Rdev)
	switch {
	case major == 136: // unix98 pty slaves
		return fmt.Sprintf("/dev/pts/%d", minor)
	case major == 1 && minor == 3:
		return "/dev/null"
	case major == 1 && minor == 5:
		return "/dev/zero"
	case major == 5 && minor == 0:
		return "/dev/tty"
	case major == 5 && minor == 1:
		return "/dev/console"
	case major == 4:
		return fmt.Sprintf("/dev/tty%d", minor)
	case tty:
		return "/dev/tty"
	}
	return fmt.Sprintf("host:[%d]", st.Ino)
}

// IsStream implements vfs.StreamFile: only regular files have an offset.
func (f *file) IsStream() bool { return f.kind != kindRegular }

// Read implements vfs.FileImpl.Read.
func (f *file) Read(ctx vfs.Context, dst [][]byte, off int64) (int64, error) {
	if total(dst) == 0 {
		return 0, nil
	}
	switch f.kind {
	case kindRegular:
		// The host fd's offset is shared with whoever gave it to the
		// sandbox (and with dups of it, like stdout and stderr both
		// redirected to one file): it is the file's offset.
		n, err := retryEINTR(func() (int, error) { return unix.Readv(f.fd, dst) })
		return int64(max(n, 0)), toErrno(err)
	case kindNowait:
		n, err := retryEINTR(func() (int, error) { return unix.Preadv2(f.fd, dst, -1, unix.RWF_NOWAIT) })
		if err == unix.EOPNOTSUPP {
			return f.pollRead(dst)
		}
		return int64(max(n, 0)), toErrno(err)
	default:
		return f.pollRead(dst)
	}
}

// pollRead reads only if poll(2) says it will not block.
func (f *file) pollRead(dst [][]byte) (int64, error) {
	if !pollNow(f.fd, unix.POLLIN) {
		return 0, unix.EAGAIN
	}
	n, err := retryEINTR(func() (int, error) { return unix.Readv(f.fd, dst) })
	return int64(max(n, 0)), toErrno(err)
}

// pollWrite writes only if poll(2) says there is room.
func (f *file) pollWrite(src [][]byte) (int64, int64, error) {
	if !pollNow(f.fd, unix.POLLOUT) {
		return 0, 0, unix.EAGAIN
	}
	n, err := retryEINTR(func() (int, error) { return unix.Writev(f.fd, src) })
	return int64(max(n, 0)), 0, toErrno(err)
}

// Write implements vfs.FileImpl.Write.
func (f *file) Write(ctx vfs.Context, src [][]byte, off int64, appendMode bool) (int64, int64, error) {
	if total(src) == 0 {
		return 0, off, nil
	}
	switch f.kind {
	case kindRegular:
		// As in Read, the host offset is the file's offset.
		var done int64
		for total(src) > 0 {
			n, err := retryEINTR(func() (int, error) { return unix.Writev(f.fd, src) })
			if n > 0 {
				done += int64(n)
				src = advance(src, n)
			}
			if err != nil {
				return done, off + done, toErrno(err)
			}
		}
		end, _ := unix.Seek(f.fd, 0, unix.SEEK_CUR)
		return done, end, nil
	case kindNowait:
		n, err := retryEINTR(func() (int, error) { return unix.Pwritev2(f.fd, src, -1, unix.RWF_NOWAIT) })
		if err == unix.EOPNOTSUPP {
			return f.pollWrite(src)
		}
		return int64(max(n, 0)), 0, toErrno(err)
	default:
		return f.pollWrite(src)
	}
}

// Seek implements vfs.FileImpl.Seek.
func (f *file) Seek(ctx vfs.Context, off int64, whence int, cur int64) (int64, error) {
	if f.kind != kindRegular {
		return 0, unix.ESPIPE
	}
	n, err := unix.Seek(f.fd, off, whence)
	return n, toErrno(err)
}

// Sync implements vfs.FileImpl.Sync.
func (f *file) Sync(ctx vfs.Context) error {
	if f.kind != kindRegular {
		return nil
	}
	return toErrno(unix.Fsync(f.fd))
}

// Allocate implements vfs.FileImpl.Allocate.
func (f *file) Allocate(ctx vfs.Context, mode uint32, off, length int64) error {
	if f.kind != kindRegular {
		return unix.ESPIPE
	}
	return toErrno(unix.Fallocate(f.fd, mode, off, length))
}

// Release implements vfs.FileImpl.Release: the host fd is closed.
func (f *file) Release(ctx vfs.Context) {
	if f.polled {
		notify.remove(f.fd)
	}
	unix.Close(f.fd)
}

// Readiness implements waiter.Waitable with a zero-timeout poll(2).
func (f *file) Readiness(mask waiter.EventMask) waiter.EventMask {
	if f.kind == kindRegular {
		return mask & (waiter.ReadableEvents | waiter.WritableEvents)
	}
	fds := []unix.PollFd{{Fd: int32(f.fd), Events: int16(mask & 0xffff)}}
	n, err := unix.Poll(fds, 0)
	if err != nil || n == 0 {
		return 0
	}
	return waiter.EventMask(uint16(fds[0].Revents)) & (mask | waiter.EventErr | waiter.EventHUp)
}

// EventRegister implements waiter.Waitable.
func (f *file) EventRegister(e *waiter.Entry, mask waiter.EventMask) {
	f.queue.EventRegister(e, mask)
}

// EventUnregister implements waiter.Waitable.
func (f *file) EventUnregister(e *waiter.Entry) { f.queue.EventUnregister(e) }

func pollNow(fd int, events int16) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: events}}
	n, err := retryEINTR(func() (int, error) { return unix.Poll(fds, 0) })
	// An error or hangup condition lets the read report it (or EOF).
	return err == nil && n > 0
}

func total(bs [][]byte) int64 {
	var n int64
	for _, b := range bs {
		n += int64(len(b))
	}
	return n
}

// advance drops the first n bytes of bs (a fresh outer slice; the blocks
// themselves are not modified).
func advance(bs [][]byte, n int) [][]byte {
	for len(bs) > 0 && n >= len(bs[0]) {
		n -= len(bs[0])
		bs = bs[1:]
	}
	if len(bs) > 0 && n > 0 {
		out := make([][]byte, len(bs))
		copy(out, bs)
		out[0] = out[0][n:]
		return out
	}
	return bs
}

func retryEINTR(fn func() (int, error)) (int, error) {
	for {
		n, err := fn()
		if err != unix.EINTR {
			return n, err
		}
	}
}

// toErrno turns a host error into a unix.Errno (EIO for anything else).
func toErrno(err error) error {
	if err == nil {
		return nil
	}
	if e, ok := err.(unix.Errno); ok {
		return e
	}
	return unix.EIO
}
