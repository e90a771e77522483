package vfs

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// dirFile is vfs's generic open directory: getdents lists "." and ".." and
// then the inode's IterDirents.
type dirFile struct {
	FileDefaults
	vd VirtualDentry
}

func newDirFile(vd VirtualDentry) *dirFile { return &dirFile{vd: vd} }

// Read implements FileImpl.Read.
func (d *dirFile) Read(ctx Context, dst [][]byte, off int64) (int64, error) {
	return 0, unix.EISDIR
}

// Write implements FileImpl.Write.
func (d *dirFile) Write(ctx Context, src [][]byte, off int64, a bool) (int64, int64, error) {
	return 0, off, unix.EISDIR
}

// Seek implements FileImpl.Seek: directories seek to cookies returned
// earlier, or to 0.
func (d *dirFile) Seek(ctx Context, off int64, whence int, cur int64) (int64, error) {
	switch whence {
	case unix.SEEK_SET:
	case unix.SEEK_CUR:
		off += cur
	default:
		return 0, unix.EINVAL
	}
	if off < 0 {
		return 0, unix.EINVAL
	}
	return off, nil
}

// Allocate implements FileImpl.Allocate.
func (d *dirFile) Allocate(ctx Context, mode uint32, off, length int64) error { return unix.EISDIR }

// Positions: 0 is ".", 1 is "..", 2 is the first filesystem entry; a
// filesystem cookie c is stored as c+2.
const dirCookieBase = 2

// An entry that does not fit is not consumed: the position stays before it
// and the next call starts there.
//
// Getdents fills buf with linux_dirent64 records (or the old
// linux_dirent ones if old) from the file's position and returns the bytes
// used. EINVAL if not even one entry fits; ENOTDIR if the file is not a
// directory.
func (fd *FileDescription) Getdents(ctx Context, buf []byte, old bool) (int, error) {
	if fd.path {
		return 0, unix.EBADF
	}
	var iter func(ctx Context, cookie int64, emit func(Dirent) bool) error
	_, generic := fd.impl.(*dirFile)
	if generic {
		dir, ok := fd.vd.Dentry.inode.(DirInode)
		if !ok {
			return 0, unix.ENOTDIR
		}
		iter = dir.IterDirents
	} else if d, ok := fd.impl.(DirectoryFile); ok {
		iter = d.IterDirents
	} else {
		return 0, unix.ENOTDIR
	}
	fd.offMu.Lock()
	defer fd.offMu.Unlock()
	n := 0
	full := false
	put := func(e Dirent, pos int64) bool {
		rec := encodeDirent(buf[n:], e, pos, old)
		if rec == 0 {
			full = true
			return false
		}
		n += rec
		return true
	}
	if fd.off == 0 {
		st, err := fd.vd.Dentry.inode.Stat(ctx)
		if err != nil {
			return 0, err
		}
		if !put(Dirent{Name: ".", Ino: st.Ino, Type: linux.DT_DIR}, 1) {
			return 0, unix.EINVAL
		}
		fd.off = 1
	}
	if fd.off == 1 {
		pino := uint64(0)
		vd := fd.vd
		// ".." of a mount's root is the parent of its mount point.
		for vd.Dentry == vd.Mount.root && vd.Mount.parent != nil {
			vd = VirtualDentry{vd.Mount.parent, vd.Mount.point}
		}
		p := vd.Dentry.parent.Load()
		if p == nil {
			p = vd.Dentry
		}
		if st, err := p.inode.Stat(ctx); err == nil {
			pino = st.Ino
		}
		if !put(Dirent{Name: "..", Ino: pino, Type: linux.DT_DIR}, dirCookieBase) {
			if n == 0 {
				return 0, unix.EINVAL
			}
			return n, nil
		}
		fd.off = dirCookieBase
	}
	err := iter(ctx, fd.off-dirCookieBase, func(e Dirent) bool {
		if !put(e, e.NextCookie+dirCookieBase) {
			return false
		}
		fd.off = e.NextCookie + dirCookieBase
		return true
	})
	if err != nil && n == 0 {
		return 0, err
	}
	if full && n == 0 {
		return 0, unix.EINVAL
	}
	return n, nil
}

// encodeDirent writes one record into b and returns its length, or 0 if
// it does not fit.
func encodeDirent(b []byte, e Dirent, nextOff int64, old bool) int {
	if old {
		// struct linux_dirent: ino(8) off(8) reclen(2) name NUL pad type.
		reclen := (8 + 8 + 2 + len(e.Name) + 1 + 1 + 7) &^ 7
		if reclen > len(b) {
			return 0
		}
		binary.LittleEndian.PutUint64(b[0:], e.Ino)
		binary.LittleEndian.PutUint64(b[8:], uint64(nextOff))
		binary.LittleEndian.PutUint16(b[16:], uint16(reclen))
		copy(b[18:], e.Name)
		clear(b[18+len(e.Name) : reclen-1])
		b[reclen-1] = e.Type
		return reclen
	}
	// struct linux_dirent64: ino(8) off(8) reclen(2) type(1) name NUL pad.
	reclen := (8 + 8 + 2 + 1 + len(e.Name) + 1 + 7) &^ 7
	if reclen > len(b) {
		return 0
	}
	binary.LittleEndian.PutUint64(b[0:], e.Ino)
	binary.LittleEndian.PutUint64(b[8:], uint64(nextOff))
	binary.LittleEndian.PutUint16(b[16:], uint16(reclen))
	b[18] = e.Type
	copy(b[19:], e.Name)
	clear(b[19+len(e.Name) : reclen])
	return reclen
}
