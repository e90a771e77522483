package syscalls

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/arch"
	"github.com/runsc-cri/runsc-cri/sentry/kernel"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

func init() {
	addFamily(map[uintptr]Entry{
		unix.SYS_STAT:       {Handler: Stat, Support: Full},
		unix.SYS_LSTAT:      {Handler: Lstat, Support: Full},
		unix.SYS_FSTAT:      {Handler: Fstat, Support: Full},
		unix.SYS_NEWFSTATAT: {Handler: Newfstatat, Support: Full},
		unix.SYS_STATX:      {Handler: Statx, Support: Full},
	})
}

// statFromStatx converts to struct stat.
func statFromStatx(sx *linux.Statx) linux.Stat {
	return linux.Stat{
		Dev:     uint64(linux.MakeDeviceID(uint16(sx.DevMajor), sx.DevMinor)),
		Ino:     sx.Ino,
		Nlink:   uint64(sx.Nlink),
		Mode:    uint32(sx.Mode),
		UID:     sx.UID,
		GID:     sx.GID,
		Rdev:    uint64(linux.MakeDeviceID(uint16(sx.RdevMajor), sx.RdevMinor)),
		Size:    int64(sx.Size),
		Blksize: int64(sx.Blksize),
		Blocks:  int64(sx.Blocks),
		ATime:   linux.Timespec{Sec: sx.Atime.Sec, Nsec: int64(sx.Atime.Nsec)},
		MTime:   linux.Timespec{Sec: sx.Mtime.Sec, Nsec: int64(sx.Mtime.Nsec)},
		CTime:   linux.Timespec{Sec: sx.Ctime.Sec, Nsec: int64(sx.Ctime.Nsec)},
	}
}

// statAt stats (dirfd, path) with AT_* flags.
func statAt(t *kernel.Task, dirfd int32, addr uintptr, flags uint32) (linux.Statx, error) {
	var sx linux.Statx
	path, err := copyInPath(t, addr)
	if err != nil {
		return sx, err
	}
	if path == "" && flags&linux.AT_EMPTY_PATH != 0 && dirfd != linux.AT_FDCWD {
		f, err := getFile(t, dirfd)
		if err != nil {
			return sx, err
		}
		defer f.DecRef(t)
		return f.Stat(t)
	}
	pop, err := pathOpAt(t, dirfd, path, flags&linux.AT_SYMLINK_NOFOLLOW == 0, flags&linux.AT_EMPTY_PATH != 0)
	if err != nil {
		return sx, err
	}
	defer pop.Release()
	return t.Kernel().VFS().StatAt(t, pop)
}

func copyOutStat(t *kernel.Task, addr uintptr, sx *linux.Statx) error {
	st := statFromStatx(sx)
	return copyOutObj(t, addr, &st)
}

// Stat implements Linux syscall stat(2).
func Stat(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	sx, err := statAt(t, linux.AT_FDCWD, args.Ptr(0), 0)
	if err != nil {
		return 0, err
	}
	return 0, copyOutStat(t, args.Ptr(1), &sx)
}

// Lstat implements Linux syscall lstat(2).
func Lstat(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	sx, err := statAt(t, linux.AT_FDCWD, args.Ptr(0), linux.AT_SYMLINK_NOFOLLOW)
	if err != nil {
		return 0, err
	}
	return 0, copyOutStat(t, args.Ptr(1), &sx)
}

// Fstat implements Linux syscall fstat(2).
func Fstat(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	f, err := getFile(t, args.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	sx, err := f.Stat(t)
	if err != nil {
		return 0, err
	}
	return 0, copyOutStat(t, args.Ptr(1), &sx)
}

// Newfstatat implements Linux syscall newfstatat(2).
func Newfstatat(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	flags := args.Uint(3)
	if flags&^(linux.AT_SYMLINK_NOFOLLOW|linux.AT_EMPTY_PATH|unix.AT_NO_AUTOMOUNT) != 0 {
		return 0, unix.EINVAL
	}
	sx, err := statAt(t, args.Int(0), args.Ptr(1), flags)
	if err != nil {
		return 0, err
	}
	return 0, copyOutStat(t, args.Ptr(2), &sx)
}

// Statx implements Linux syscall statx(2).
func Statx(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	dirfd, addr, flags, mask, buf := args.Int(0), args.Ptr(1), args.Uint(2), args.Uint(3), args.Ptr(4)
	if flags&^(linux.AT_SYMLINK_NOFOLLOW|linux.AT_EMPTY_PATH|unix.AT_NO_AUTOMOUNT|linux.AT_STATX_SYNC_TYPE) != 0 ||
		flags&linux.AT_STATX_SYNC_TYPE == linux.AT_STATX_SYNC_TYPE || mask&linux.STATX__RESERVED != 0 {
		return 0, unix.EINVAL
	}
	sx, err := statAt(t, dirfd, addr, flags)
	if err != nil {
		return 0, err
	}
	sx.Mask |= linux.STATX_MNT_ID
	return 0, copyOutObj(t, buf, &sx)
}

var _ = vfs.PathMax
