package syscalls

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/arch"
	"github.com/runsc-cri/runsc-cri/sentry/kernel"
	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

func init() {
	addFamily(map[uintptr]Entry{
		unix.SYS_GETCWD:          {Handler: Getcwd, Support: Full},
		unix.SYS_CHDIR:           {Handler: Chdir, Support: Full},
		unix.SYS_FCHDIR:          {Handler: Fchdir, Support: Full},
		unix.SYS_CHROOT:          {Handler: Chroot, Support: Full},
		unix.SYS_UMASK:           {Handler: Umask, Support: Full},
		unix.SYS_STATFS:          {Handler: Statfs, Support: Full},
		unix.SYS_FSTATFS:         {Handler: Fstatfs, Support: Full},
		unix.SYS_TRUNCATE:        {Handler: Truncate, Support: Full},
		unix.SYS_FTRUNCATE:       {Handler: Ftruncate, Support: Full},
		unix.SYS_FALLOCATE:       {Handler: Fallocate, Support: Partial, Note: "modes 0, KEEP_SIZE and PUNCH_HOLE on tmpfs"},
		unix.SYS_CHMOD:           {Handler: Chmod, Support: Full},
		unix.SYS_FCHMOD:          {Handler: Fchmod, Support: Full},
		unix.SYS_FCHMODAT:        {Handler: Fchmodat, Support: Full},
		452:                      {Name: "fchmodat2", Handler: Fchmodat2, Support: Full},
		unix.SYS_CHOWN:           {Handler: Chown, Support: Full},
		unix.SYS_FCHOWN:          {Handler: Fchown, Support: Full},
		unix.SYS_LCHOWN:          {Handler: Lchown, Support: Full},
		unix.SYS_FCHOWNAT:        {Handler: Fchownat, Support: Full},
		unix.SYS_UTIME:           {Handler: Utime, Support: Full},
		unix.SYS_UTIMES:          {Handler: Utimes, Support: Full},
		unix.SYS_FUTIMESAT:       {Handler: Futimesat, Support: Full},
		unix.SYS_UTIMENSAT:       {Handler: Utimensat, Support: Full},
		unix.SYS_FSYNC:           {Handler: Fsync, Support: Full},
		unix.SYS_FDATASYNC:       {Handler: Fsync, Support: Full},
		unix.SYS_SYNCFS:          {Handler: Syncfs, Support: Full},
		unix.SYS_SYNC:            {Handler: Sync, Support: Full},
		unix.SYS_READAHEAD:       {Handler: Readahead, Support: Full},
		unix.SYS_FADVISE64:       {Handler: Fadvise64, Support: Partial, Note: "advice is validated and ignored"},
		unix.SYS_SYNC_FILE_RANGE: {Handler: SyncFileRange, Support: Partial, Note: "validated; syncs the whole file"},
	})
}

// Getcwd implements Linux syscall getcwd(2).
func Getcwd(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	fsc := t.FSContext()
	root, cwd := fsc.Root(), fsc.Cwd()
	defer root.DecRef()
	defer cwd.DecRef()
	if cwd.Dentry.IsDead() {
		return 0, unix.ENOENT
	}
	path, err := t.Kernel().VFS().PathOf(root, cwd)
	if err != nil {
		return 0, err
	}
	b := append([]byte(path), 0)
	if uint(len(b)) > args.SizeT(1) {
		return 0, unix.ERANGE
	}
	if _, err := t.CopyOut(args.Ptr(0), b); err != nil {
		return 0, unix.EFAULT
	}
	return uintptr(len(b)), nil
}

// Chdir implements Linux syscall chdir(2).
func Chdir(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return 0, withPath(t, linux.AT_FDCWD, args.Ptr(0), true, false, func(pop *vfs.PathOperation) error {
		vd, err := t.Kernel().VFS().GetDentryAt(t, pop, vfs.GetDentryOptions{CheckSearchable: true})
		if err != nil {
			return err
		}
		t.FSContext().SetCwd(vd)
		vd.DecRef()
		return nil
	})
}

