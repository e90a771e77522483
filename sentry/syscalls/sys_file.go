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
		unix.SYS_OPEN:        {Handler: Open, Support: Full},
		unix.SYS_OPENAT:      {Handler: Openat, Support: Partial, Note: "O_TMPFILE unsupported (EOPNOTSUPP)"},
		unix.SYS_CREAT:       {Handler: Creat, Support: Full},
		unix.SYS_CLOSE:       {Handler: Close, Support: Full},
		unix.SYS_CLOSE_RANGE: {Handler: CloseRange, Support: Full},
		unix.SYS_DUP:         {Handler: Dup, Support: Full},
		unix.SYS_DUP2:        {Handler: Dup2, Support: Full},
		unix.SYS_DUP3:        {Handler: Dup3, Support: Full},
		unix.SYS_MKDIR:       {Handler: Mkdir, Support: Full},
		unix.SYS_MKDIRAT:     {Handler: Mkdirat, Support: Full},
		unix.SYS_MKNOD:       {Handler: Mknod, Support: Full},
		unix.SYS_MKNODAT:     {Handler: Mknodat, Support: Full},
		unix.SYS_RMDIR:       {Handler: Rmdir, Support: Full},
		unix.SYS_UNLINK:      {Handler: Unlink, Support: Full},
		unix.SYS_UNLINKAT:    {Handler: Unlinkat, Support: Full},
		unix.SYS_LINK:        {Handler: Link, Support: Full},
		unix.SYS_LINKAT:      {Handler: Linkat, Support: Full},
		unix.SYS_SYMLINK:     {Handler: Symlink, Support: Full},
		unix.SYS_SYMLINKAT:   {Handler: Symlinkat, Support: Full},
		unix.SYS_READLINK:    {Handler: Readlink, Support: Full},
		unix.SYS_READLINKAT:  {Handler: Readlinkat, Support: Full},
		unix.SYS_RENAME:      {Handler: Rename, Support: Full},
		unix.SYS_RENAMEAT:    {Handler: Renameat, Support: Full},
		unix.SYS_RENAMEAT2:   {Handler: Renameat2, Support: Partial, Note: "RENAME_WHITEOUT unsupported (EINVAL)"},
		unix.SYS_ACCESS:      {Handler: Access, Support: Full},
		unix.SYS_FACCESSAT:   {Handler: Faccessat, Support: Full},
		unix.SYS_FACCESSAT2:  {Handler: Faccessat2, Support: Full},
	})
}

// copyInPath reads a path argument (at most PATH_MAX bytes with the NUL).
func copyInPath(t *kernel.Task, addr uintptr) (string, error) {
	if addr == 0 {
		return "", unix.EFAULT
	}
	return t.CopyInString(addr, vfs.PathMax-1)
}

// getFile returns the file at fd with a reference, or EBADF.
func getFile(t *kernel.Task, fd int32) (*vfs.FileDescription, error) {
	f, _ := t.FDTable().Get(fd)
	if f == nil {
		return nil, unix.EBADF
	}
	return f, nil
}

// getFileNoPath is getFile refusing O_PATH files (EBADF), as fdget does.
func getFileNoPath(t *kernel.Task, fd int32) (*vfs.FileDescription, error) {
	f, err := getFile(t, fd)
	if err != nil {
		return nil, err
	}
	if f.IsPath() {
		f.DecRef(t)
		return nil, unix.EBADF
	}
	return f, nil
}

// nofileLimit returns RLIMIT_NOFILE's soft limit.
func nofileLimit(t *kernel.Task) uint64 {
	cur, _ := t.Rlimit(linux.RLIMIT_NOFILE)
	return cur
}

// pathOpAt builds a PathOperation for (dirfd, path); release it with
// Release. A relative path needs dirfd to be a directory (ENOTDIR), unless
// emptyOK and path is empty (AT_EMPTY_PATH), where dirfd itself is named.
func pathOpAt(t *kernel.Task, dirfd int32, path string, follow, emptyOK bool) (*vfs.PathOperation, error) {
	fsc := t.FSContext()
	if path != "" && path[0] == '/' {
		return fsc.PathOp(vfs.VirtualDentry{}, path, follow), nil
	}
	if dirfd == linux.AT_FDCWD {
		pop := fsc.PathOp(vfs.VirtualDentry{}, path, follow)
		pop.EmptyPathOK = emptyOK
		return pop, nil
	}
	f, err := getFile(t, dirfd)
	if err != nil {
		return nil, err
	}
	defer f.DecRef(t)
	if !(path == "" && emptyOK) {
		if path == "" {
			return nil, unix.ENOENT
		}
		st, err := f.Stat(t)
		if err != nil {
			return nil, err
		}
		if uint32(st.Mode)&linux.S_IFMT != linux.S_IFDIR {
			return nil, unix.ENOTDIR
		}
	}
	pop := fsc.PathOp(f.VirtualDentry(), path, follow)
	pop.EmptyPathOK = emptyOK
	return pop, nil
}

