package vfs

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/memmap"
	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

// FileImpl is what a filesystem provides for an open file. Embed
// FileDefaults to get the usual answers for what a file does not support.
//
// Data moves through [][]byte blocks owned by the caller: the kernel passes
// slices that alias application memory, so an implementation must not keep
// them after returning. Operations never block: where Linux would sleep they
// return unix.EAGAIN and notify the file's waiters (EventRegister) when
// trying again may succeed.
type FileImpl interface {
	// Read fills dst from offset off (ignored by stream files) and returns
	// the bytes read; 0 with a nil error is end of file.
	Read(ctx Context, dst [][]byte, off int64) (int64, error)
	// Write writes src at off (ignored by stream files), or at the end of
	// file if appendMode. It returns the bytes written and the offset just
	// past them (where the file offset goes next).
	Write(ctx Context, src [][]byte, off int64, appendMode bool) (n int64, end int64, err error)
	// Seek computes a new offset for lseek(2) from cur (the current
	// offset); vfs stores it. Stream files return ESPIPE.
	Seek(ctx Context, off int64, whence int, cur int64) (int64, error)
	// Ioctl handles ioctl(2) requests other than the generic ones
	// (FIOCLEX, FIONCLEX, FIONBIO, FIOASYNC) that vfs and the syscall layer
	// handle. Files that are not ttys return ENOTTY.
	Ioctl(ctx IoctlContext, fd *FileDescription, cmd uint32, arg uintptr) (uintptr, error)
	// Mappable returns the file's memory for mmap(2), or ENODEV.
	Mappable() (memmap.Mappable, error)
	// Sync flushes the file to its backing store (fsync).
	Sync(ctx Context) error
	// Allocate implements fallocate(2) (mode FALLOC_FL_*).
	Allocate(ctx Context, mode uint32, off, length int64) error
	// Release is called once, when the last reference to the open file
	// goes. ctx may be nil (files closed by an FDTable).
	Release(ctx Context)

	waiter.Waitable
}

// IoctlContext is the caller of an ioctl: the kernel's *Task, which can
// copy argument structs in and out of application memory.
type IoctlContext interface {
	Context
	CopyIn(addr uintptr, dst []byte) (int, error)
	CopyOut(addr uintptr, src []byte) (int, error)
}

// Optional FileImpl extensions.
type (
	// StreamFile is implemented (returning true) by files with no offset:
	// pipes, sockets, character devices like ttys. pread/pwrite fail with
	// ESPIPE and the file offset is not touched.
	StreamFile interface{ IsStream() bool }
	// StatusFlagsSetter is told of fcntl(F_SETFL) changes (O_NONBLOCK,
	// O_APPEND, O_ASYNC, O_DIRECT, O_NOATIME).
	StatusFlagsSetter interface {
		SetStatusFlags(ctx Context, flags uint32) error
	}
	// OpenWaiter is implemented by files whose open(2) must wait before
	// it completes (a FIFO opened for reading without O_NONBLOCK waits for
	// a writer). After OpenAt succeeds, a blocking caller loops: if
	// OpenReady reports false it waits on the channel (or a signal, in
	// which case it drops the file) and asks again.
	OpenWaiter interface {
		OpenReady() (ready bool, wait <-chan struct{})
	}
	// DirectoryFile is implemented by files that produce directory
	// entries themselves (instead of vfs's generic directory file).
	DirectoryFile interface {
		IterDirents(ctx Context, cookie int64, emit func(Dirent) bool) error
	}
)

// FileDefaults gives FileImpl's methods their answers for a file that does
// not support them. Embed it and override what the file does.
type FileDefaults struct{}

// Read implements FileImpl.Read.
func (FileDefaults) Read(ctx Context, dst [][]byte, off int64) (int64, error) {
	return 0, unix.EINVAL
}

// Write implements FileImpl.Write.
func (FileDefaults) Write(ctx Context, src [][]byte, off int64, appendMode bool) (int64, int64, error) {
	return 0, off, unix.EINVAL
}

// Seek implements FileImpl.Seek.
func (FileDefaults) Seek(ctx Context, off int64, whence int, cur int64) (int64, error) {
	return 0, unix.ESPIPE
}

// Ioctl implements FileImpl.Ioctl.
func (FileDefaults) Ioctl(ctx IoctlContext, fd *FileDescription, cmd uint32, arg uintptr) (uintptr, error) {
	return 0, unix.ENOTTY
}

// Mappable implements FileImpl.Mappable.
func (FileDefaults) Mappable() (memmap.Mappable, error) { return nil, unix.ENODEV }

// Sync implements FileImpl.Sync.
func (FileDefaults) Sync(ctx Context) error { return nil }

