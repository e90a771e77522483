package syscalls

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/kernel"
	"github.com/runsc-cri/runsc-cri/sentry/memmap"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// mmapFile is what mmap needs of a file descriptor.
type mmapFile struct {
	t        *kernel.Task
	fd       *vfs.FileDescription
	mappable memmap.Mappable
	// devZero: the file is /dev/zero, mapped as anonymous memory.
	devZero  bool
	name     string
	dev, ino uint64
}

func (f *mmapFile) release() { f.fd.DecRef(f.t) }

// getFileForMmap checks that fd may be mapped with prot and flags, as
// Linux's do_mmap does, and returns its Mappable.
func getFileForMmap(t *kernel.Task, fd int32, prot, flags int) (*mmapFile, error) {
	f, _ := t.FDTable().Get(fd)
	if f == nil {
		return nil, unix.EBADF
	}
	ok := false
	defer func() {
		if !ok {
			f.DecRef(t)
		}
	}()
	if f.IsPath() || !f.Readable() {
		return nil, unix.EACCES
	}
	if flags&linux.MAP_SHARED != 0 && prot&linux.PROT_WRITE != 0 && !f.Writable() {
		return nil, unix.EACCES
	}
	if f.StatusFlags()&unix.O_APPEND != 0 && flags&linux.MAP_SHARED != 0 && prot&linux.PROT_WRITE != 0 {
		return nil, unix.EACCES
	}
	st, err := f.Stat(t)
	if err != nil {
		return nil, err
	}
	m, err := f.Mappable()
	if err != nil {
		if st.Mode&linux.S_IFMT != linux.S_IFCHR || st.RdevMajor != 1 || st.RdevMinor != 5 {
			return nil, err
		}
		// /dev/zero: mapped as anonymous memory (shared or private).
		ok = true
		return &mmapFile{t: t, fd: f, devZero: true}, nil
	}
	root := t.FSContext().Root()
	name, err := t.Kernel().VFS().PathOf(root, f.VirtualDentry())
	root.DecRef()
	if err != nil {
		name = ""
	}
	ok = true
	return &mmapFile{t: t, fd: f, mappable: m, name: name,
		dev: uint64(st.DevMajor)<<8 | uint64(st.DevMinor), ino: st.Ino}, nil
}
