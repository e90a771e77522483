package boot

import (
	"strings"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/kernel"
	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/loader"
	"github.com/runsc-cri/runsc-cri/sentry/memmap"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// execFile is an opened executable as the loader sees it.
type execFile struct {
	t        *kernel.Task
	fd       *vfs.FileDescription
	name     string
	dev, ino uint64
	// uid/setuid and gid/setgid are the set-ID bits that count
	// (kernel.SetIDFile).
	uid            auth.KUID
	gid            auth.KGID
	setuid, setgid bool
}

// SetID implements kernel.SetIDFile.
func (f *execFile) SetID() (auth.KUID, bool, auth.KGID, bool) {
	return f.uid, f.setuid, f.gid, f.setgid
}

func (f *execFile) ReadAt(p []byte, off int64) (int, error) { return f.fd.ReadAt(f.t, p, off) }
func (f *execFile) Mappable() memmap.Mappable {
	m, err := f.fd.Mappable()
	if err != nil {
		return nil
	}
	return m
}
func (f *execFile) Name() string { return f.name }
func (f *execFile) Dev() uint64  { return f.dev }
func (f *execFile) Ino() uint64  { return f.ino }

// openExec is the kernel's ExecOpener: it resolves path as task t (relative
// to dirfd), requires execute permission on a regular file, and opens it.
func openExec(t *kernel.Task, dirfd int32, path string, flags int) (loader.File, string, error) {
	v := t.Kernel().VFS()
	fsc := t.FSContext()
	var start vfs.VirtualDentry
	if dirfd != linux.AT_FDCWD && !strings.HasPrefix(path, "/") {
		f, _ := t.FDTable().Get(dirfd)
		if f == nil {
			return nil, "", unix.EBADF
		}
		defer f.DecRef(t)
		start = f.VirtualDentry()
		if path == "" {
			// execveat(fd, "", AT_EMPTY_PATH): the file itself.
			return newExecFile(t, v, fsc, f, true)
		}
	}
	pop := fsc.PathOp(start, path, flags&linux.AT_SYMLINK_NOFOLLOW == 0)
	defer pop.Release()
	fd, err := v.OpenAt(t, pop, vfs.OpenOptions{Flags: unix.O_RDONLY, MayExec: true})
	if err != nil {
		return nil, "", err
	}
	return newExecFile(t, v, fsc, fd, false)
}

func newExecFile(t *kernel.Task, v *vfs.VirtualFilesystem, fsc *vfs.FSContext, fd *vfs.FileDescription, borrowed bool) (loader.File, string, error) {
	if borrowed {
		fd.IncRef()
	}
	st, err := fd.Stat(t)
	if err != nil {
		fd.DecRef(t)
		return nil, "", err
	}
	if st.Mode&linux.S_IFMT != linux.S_IFREG {
		fd.DecRef(t)
		return nil, "", unix.EACCES
	}
	root := fsc.Root()
	name, err := v.PathOf(root, fd.VirtualDentry())
	root.DecRef()
	if err != nil {
		name = "/"
	}
	ef := &execFile{t: t, fd: fd, name: name, dev: uint64(st.DevMinor), ino: st.Ino}
	if !fd.VirtualDentry().Mount.Flags().NoSuid {
		ef.uid, ef.setuid = auth.KUID(st.UID), st.Mode&linux.S_ISUID != 0
		ef.gid, ef.setgid = auth.KGID(st.GID), st.Mode&(linux.S_ISGID|0o010) == linux.S_ISGID|0o010
	}
	return ef, name, nil
}