// Allocate implements FileImpl.Allocate.
func (FileDefaults) Allocate(ctx Context, mode uint32, off, length int64) error {
	return unix.ENODEV
}

// Release implements FileImpl.Release.
func (FileDefaults) Release(ctx Context) {}

// Readiness implements waiter.Waitable: always readable and writable.
func (FileDefaults) Readiness(mask waiter.EventMask) waiter.EventMask {
	return mask & (waiter.ReadableEvents | waiter.WritableEvents)
}

// EventRegister implements waiter.Waitable.
func (FileDefaults) EventRegister(e *waiter.Entry, mask waiter.EventMask) {}

// EventUnregister implements waiter.Waitable.
func (FileDefaults) EventUnregister(e *waiter.Entry) {}

// NoSetStat is embedded by inodes whose attributes cannot be changed.
type NoSetStat struct{}

// SetStat implements Inode.SetStat.
func (NoSetStat) SetStat(ctx Context, opts *SetStatOptions) error { return unix.EPERM }

// GenericSeek computes lseek(2) for a file of the given size without holes
// (SEEK_DATA/SEEK_HOLE treat the whole file as data).
func GenericSeek(off int64, whence int, cur, size int64) (int64, error) {
	var n int64
	switch whence {
	case unix.SEEK_SET:
		n = off
	case unix.SEEK_CUR:
		n = cur + off
		if (off > 0 && n < cur) || (off < 0 && n > cur) {
			return 0, unix.EOVERFLOW
		}
	case unix.SEEK_END:
		n = size + off
		if (off > 0 && n < size) || (off < 0 && n > size) {
			return 0, unix.EOVERFLOW
		}
	case unix.SEEK_DATA:
		if off < 0 || off >= size {
			return 0, unix.ENXIO
		}
		n = off
	case unix.SEEK_HOLE:
		if off < 0 || off >= size {
			return 0, unix.ENXIO
		}
		n = size
	default:
		return 0, unix.EINVAL
	}
	if n < 0 {
		return 0, unix.EINVAL
	}
	return n, nil
}

// FileDescription is an open file (Linux's struct file).
type FileDescription struct {
	vfs  *VirtualFilesystem
	refs atomic.Int64
	vd   VirtualDentry
	impl FileImpl

	// statusFlags holds O_ACCMODE and the F_SETFL-changeable flags.
	statusFlags atomic.Uint32
	readable    bool
	writable    bool
	stream      bool
	path        bool // O_PATH

	// offMu serialises offset-using operations (read, write, lseek,
	// getdents) as Linux's f_pos_lock does; off is guarded by it.
	offMu sync.Mutex
	off   int64

	// dirCookie is the position of a generic directory file (offMu).
	dirCookie int64

	// asyncOwner is F_SETOWN's value (stored, not acted on).
	asyncOwner atomic.Int32
}

// NewFileDescription wraps impl as an open file found at vd (which gets a
// new reference). flags are the open(2) flags. It is for files made outside
// OpenAt: pipe(2), socket(2), eventfd(2) (with NewAnonVirtualDentry).
func (v *VirtualFilesystem) NewFileDescription(impl FileImpl, vd VirtualDentry, flags uint32) *FileDescription {
	fd := &FileDescription{vfs: v, vd: vd, impl: impl}
	vd.IncRef()
	fd.refs.Store(1)
	acc := flags & unix.O_ACCMODE
	fd.readable = acc == unix.O_RDONLY || acc == unix.O_RDWR
	fd.writable = acc == unix.O_WRONLY || acc == unix.O_RDWR
	if flags&unix.O_PATH != 0 {
		fd.path = true
		fd.readable, fd.writable = false, false
	}
	if s, ok := impl.(StreamFile); ok && s.IsStream() {
		fd.stream = true
	}
	fd.statusFlags.Store(flags &^ (unix.O_CREAT | unix.O_EXCL | unix.O_NOCTTY | unix.O_TRUNC | unix.O_CLOEXEC))
	return fd
}

// IncRef takes a reference.
func (fd *FileDescription) IncRef() { fd.refs.Add(1) }

// TryIncRef takes a reference unless the file is already released.
func (fd *FileDescription) TryIncRef() bool {
	for {
		r := fd.refs.Load()
		if r <= 0 {
			return false
		}
		if fd.refs.CompareAndSwap(r, r+1) {
			return true
		}
	}
}

