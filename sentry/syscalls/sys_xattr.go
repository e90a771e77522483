package syscalls

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/arch"
	"github.com/runsc-cri/runsc-cri/sentry/kernel"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

func init() {
	const note = "no filesystem stores extended attributes yet: reads answer EOPNOTSUPP, lists are empty"
	addFamily(map[uintptr]Entry{
		unix.SYS_GETXATTR:     {Handler: pathXattr(true), Support: Partial, Note: note},
		unix.SYS_LGETXATTR:    {Handler: pathXattr(false), Support: Partial, Note: note},
		unix.SYS_FGETXATTR:    {Handler: fdXattr, Support: Partial, Note: note},
		unix.SYS_SETXATTR:     {Handler: pathXattr(true), Support: Partial, Note: note},
		unix.SYS_LSETXATTR:    {Handler: pathXattr(false), Support: Partial, Note: note},
		unix.SYS_FSETXATTR:    {Handler: fdXattr, Support: Partial, Note: note},
		unix.SYS_REMOVEXATTR:  {Handler: pathXattr(true), Support: Partial, Note: note},
		unix.SYS_LREMOVEXATTR: {Handler: pathXattr(false), Support: Partial, Note: note},
		unix.SYS_FREMOVEXATTR: {Handler: fdXattr, Support: Partial, Note: note},
		unix.SYS_LISTXATTR:    {Handler: pathListxattr(true), Support: Partial, Note: note},
		unix.SYS_LLISTXATTR:   {Handler: pathListxattr(false), Support: Partial, Note: note},
		unix.SYS_FLISTXATTR:   {Handler: Flistxattr, Support: Partial, Note: note},
	})
}

// statPath resolves the path argument so that a missing file still gets
// ENOENT (and friends) before the xattr answer.
func statPath(t *kernel.Task, addr uintptr, follow bool) error {
	path, err := t.CopyInString(addr, linux.PATH_MAX)
	if err != nil {
		return err
	}
	pop := t.FSContext().PathOp(vfs.VirtualDentry{}, path, follow)
	defer pop.Release()
	_, err = t.Kernel().VFS().StatAt(t, pop)
	return err
}

// pathXattr implements getxattr, setxattr, removexattr and their l* forms.
func pathXattr(follow bool) Handler {
	return func(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
		if err := statPath(t, a[0], follow); err != nil {
			return 0, err
		}
		return 0, unix.EOPNOTSUPP
	}
}

// pathListxattr implements listxattr and llistxattr: no attributes.
func pathListxattr(follow bool) Handler {
	return func(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
		return 0, statPath(t, a[0], follow)
	}
}

// fdXattr implements fgetxattr, fsetxattr and fremovexattr.
func fdXattr(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	f, _ := t.FDTable().Get(a.Int(0))
	if f == nil {
		return 0, unix.EBADF
	}
	f.DecRef(t)
	return 0, unix.EOPNOTSUPP
}

// Flistxattr implements Linux syscall flistxattr(2): no attributes.
func Flistxattr(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	f, _ := t.FDTable().Get(a.Int(0))
	if f == nil {
		return 0, unix.EBADF
	}
	f.DecRef(t)
	return 0, nil
}