// withPath copies in the path at addr and runs fn with its PathOperation.
func withPath(t *kernel.Task, dirfd int32, addr uintptr, follow, emptyOK bool, fn func(pop *vfs.PathOperation) error) error {
	path, err := copyInPath(t, addr)
	if err != nil {
		return err
	}
	pop, err := pathOpAt(t, dirfd, path, follow, emptyOK)
	if err != nil {
		return err
	}
	defer pop.Release()
	return fn(pop)
}

// Open implements Linux syscall open(2).
func Open(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return openat(t, linux.AT_FDCWD, args.Ptr(0), args.Uint(1), args.Uint(2))
}

// Openat implements Linux syscall openat(2).
func Openat(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return openat(t, args.Int(0), args.Ptr(1), args.Uint(2), args.Uint(3))
}

// Creat implements Linux syscall creat(2).
func Creat(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return openat(t, linux.AT_FDCWD, args.Ptr(0), unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, args.Uint(1))
}

func openat(t *kernel.Task, dirfd int32, addr uintptr, flags, mode uint32) (uintptr, error) {
	path, err := copyInPath(t, addr)
	if err != nil {
		return 0, err
	}
	pop, err := pathOpAt(t, dirfd, path, flags&unix.O_NOFOLLOW == 0, false)
	if err != nil {
		return 0, err
	}
	defer pop.Release()
	fsc := t.FSContext()
	f, err := t.Kernel().VFS().OpenAt(t, pop, vfs.OpenOptions{
		Flags: flags | linux.O_LARGEFILE,
		Mode:  mode & 0o7777 &^ fsc.Umask(),
	})
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	// A FIFO opened without O_NONBLOCK waits for its other end.
	if ow, ok := f.Impl().(vfs.OpenWaiter); ok {
		for {
			ready, ch := ow.OpenReady()
			if ready {
				break
			}
			if err := t.Block(ch); err != nil {
				return 0, err
			}
		}
	}
	fd, err := t.FDTable().NewFD(0, f, vfs.FDFlags{CloseOnExec: flags&unix.O_CLOEXEC != 0}, nofileLimit(t))
	if err != nil {
		return 0, err
	}
	return uintptr(fd), nil
}

// Close implements Linux syscall close(2).
func Close(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return 0, t.FDTable().Remove(args.Int(0))
}

// CloseRange implements Linux syscall close_range(2).
func CloseRange(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	first, last, flags := args.Uint(0), args.Uint(1), args.Uint(2)
	if flags&^(unix.CLOSE_RANGE_CLOEXEC|unix.CLOSE_RANGE_UNSHARE) != 0 || first > last {
		return 0, unix.EINVAL
	}
	if flags&unix.CLOSE_RANGE_UNSHARE != 0 {
		if err := t.Unshare(linux.CLONE_FILES); err != nil {
			return 0, err
		}
	}
	return 0, t.FDTable().CloseRange(first, last, flags)
}