// DecRef drops a reference (ctx may be nil); the last one releases the file (flock locks,
// OFD locks, then FileImpl.Release).
func (fd *FileDescription) DecRef(ctx Context) {
	switch r := fd.refs.Add(-1); {
	case r > 0:
		return
	case r < 0:
		panic("vfs: FileDescription.DecRef of a released file")
	}
	if !fd.path {
		fd.vfs.locks.releaseOwner(fd.vd.Dentry.inode, fd)
	}
	fd.impl.Release(ctx)
	fd.vd.DecRef()
}

// Impl returns the implementation.
func (fd *FileDescription) Impl() FileImpl { return fd.impl }

// VirtualDentry returns where the file was opened (no reference taken).
func (fd *FileDescription) VirtualDentry() VirtualDentry { return fd.vd }

// Inode returns the file's inode.
func (fd *FileDescription) Inode() Inode { return fd.vd.Dentry.inode }

// StatusFlags returns the file's status flags (O_ACCMODE, O_APPEND,
// O_NONBLOCK, O_PATH, O_DIRECT, O_NOATIME, O_LARGEFILE, O_DSYNC, O_SYNC...).
func (fd *FileDescription) StatusFlags() uint32 { return fd.statusFlags.Load() }

// SetStatusFlagsMask is what fcntl(F_SETFL) may change.
const SetStatusFlagsMask = unix.O_APPEND | unix.O_ASYNC | unix.O_DIRECT | unix.O_NOATIME | unix.O_NONBLOCK

// SetStatusFlags implements fcntl(F_SETFL): only SetStatusFlagsMask bits
// change.
func (fd *FileDescription) SetStatusFlags(ctx Context, flags uint32) error {
	if flags&unix.O_NOATIME != 0 && fd.StatusFlags()&unix.O_NOATIME == 0 {
		st, err := fd.vd.Dentry.inode.Stat(ctx)
		if err != nil {
			return err
		}
		if err := mayOwn(ctx.Credentials(), &st); err != nil {
			return err
		}
	}
	if s, ok := fd.impl.(StatusFlagsSetter); ok {
		if err := s.SetStatusFlags(ctx, flags&SetStatusFlagsMask); err != nil {
			return err
		}
	}
	for {
		old := fd.statusFlags.Load()
		n := old&^SetStatusFlagsMask | flags&SetStatusFlagsMask
		if fd.statusFlags.CompareAndSwap(old, n) {
			return nil
		}
	}
}

// IsNonblocking reports O_NONBLOCK.
func (fd *FileDescription) IsNonblocking() bool { return fd.StatusFlags()&unix.O_NONBLOCK != 0 }

// Readable and Writable report the access mode.
func (fd *FileDescription) Readable() bool { return fd.readable }
func (fd *FileDescription) Writable() bool { return fd.writable }

// IsPath reports an O_PATH file.
func (fd *FileDescription) IsPath() bool { return fd.path }

// IsStream reports a file without offset (pipe, socket, tty).
func (fd *FileDescription) IsStream() bool { return fd.stream }

// SetAsyncOwner and AsyncOwner store F_SETOWN's value.
func (fd *FileDescription) SetAsyncOwner(pid int32) { fd.asyncOwner.Store(pid) }
func (fd *FileDescription) AsyncOwner() int32       { return fd.asyncOwner.Load() }

// Read reads at the file offset and advances it.
func (fd *FileDescription) Read(ctx Context, dst [][]byte) (int64, error) {
	if !fd.readable {
		return 0, unix.EBADF
	}
	if fd.stream {
		return fd.impl.Read(ctx, dst, 0)
	}
	fd.offMu.Lock()
	defer fd.offMu.Unlock()
	n, err := fd.impl.Read(ctx, dst, fd.off)
	fd.off += n
	return n, err
}

// PRead reads at off without using the file offset.
func (fd *FileDescription) PRead(ctx Context, dst [][]byte, off int64) (int64, error) {
	if !fd.readable {
		return 0, unix.EBADF
	}
	if fd.stream {
		return 0, unix.ESPIPE
	}
	if off < 0 {
		return 0, unix.EINVAL
	}
	return fd.impl.Read(ctx, dst, off)
}

// Write writes at the file offset (or the end with O_APPEND) and advances
// it.
func (fd *FileDescription) Write(ctx Context, src [][]byte) (int64, error) {
	if !fd.writable {
		return 0, unix.EBADF
	}
	appendMode := fd.StatusFlags()&unix.O_APPEND != 0
	if fd.stream {
		n, _, err := fd.impl.Write(ctx, src, 0, appendMode)
		return n, err
	}
	fd.offMu.Lock()
	defer fd.offMu.Unlock()
	n, end, err := fd.impl.Write(ctx, src, fd.off, appendMode)
	if n > 0 || appendMode {
		if err == nil || n > 0 {
			fd.off = end
		}
	}
	return n, err
}

