package tmpfs

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/memfile"
	"github.com/runsc-cri/runsc-cri/sentry/memmap"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

const pageSize = memfile.PageSize

// maxFileSize bounds a tmpfs file (as MAX_LFS_FILESIZE).
const maxFileSize = 1<<63 - 1

// regularFile is a tmpfs regular file. Its data is a sparse set of memory
// file pages; holes read as zeros. All fields are guarded by mu.
type regularFile struct {
	inodeCommon
	size uint64
	// pages maps a page index of the file to the offset of its page in the
	// memory file; the file holds one reference on each.
	pages map[uint64]uint64
	// opens counts open files; data is freed when it and nlink are zero.
	opens int
}

func (fs *Filesystem) newRegularFile(mode uint32, uid auth.KUID, gid auth.KGID) *regularFile {
	f := &regularFile{pages: map[uint64]uint64{}}
	fs.initCommon(&f.inodeCommon, linux.S_IFREG|mode&0o7777, uid, gid)
	return f
}

// Stat implements vfs.Inode.
func (f *regularFile) Stat(ctx vfs.Context) (linux.Statx, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.statLocked()
	st.Size = f.size
	st.Blocks = uint64(len(f.pages)) * (pageSize / 512)
	return st, nil
}

// SetStat implements vfs.Inode.
func (f *regularFile) SetStat(ctx vfs.Context, opts *vfs.SetStatOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if opts.Mask&linux.STATX_SIZE != 0 {
		if opts.Size > maxFileSize {
			return unix.EFBIG
		}
		if opts.Size != f.size {
			f.truncateLocked(opts.Size)
		}
		now := vfs.NowTimestamp()
		f.mtime, f.ctime = now, now
	}
	f.setStatLocked(opts)
	return nil
}

// truncateLocked changes the size, freeing pages past the end and zeroing
// the tail of the last page.
func (f *regularFile) truncateLocked(size uint64) {
	if size < f.size {
		first := (size + pageSize - 1) / pageSize
		for idx, off := range f.pages {
			if idx >= first {
				f.fs.mf.DecRef(memfile.Range{Start: off, End: off + pageSize})
				delete(f.pages, idx)
				f.fs.reservePages(-1)
			}
		}
		if size%pageSize != 0 {
			if off, ok := f.pages[size/pageSize]; ok {
				clear(f.fs.mf.Slice(off+size%pageSize, pageSize-size%pageSize))
			}
		}
	}
	f.size = size
}

func (f *regularFile) dropLink() {
	f.inodeCommon.dropLink()
	f.maybeFree()
}

// maybeFree releases the data once the file has no links and no opens.
func (f *regularFile) maybeFree() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.nlink == 0 && f.opens == 0 {
		f.truncateLocked(0)
	}
}

// Open implements vfs.Opener.
func (f *regularFile) Open(ctx vfs.Context, vd vfs.VirtualDentry, flags uint32) (vfs.FileImpl, error) {
	f.mu.Lock()
	f.opens++
	f.mu.Unlock()
	return &regularFD{f: f}, nil
}

// pageLocked returns the memory-file offset of page idx, allocating it if
// alloc is set (ok false for a hole otherwise).
func (f *regularFile) pageLocked(idx uint64, alloc bool) (uint64, bool, error) {
	if off, ok := f.pages[idx]; ok {
		return off, true, nil
	}
	if !alloc {
		return 0, false, nil
	}
	if err := f.fs.reservePages(1); err != nil {
		return 0, false, err
	}
	r, err := f.fs.mf.Allocate(pageSize)
	if err != nil {
		f.fs.reservePages(-1)
		if err == unix.ENOMEM {
			err = unix.ENOSPC
		}
		return 0, false, err
	}
	f.pages[idx] = r.Start
	return r.Start, true, nil
}

// readLocked copies [off, off+len(b)) (within size) into b.
func (f *regularFile) readLocked(b []byte, off uint64) {
	for len(b) > 0 {
		idx, in := off/pageSize, off%pageSize
		n := min(uint64(len(b)), pageSize-in)
		if p, ok := f.pages[idx]; ok {
			copy(b[:n], f.fs.mf.Slice(p+in, n))
		} else {
			clear(b[:n])
		}
		b = b[n:]
		off += n
	}
}

// writeLocked copies b to the file at off, allocating pages. It returns
// the bytes written (short only on ENOSPC).
func (f *regularFile) writeLocked(b []byte, off uint64) (int, error) {
	done := 0
	for len(b) > 0 {
		idx, in := off/pageSize, off%pageSize
		n := min(uint64(len(b)), pageSize-in)
		p, _, err := f.pageLocked(idx, true)
		if err != nil {
			return done, err
		}
		copy(f.fs.mf.Slice(p+in, n), b[:n])
		b = b[n:]
		off += n
		done += int(n)
	}
	return done, nil
}

// regularFD is an open tmpfs regular file.
type regularFD struct {
	vfs.FileDefaults
	f *regularFile
}

// Release implements vfs.FileImpl.
func (fd *regularFD) Release(ctx vfs.Context) {
	f := fd.f
	f.mu.Lock()
	f.opens--
	f.mu.Unlock()
	f.maybeFree()
}