// Fchdir implements Linux syscall fchdir(2).
func Fchdir(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	f, err := getFile(t, args.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	st, err := f.Stat(t)
	if err != nil {
		return 0, err
	}
	if uint32(st.Mode)&linux.S_IFMT != linux.S_IFDIR {
		return 0, unix.ENOTDIR
	}
	if !t.Credentials().CanAccess(auth.MayExec, uint32(st.Mode)&0o7777, auth.KUID(st.UID), auth.KGID(st.GID), true) {
		return 0, unix.EACCES
	}
	t.FSContext().SetCwd(f.VirtualDentry())
	return 0, nil
}

// Chroot implements Linux syscall chroot(2).
func Chroot(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	if !t.Credentials().HasCapability(auth.CapSysChroot) {
		return 0, unix.EPERM
	}
	return 0, withPath(t, linux.AT_FDCWD, args.Ptr(0), true, false, func(pop *vfs.PathOperation) error {
		vd, err := t.Kernel().VFS().GetDentryAt(t, pop, vfs.GetDentryOptions{CheckSearchable: true})
		if err != nil {
			return err
		}
		t.FSContext().SetRoot(vd)
		vd.DecRef()
		return nil
	})
}

// Umask implements Linux syscall umask(2).
func Umask(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return uintptr(t.FSContext().SwapUmask(args.Uint(0))), nil
}

// Statfs implements Linux syscall statfs(2).
func Statfs(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	var st linux.Statfs
	err := withPath(t, linux.AT_FDCWD, args.Ptr(0), true, false, func(pop *vfs.PathOperation) error {
		var err error
		st, err = t.Kernel().VFS().StatfsAt(t, pop)
		return err
	})
	if err != nil {
		return 0, err
	}
	return 0, copyOutObj(t, args.Ptr(1), &st)
}

// Fstatfs implements Linux syscall fstatfs(2).
func Fstatfs(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	f, err := getFile(t, args.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	st, err := t.Kernel().VFS().Statfs(t, f.VirtualDentry())
	if err != nil {
		return 0, err
	}
	return 0, copyOutObj(t, args.Ptr(1), &st)
}

// setStatAt applies opts to (dirfd, path), or to the file dirfd itself when
// addr is 0 (futimens) or the path is empty with AT_EMPTY_PATH.
func setStatAt(t *kernel.Task, dirfd int32, addr uintptr, follow, emptyOK bool, opts *vfs.SetStatOptions) error {
	if addr == 0 {
		f, err := getFileNoPath(t, dirfd)
		if err != nil {
			return err
		}
		defer f.DecRef(t)
		return f.SetStat(t, opts)
	}
	path, err := copyInPath(t, addr)
	if err != nil {
		return err
	}
	if path == "" && emptyOK && dirfd != linux.AT_FDCWD {
		f, err := getFile(t, dirfd)
		if err != nil {
			return err
		}
		defer f.DecRef(t)
		return t.Kernel().VFS().SetStatAt(t, &vfs.PathOperation{Start: f.VirtualDentry(), EmptyPathOK: true, Root: f.VirtualDentry()}, opts)
	}
	pop, err := pathOpAt(t, dirfd, path, follow, emptyOK)
	if err != nil {
		return err
	}
	defer pop.Release()
	return t.Kernel().VFS().SetStatAt(t, pop, opts)
}

// Truncate implements Linux syscall truncate(2).
func Truncate(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	length := args.Int64(1)
	if length < 0 {
		return 0, unix.EINVAL
	}
	return 0, setStatAt(t, linux.AT_FDCWD, args.Ptr(0), true, false, &vfs.SetStatOptions{Mask: linux.STATX_SIZE, Size: uint64(length)})
}

// Ftruncate implements Linux syscall ftruncate(2).
func Ftruncate(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	length := args.Int64(1)
	if length < 0 {
		return 0, unix.EINVAL
	}
	f, err := getFileNoPath(t, args.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	if !f.Writable() {
		return 0, unix.EINVAL
	}
	st, err := f.Stat(t)
	if err != nil {
		return 0, err
	}
	if uint32(st.Mode)&linux.S_IFMT != linux.S_IFREG {
		return 0, unix.EINVAL
	}
	return 0, f.SetStat(t, &vfs.SetStatOptions{Mask: linux.STATX_SIZE, Size: uint64(length)})
}

// Fallocate implements Linux syscall fallocate(2).
func Fallocate(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	f, err := getFileNoPath(t, args.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	mode, off, length := args.Uint(1), args.Int64(2), args.Int64(3)
	if off < 0 || length <= 0 {
		return 0, unix.EINVAL
	}
	if mode&unix.FALLOC_FL_PUNCH_HOLE != 0 && mode&unix.FALLOC_FL_KEEP_SIZE == 0 {
		return 0, unix.EOPNOTSUPP
	}
	if !f.Writable() {
		return 0, unix.EBADF
	}
	st, err := f.Stat(t)
	if err != nil {
		return 0, err
	}
	switch uint32(st.Mode) & linux.S_IFMT {
	case linux.S_IFDIR:
		return 0, unix.EISDIR
	case linux.S_IFIFO:
		return 0, unix.ESPIPE
	case linux.S_IFREG:
	default:
		return 0, unix.ENODEV
	}
	return 0, f.Allocate(t, mode, off, length)
}

func chmodOpts(mode uint32) *vfs.SetStatOptions {
	return &vfs.SetStatOptions{Mask: linux.STATX_MODE, Mode: mode & 0o7777}
}

// Chmod implements Linux syscall chmod(2).
func Chmod(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return 0, setStatAt(t, linux.AT_FDCWD, args.Ptr(0), true, false, chmodOpts(args.Uint(1)))
}

// Fchmod implements Linux syscall fchmod(2).
func Fchmod(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return 0, setStatAt(t, args.Int(0), 0, true, false, chmodOpts(args.Uint(1)))
}

// Fchmodat implements Linux syscall fchmodat(2).
func Fchmodat(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	if args.Ptr(1) == 0 {
		return 0, unix.EFAULT
	}
	return 0, setStatAt(t, args.Int(0), args.Ptr(1), true, false, chmodOpts(args.Uint(2)))
}

// Fchmodat2 implements Linux syscall fchmodat2(2).
func Fchmodat2(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	flags := args.Uint(3)
	if flags&^(linux.AT_SYMLINK_NOFOLLOW|linux.AT_EMPTY_PATH) != 0 {
		return 0, unix.EINVAL
	}
	if args.Ptr(1) == 0 {
		return 0, unix.EFAULT
	}
	if flags&linux.AT_SYMLINK_NOFOLLOW != 0 {
		// Symlink modes cannot change: refuse if the target is one.
		sx, err := statAt(t, args.Int(0), args.Ptr(1), flags)
		if err != nil {
			return 0, err
		}
		if uint32(sx.Mode)&linux.S_IFMT == linux.S_IFLNK {
			return 0, unix.EOPNOTSUPP
		}
	}
	return 0, setStatAt(t, args.Int(0), args.Ptr(1), flags&linux.AT_SYMLINK_NOFOLLOW == 0, flags&linux.AT_EMPTY_PATH != 0, chmodOpts(args.Uint(2)))
}

func chownOpts(uid, gid uint32) *vfs.SetStatOptions {
	opts := &vfs.SetStatOptions{}
	if int32(uid) != -1 {
		opts.Mask |= linux.STATX_UID
		opts.UID = auth.KUID(uid)
	}
	if int32(gid) != -1 {
		opts.Mask |= linux.STATX_GID
		opts.GID = auth.KGID(gid)
	}
	return opts
}

// Chown implements Linux syscall chown(2).
func Chown(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return 0, setStatAt(t, linux.AT_FDCWD, args.Ptr(0), true, false, chownOpts(args.Uint(1), args.Uint(2)))
}

// Lchown implements Linux syscall lchown(2).
func Lchown(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return 0, setStatAt(t, linux.AT_FDCWD, args.Ptr(0), false, false, chownOpts(args.Uint(1), args.Uint(2)))
}

// Fchown implements Linux syscall fchown(2).
func Fchown(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return 0, setStatAt(t, args.Int(0), 0, true, false, chownOpts(args.Uint(1), args.Uint(2)))
}

// Fchownat implements Linux syscall fchownat(2).
func Fchownat(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	flags := args.Uint(4)
	if flags&^(linux.AT_SYMLINK_NOFOLLOW|linux.AT_EMPTY_PATH) != 0 {
		return 0, unix.EINVAL
	}
	if args.Ptr(1) == 0 {
		return 0, unix.EFAULT
	}
	return 0, setStatAt(t, args.Int(0), args.Ptr(1), flags&linux.AT_SYMLINK_NOFOLLOW == 0, flags&linux.AT_EMPTY_PATH != 0, chownOpts(args.Uint(2), args.Uint(3)))
}

// timesNow is the option set for "both times to now".
func timesNow() *vfs.SetStatOptions {
	return &vfs.SetStatOptions{
		Mask:  linux.STATX_ATIME | linux.STATX_MTIME,
		Atime: linux.StatxTimestamp{Nsec: linux.UTIME_NOW},
		Mtime: linux.StatxTimestamp{Nsec: linux.UTIME_NOW},
	}
}

// Utime implements Linux syscall utime(2).
func Utime(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	opts := timesNow()
	if addr := args.Ptr(1); addr != 0 {
		var u linux.Utime
		if err := copyInObj(t, addr, &u); err != nil {
			return 0, err
		}
		opts.Atime = linux.StatxTimestamp{Sec: u.Actime}
		opts.Mtime = linux.StatxTimestamp{Sec: u.Modtime}
	}
	return 0, setStatAt(t, linux.AT_FDCWD, args.Ptr(0), true, false, opts)
}

// Utimes implements Linux syscall utimes(2).
func Utimes(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return 0, futimesat(t, linux.AT_FDCWD, args.Ptr(0), args.Ptr(1))
}

// Futimesat implements Linux syscall futimesat(2).
func Futimesat(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return 0, futimesat(t, args.Int(0), args.Ptr(1), args.Ptr(2))
}

func futimesat(t *kernel.Task, dirfd int32, addr, tvAddr uintptr) error {
	opts := timesNow()
	if tvAddr != 0 {
		var tv [2]linux.Timeval
		for i := range tv {
			if err := copyInObj(t, tvAddr+uintptr(i)*16, &tv[i]); err != nil {
				return err
			}
			if tv[i].Usec < 0 || tv[i].Usec >= 1e6 {
				return unix.EINVAL
			}
		}
		opts.Atime = linux.StatxTimestamp{Sec: tv[0].Sec, Nsec: uint32(tv[0].Usec * 1000)}
		opts.Mtime = linux.StatxTimestamp{Sec: tv[1].Sec, Nsec: uint32(tv[1].Usec * 1000)}
	}
	if addr == 0 {
		// futimesat(fd, NULL, ...) works on fd itself, like futimes.
		return setStatAt(t, dirfd, 0, true, false, opts)
	}
	return setStatAt(t, dirfd, addr, true, false, opts)
}

// Utimensat implements Linux syscall utimensat(2).
func Utimensat(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	dirfd, addr, tsAddr, flags := args.Int(0), args.Ptr(1), args.Ptr(2), args.Uint(3)
	if flags&^(linux.AT_SYMLINK_NOFOLLOW|linux.AT_EMPTY_PATH) != 0 {
		return 0, unix.EINVAL
	}
	opts := timesNow()
	if tsAddr != 0 {
		var ts [2]linux.Timespec
		for i := range ts {
			if err := copyInObj(t, tsAddr+uintptr(i)*16, &ts[i]); err != nil {
				return 0, err
			}
			n := ts[i].Nsec
			if n != linux.UTIME_NOW && n != linux.UTIME_OMIT && (n < 0 || n >= 1e9) {
				return 0, unix.EINVAL
			}
		}
		if ts[0].Nsec == linux.UTIME_OMIT && ts[1].Nsec == linux.UTIME_OMIT {
			return 0, nil
		}
		opts.Atime = linux.StatxTimestamp{Sec: ts[0].Sec, Nsec: uint32(ts[0].Nsec)}
		opts.Mtime = linux.StatxTimestamp{Sec: ts[1].Sec, Nsec: uint32(ts[1].Nsec)}
	}
	if addr == 0 && dirfd == linux.AT_FDCWD {
		return 0, unix.EFAULT
	}
	return 0, setStatAt(t, dirfd, addr, flags&linux.AT_SYMLINK_NOFOLLOW == 0, flags&linux.AT_EMPTY_PATH != 0, opts)
}

// Fsync implements Linux syscalls fsync(2) and fdatasync(2).
func Fsync(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	f, err := getFileNoPath(t, args.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	return 0, f.Sync(t)
}

// SyncFileRange implements Linux syscall sync_file_range(2).
func SyncFileRange(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	off, n, flags := args.Int64(1), args.Int64(2), args.Uint(3)
	if off < 0 || n < 0 || off+n < off || flags&^7 != 0 {
		return 0, unix.EINVAL
	}
	return Fsync(t, args)
}

// Syncfs implements Linux syscall syncfs(2).
func Syncfs(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	f, err := getFileNoPath(t, args.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	return 0, f.Sync(t)
}

// Sync implements Linux syscall sync(2): file data is written through
// already (tmpfs) or by the gofer's host files.
func Sync(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return 0, nil
}

// Readahead implements Linux syscall readahead(2): a no-op after checks.
func Readahead(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	f, err := getFileNoPath(t, args.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	if !f.Readable() {
		return 0, unix.EBADF
	}
	st, err := f.Stat(t)
	if err != nil {
		return 0, err
	}
	if uint32(st.Mode)&linux.S_IFMT != linux.S_IFREG {
		return 0, unix.EINVAL
	}
	return 0, nil
}

// Fadvise64 implements Linux syscall fadvise64(2): validated, then ignored.
func Fadvise64(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	f, err := getFileNoPath(t, args.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	if args.Int64(2) < 0 {
		return 0, unix.EINVAL
	}
	if adv := args.Int(3); adv < 0 || adv > 5 {
		return 0, unix.EINVAL
	}
	if f.IsStream() {
		return 0, unix.ESPIPE
	}
	return 0, nil
}