// PWrite writes at off without using the file offset. As in Linux, with
// O_APPEND the data goes to the end of the file anyway.
func (fd *FileDescription) PWrite(ctx Context, src [][]byte, off int64) (int64, error) {
	if !fd.writable {
		return 0, unix.EBADF
	}
	if fd.stream {
		return 0, unix.ESPIPE
	}
	if off < 0 {
		return 0, unix.EINVAL
	}
	n, _, err := fd.impl.Write(ctx, src, off, fd.StatusFlags()&unix.O_APPEND != 0)
	return n, err
}

// Seek implements lseek(2).
func (fd *FileDescription) Seek(ctx Context, off int64, whence int) (int64, error) {
	if fd.path {
		return 0, unix.EBADF
	}
	if fd.stream {
		return 0, unix.ESPIPE
	}
	fd.offMu.Lock()
	defer fd.offMu.Unlock()
	n, err := fd.impl.Seek(ctx, off, whence, fd.off)
	if err != nil {
		return 0, err
	}
	fd.off = n
	return n, nil
}

// Offset returns the current file offset.
func (fd *FileDescription) Offset() int64 {
	fd.offMu.Lock()
	defer fd.offMu.Unlock()
	return fd.off
}

// Stat returns the attributes of the open file.
func (fd *FileDescription) Stat(ctx Context) (linux.Statx, error) {
	return statVD(ctx, fd.vd)
}

// SetStat changes attributes of the open file (fchmod, fchown, ftruncate,
// futimens) with the same permission checks as the path-based calls.
// ftruncate additionally needs the file open for writing (the syscall
// layer checks that: it returns EINVAL there).
func (fd *FileDescription) SetStat(ctx Context, opts *SetStatOptions) error {
	if fd.path {
		return unix.EBADF
	}
	return fd.vfs.setStatVD(ctx, fd.vd, opts)
}

// Ioctl forwards to the implementation.
func (fd *FileDescription) Ioctl(ctx IoctlContext, cmd uint32, arg uintptr) (uintptr, error) {
	if fd.path {
		return 0, unix.EBADF
	}
	return fd.impl.Ioctl(ctx, fd, cmd, arg)
}

// Readiness implements waiter.Waitable.
func (fd *FileDescription) Readiness(mask waiter.EventMask) waiter.EventMask {
	return fd.impl.Readiness(mask)
}

// EventRegister implements waiter.Waitable.
func (fd *FileDescription) EventRegister(e *waiter.Entry, mask waiter.EventMask) {
	fd.impl.EventRegister(e, mask)
}

// EventUnregister implements waiter.Waitable.
func (fd *FileDescription) EventUnregister(e *waiter.Entry) { fd.impl.EventUnregister(e) }

// Mappable returns the file's Mappable for mmap, or ENODEV.
func (fd *FileDescription) Mappable() (memmap.Mappable, error) {
	if fd.path {
		return nil, unix.EBADF
	}
	return fd.impl.Mappable()
}

// Sync implements fsync(2).
func (fd *FileDescription) Sync(ctx Context) error {
	if fd.path {
		return unix.EBADF
	}
	return fd.impl.Sync(ctx)
}

// Allocate implements fallocate(2).
func (fd *FileDescription) Allocate(ctx Context, mode uint32, off, length int64) error {
	if !fd.writable {
		return unix.EBADF
	}
	if off < 0 || length <= 0 {
		return unix.EINVAL
	}
	if fd.vd.Mount.ReadOnly() {
		return unix.EROFS
	}
	return fd.impl.Allocate(ctx, mode, off, length)
}

// ReadAt reads len(p) bytes at off into p (io.ReaderAt-like, for the ELF
// loader); short reads at end of file return io.EOF semantics as n <
// len(p) with a nil error.
func (fd *FileDescription) ReadAt(ctx Context, p []byte, off int64) (int, error) {
	var total int
	for total < len(p) {
		n, err := fd.impl.Read(ctx, [][]byte{p[total:]}, off+int64(total))
		total += int(n)
		if err != nil {
			return total, err
		}
		if n == 0 {
			break
		}
	}
	return total, nil
}

// statVD stats vd's inode and fills in the device and mount id.
func statVD(ctx Context, vd VirtualDentry) (linux.Statx, error) {
	st, err := vd.Dentry.inode.Stat(ctx)
	if err != nil {
		return st, err
	}
	st.DevMajor, st.DevMinor = vd.Dentry.fs.Dev()
	st.MntID = uint64(vd.Mount.id)
	if st.Blksize == 0 {
		st.Blksize = 4096
	}
	return st, nil
}
