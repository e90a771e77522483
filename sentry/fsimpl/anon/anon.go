// Package anon holds files that live in no directory and are made by a
// system call: eventfd and epoll instances. Each has an anonymous inode from
// vfs.NewAnonVirtualDentry, so /proc/self/fd shows "anon_inode:[eventfd]".
package anon

import (
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// inode is an anonymous inode of a given kind.
type inode struct {
	vfs.NoSetStat
	ino   uint64
	mode  uint32
	mu    sync.Mutex
	mtime time.Time
}

func (i *inode) Stat(ctx vfs.Context) (linux.Statx, error) {
	now := linux.NsecToStatxTimestamp(time.Now().UnixNano())
	return linux.Statx{
		Mask:    linux.STATX_BASIC_STATS,
		Mode:    uint16(i.mode),
		Nlink:   1,
		Ino:     i.ino,
		Blksize: 4096,
		Atime:   now,
		Mtime:   now,
		Ctime:   now,
	}, nil
}

// newFile wraps impl in a file description with an anonymous inode.
func newFile(v *vfs.VirtualFilesystem, name string, impl vfs.FileImpl, flags uint32) *vfs.FileDescription {
	ino := &inode{ino: v.NextAnonIno(), mode: 0o600}
	vd := v.NewAnonVirtualDentry("anon_inode:["+name+"]", ino)
	fd := v.NewFileDescription(impl, vd, flags)
	vd.DecRef()
	return fd
}