// Dup implements Linux syscall dup(2).
func Dup(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	f, err := getFile(t, args.Int(0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	fd, err := t.FDTable().NewFD(0, f, vfs.FDFlags{}, nofileLimit(t))
	if err != nil {
		return 0, err
	}
	return uintptr(fd), nil
}

// Dup2 implements Linux syscall dup2(2).
func Dup2(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	oldfd, newfd := args.Int(0), args.Int(1)
	if oldfd == newfd {
		f, err := getFile(t, oldfd)
		if err != nil {
			return 0, err
		}
		f.DecRef(t)
		return uintptr(newfd), nil
	}
	return dup3(t, oldfd, newfd, 0)
}

// Dup3 implements Linux syscall dup3(2).
func Dup3(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	oldfd, newfd, flags := args.Int(0), args.Int(1), args.Uint(2)
	if oldfd == newfd || flags&^unix.O_CLOEXEC != 0 {
		return 0, unix.EINVAL
	}
	return dup3(t, oldfd, newfd, flags)
}

func dup3(t *kernel.Task, oldfd, newfd int32, flags uint32) (uintptr, error) {
	f, err := getFile(t, oldfd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	if err := t.FDTable().NewFDAt(newfd, f, vfs.FDFlags{CloseOnExec: flags&unix.O_CLOEXEC != 0}, nofileLimit(t)); err != nil {
		return 0, err
	}
	return uintptr(newfd), nil
}

// Mkdir implements Linux syscall mkdir(2).
func Mkdir(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return 0, mkdirat(t, linux.AT_FDCWD, args.Ptr(0), args.Uint(1))
}

// Mkdirat implements Linux syscall mkdirat(2).
func Mkdirat(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return 0, mkdirat(t, args.Int(0), args.Ptr(1), args.Uint(2))
}

func mkdirat(t *kernel.Task, dirfd int32, addr uintptr, mode uint32) error {
	return withPath(t, dirfd, addr, false, false, func(pop *vfs.PathOperation) error {
		return t.Kernel().VFS().MkdirAt(t, pop, mode&0o1777&^t.FSContext().Umask())
	})
}

// Mknod implements Linux syscall mknod(2).
func Mknod(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return 0, mknodat(t, linux.AT_FDCWD, args.Ptr(0), args.Uint(1), uint64(args[2]))
}

// Mknodat implements Linux syscall mknodat(2).
func Mknodat(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return 0, mknodat(t, args.Int(0), args.Ptr(1), args.Uint(2), uint64(args[3]))
}

func mknodat(t *kernel.Task, dirfd int32, addr uintptr, mode uint32, dev uint64) error {
	// dev is encoded as new_encode_dev: minor low byte, major, then the
	// rest of the minor.
	dev32 := uint32(dev)
	major := (dev32 >> 8) & 0xfff
	minor := (dev32 & 0xff) | ((dev32 >> 12) & 0xfff00)
	return withPath(t, dirfd, addr, false, false, func(pop *vfs.PathOperation) error {
		m := mode&linux.S_IFMT | mode&0o7777&^t.FSContext().Umask()
		return t.Kernel().VFS().MknodAt(t, pop, m, major, minor)
	})
}

// Rmdir implements Linux syscall rmdir(2).
func Rmdir(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return 0, withPath(t, linux.AT_FDCWD, args.Ptr(0), false, false, func(pop *vfs.PathOperation) error {
		return t.Kernel().VFS().RmdirAt(t, pop)
	})
}

// Unlink implements Linux syscall unlink(2).
func Unlink(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return 0, withPath(t, linux.AT_FDCWD, args.Ptr(0), false, false, func(pop *vfs.PathOperation) error {
		return t.Kernel().VFS().UnlinkAt(t, pop)
	})
}

// Unlinkat implements Linux syscall unlinkat(2).
func Unlinkat(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	flags := args.Uint(2)
	if flags&^linux.AT_REMOVEDIR != 0 {
		return 0, unix.EINVAL
	}
	return 0, withPath(t, args.Int(0), args.Ptr(1), false, false, func(pop *vfs.PathOperation) error {
		if flags&linux.AT_REMOVEDIR != 0 {
			return t.Kernel().VFS().RmdirAt(t, pop)
		}
		return t.Kernel().VFS().UnlinkAt(t, pop)
	})
}

// Link implements Linux syscall link(2).
func Link(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return 0, linkat(t, linux.AT_FDCWD, args.Ptr(0), linux.AT_FDCWD, args.Ptr(1), 0)
}

// Linkat implements Linux syscall linkat(2).
func Linkat(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return 0, linkat(t, args.Int(0), args.Ptr(1), args.Int(2), args.Ptr(3), args.Uint(4))
}

func linkat(t *kernel.Task, olddirfd int32, oldAddr uintptr, newdirfd int32, newAddr uintptr, flags uint32) error {
	if flags&^(linux.AT_SYMLINK_FOLLOW|linux.AT_EMPTY_PATH) != 0 {
		return unix.EINVAL
	}
	emptyOK := flags&linux.AT_EMPTY_PATH != 0
	if emptyOK && !t.Credentials().HasCapability(auth.CapDacReadSearch) {
		return unix.ENOENT
	}
	return withPath(t, olddirfd, oldAddr, flags&linux.AT_SYMLINK_FOLLOW != 0, emptyOK, func(oldpop *vfs.PathOperation) error {
		return withPath(t, newdirfd, newAddr, false, false, func(newpop *vfs.PathOperation) error {
			return t.Kernel().VFS().LinkAt(t, oldpop, newpop)
		})
	})
}

// Symlink implements Linux syscall symlink(2).
func Symlink(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return 0, symlinkat(t, args.Ptr(0), linux.AT_FDCWD, args.Ptr(1))
}

// Symlinkat implements Linux syscall symlinkat(2).
func Symlinkat(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return 0, symlinkat(t, args.Ptr(0), args.Int(1), args.Ptr(2))
}

func symlinkat(t *kernel.Task, targetAddr uintptr, dirfd int32, addr uintptr) error {
	target, err := copyInPath(t, targetAddr)
	if err != nil {
		return err
	}
	return withPath(t, dirfd, addr, false, false, func(pop *vfs.PathOperation) error {
		return t.Kernel().VFS().SymlinkAt(t, pop, target)
	})
}

// Readlink implements Linux syscall readlink(2).
func Readlink(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return readlinkat(t, linux.AT_FDCWD, args.Ptr(0), args.Ptr(1), args.Int(2))
}

// Readlinkat implements Linux syscall readlinkat(2).
func Readlinkat(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return readlinkat(t, args.Int(0), args.Ptr(1), args.Ptr(2), args.Int(3))
}

func readlinkat(t *kernel.Task, dirfd int32, addr, buf uintptr, size int32) (uintptr, error) {
	if size <= 0 {
		return 0, unix.EINVAL
	}
	var target string
	err := withPath(t, dirfd, addr, false, true, func(pop *vfs.PathOperation) error {
		var err error
		target, err = t.Kernel().VFS().ReadlinkAt(t, pop)
		if err == unix.EINVAL && pop.Path == "" {
			// readlinkat(fd, "") of something that is not a symlink.
			return unix.ENOENT
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	b := []byte(target)
	if len(b) > int(size) {
		b = b[:size]
	}
	n, err := t.CopyOut(buf, b)
	if err != nil {
		return 0, unix.EFAULT
	}
	return uintptr(n), nil
}

// Rename implements Linux syscall rename(2).
func Rename(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return 0, renameat(t, linux.AT_FDCWD, args.Ptr(0), linux.AT_FDCWD, args.Ptr(1), 0)
}

// Renameat implements Linux syscall renameat(2).
func Renameat(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return 0, renameat(t, args.Int(0), args.Ptr(1), args.Int(2), args.Ptr(3), 0)
}

// Renameat2 implements Linux syscall renameat2(2).
func Renameat2(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return 0, renameat(t, args.Int(0), args.Ptr(1), args.Int(2), args.Ptr(3), args.Uint(4))
}

func renameat(t *kernel.Task, olddirfd int32, oldAddr uintptr, newdirfd int32, newAddr uintptr, flags uint32) error {
	return withPath(t, olddirfd, oldAddr, false, false, func(oldpop *vfs.PathOperation) error {
		return withPath(t, newdirfd, newAddr, false, false, func(newpop *vfs.PathOperation) error {
			return t.Kernel().VFS().RenameAt(t, oldpop, newpop, flags)
		})
	})
}

// Access implements Linux syscall access(2).
func Access(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return 0, faccessat(t, linux.AT_FDCWD, args.Ptr(0), args.Uint(1), 0)
}

// Faccessat implements Linux syscall faccessat(2) (which has no flags).
func Faccessat(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return 0, faccessat(t, args.Int(0), args.Ptr(1), args.Uint(2), 0)
}

// Faccessat2 implements Linux syscall faccessat2(2).
func Faccessat2(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error) {
	return 0, faccessat(t, args.Int(0), args.Ptr(1), args.Uint(2), args.Uint(3))
}

// credsCtx is a task's vfs.Context with substituted credentials; /proc
// still resolves "self" through its task.
type credsCtx struct {
	t     *kernel.Task
	creds *auth.Credentials
}

func (c credsCtx) Credentials() *auth.Credentials { return c.creds }

// CallerTask returns the task the check is made for.
func (c credsCtx) CallerTask() *kernel.Task { return c.t }

func faccessat(t *kernel.Task, dirfd int32, addr uintptr, mode, flags uint32) error {
	if flags&^(linux.AT_EACCESS|linux.AT_SYMLINK_NOFOLLOW|linux.AT_EMPTY_PATH) != 0 || mode&^7 != 0 {
		return unix.EINVAL
	}
	creds := t.Credentials()
	if flags&linux.AT_EACCESS == 0 {
		// Check with the real ids, as Linux's access_override_creds.
		c := creds.Fork()
		c.FSUID, c.FSGID = c.RealUID, c.RealGID
		if c.RealUID != 0 {
			c.Effective = 0
		} else {
			c.Effective = c.Permitted
		}
		creds = c
	}
	return withPath(t, dirfd, addr, flags&linux.AT_SYMLINK_NOFOLLOW == 0, flags&linux.AT_EMPTY_PATH != 0, func(pop *vfs.PathOperation) error {
		return t.Kernel().VFS().AccessAt(credsCtx{t, creds}, pop, mode)
	})
}