// Read implements vfs.FileImpl.
func (fd *regularFD) Read(ctx vfs.Context, dst [][]byte, off int64) (int64, error) {
	f := fd.f
	f.mu.Lock()
	defer f.mu.Unlock()
	var n int64
	for _, b := range dst {
		pos := uint64(off + n)
		if pos >= f.size {
			break
		}
		c := min(uint64(len(b)), f.size-pos)
		f.readLocked(b[:c], pos)
		n += int64(c)
		if c < uint64(len(b)) {
			break
		}
	}
	return n, nil
}

// Write implements vfs.FileImpl.
func (fd *regularFD) Write(ctx vfs.Context, src [][]byte, off int64, appendMode bool) (int64, int64, error) {
	f := fd.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if appendMode {
		off = int64(f.size)
	}
	var total uint64
	for _, b := range src {
		total += uint64(len(b))
	}
	if total == 0 {
		return 0, off, nil
	}
	if uint64(off)+total > maxFileSize || uint64(off)+total < uint64(off) {
		return 0, off, unix.EFBIG
	}
	var n int64
	var err error
	for _, b := range src {
		var c int
		c, err = f.writeLocked(b, uint64(off+n))
		n += int64(c)
		if err != nil {
			break
		}
	}
	if end := uint64(off + n); end > f.size {
		f.size = end
	}
	if n > 0 {
		now := vfs.NowTimestamp()
		f.mtime, f.ctime = now, now
		// Writing clears setuid, and setgid if group-executable.
		if f.mode&linux.S_ISUID != 0 || f.mode&(linux.S_ISGID|0o010) == linux.S_ISGID|0o010 {
			if creds := ctx.Credentials(); creds == nil || !creds.HasCapability(auth.CapFsetid) {
				f.mode &^= linux.S_ISUID
				if f.mode&0o010 != 0 {
					f.mode &^= linux.S_ISGID
				}
			}
		}
		err = nil
	}
	return n, off + n, err
}

// Seek implements vfs.FileImpl.
func (fd *regularFD) Seek(ctx vfs.Context, off int64, whence int, cur int64) (int64, error) {
	fd.f.mu.Lock()
	size := int64(fd.f.size)
	fd.f.mu.Unlock()
	return vfs.GenericSeek(off, whence, cur, size)
}

// Mappable implements vfs.FileImpl.
func (fd *regularFD) Mappable() (memmap.Mappable, error) { return fd.f, nil }

// Allocate implements vfs.FileImpl: mode 0 and FALLOC_FL_KEEP_SIZE
// allocate pages; FALLOC_FL_PUNCH_HOLE|KEEP_SIZE zeroes the range.
func (fd *regularFD) Allocate(ctx vfs.Context, mode uint32, off, length int64) error {
	f := fd.f
	end := uint64(off) + uint64(length)
	if end > maxFileSize || end < uint64(off) {
		return unix.EFBIG
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch mode {
	case 0, unix.FALLOC_FL_KEEP_SIZE:
		for idx := uint64(off) / pageSize; idx < (end+pageSize-1)/pageSize; idx++ {
			if _, _, err := f.pageLocked(idx, true); err != nil {
				return err
			}
		}
		if mode == 0 && end > f.size {
			f.size = end
		}
	case unix.FALLOC_FL_PUNCH_HOLE | unix.FALLOC_FL_KEEP_SIZE:
		for pos := uint64(off); pos < end && pos < f.size; {
			idx, in := pos/pageSize, pos%pageSize
			n := min(end-pos, pageSize-in)
			if p, ok := f.pages[idx]; ok {
				if n == pageSize {
					f.fs.mf.DecRef(memfile.Range{Start: p, End: p + pageSize})
					delete(f.pages, idx)
					f.fs.reservePages(-1)
				} else {
					clear(f.fs.mf.Slice(p+in, n))
				}
			}
			pos += n
		}
	default:
		return unix.EOPNOTSUPP
	}
	now := vfs.NowTimestamp()
	f.mtime, f.ctime = now, now
	return nil
}

// Translate implements memmap.Mappable.
func (f *regularFile) Translate(off, length uint64, forWrite bool) ([]memfile.Range, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	limit := (f.size + pageSize - 1) &^ (pageSize - 1)
	if off >= limit {
		return nil, unix.EFAULT
	}
	end := min(off+length, limit)
	var out []memfile.Range
	for pos := off &^ (pageSize - 1); pos < end; pos += pageSize {
		p, _, err := f.pageLocked(pos/pageSize, true)
		if err != nil {
			for _, r := range out {
				f.fs.mf.DecRef(r)
			}
			if err == unix.ENOSPC {
				err = unix.EFAULT
			}
			return nil, err
		}
		f.fs.mf.IncRef(memfile.Range{Start: p, End: p + pageSize})
		if n := len(out); n > 0 && out[n-1].End == p {
			out[n-1].End += pageSize
		} else {
			out = append(out, memfile.Range{Start: p, End: p + pageSize})
		}
	}
	return out, nil
}

// AddMapping implements memmap.Mappable.
func (f *regularFile) AddMapping(off, length uint64, writableShared bool) {}

// RemoveMapping implements memmap.Mappable.
func (f *regularFile) RemoveMapping(off, length uint64, writableShared bool) {}

// Sync implements memmap.Mappable: the memory is the backing store.
func (f *regularFile) Sync(off, length uint64) error { return nil }
