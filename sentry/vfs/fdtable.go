package vfs

import (
	"math"
	"sort"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// FDFlags are per-descriptor flags.
type FDFlags struct {
	CloseOnExec bool
}

type fdEntry struct {
	file  *FileDescription
	flags FDFlags
}

// Files closed through the table are released with a nil Context (closing
// needs no credentials), so FileImpl.Release must accept a nil ctx.
//
// FDTable maps file descriptor numbers to open files (Linux's
// files_struct). It is shared by tasks created with CLONE_FILES.
type FDTable struct {
	refs atomic.Int64

	// mu guards files and next.
	mu    sync.Mutex
	files map[int32]fdEntry
	// next is a lower bound of the lowest free descriptor.
	next int32
}

// NewFDTable returns an empty table with one reference.
func NewFDTable() *FDTable {
	t := &FDTable{files: map[int32]fdEntry{}}
	t.refs.Store(1)
	return t
}

// IncRef takes a reference (CLONE_FILES).
func (t *FDTable) IncRef() { t.refs.Add(1) }

// DecRef drops a reference; the last one closes every descriptor.
func (t *FDTable) DecRef() {
	if t.refs.Add(-1) > 0 {
		return
	}
	t.mu.Lock()
	files := t.files
	t.files = map[int32]fdEntry{}
	t.mu.Unlock()
	for _, e := range files {
		t.closeFile(e.file)
	}
}

// closeFile drops the table's reference on f, releasing the POSIX locks
// the table (as lock owner) held on its inode first.
func (t *FDTable) closeFile(f *FileDescription) {
	if !f.path {
		f.vfs.locks.releaseOwner(f.vd.Dentry.inode, t)
	}
	f.DecRef(nil)
}

// Fork returns a copy of the table (fork without CLONE_FILES): every file
// gets one more reference.
func (t *FDTable) Fork() *FDTable {
	n := NewFDTable()
	t.mu.Lock()
	defer t.mu.Unlock()
	for fd, e := range t.files {
		e.file.IncRef()
		n.files[fd] = e
	}
	n.next = t.next
	return n
}

// NewFD installs f at the lowest free descriptor >= minFD and returns it;
// the table takes its own reference. limit is RLIMIT_NOFILE: EMFILE if the
// descriptor would reach it.
func (t *FDTable) NewFD(minFD int32, f *FileDescription, flags FDFlags, limit uint64) (int32, error) {
	if minFD < 0 {
		return -1, unix.EINVAL
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	fd := minFD
	if fd < t.next {
		fd = t.next
	}
	for {
		if _, ok := t.files[fd]; !ok {
			break
		}
		if fd == math.MaxInt32 {
			return -1, unix.EMFILE
		}
		fd++
	}
	if uint64(fd) >= limit {
		return -1, unix.EMFILE
	}
	f.IncRef()
	t.files[fd] = fdEntry{f, flags}
	if minFD <= t.next {
		t.next = fd + 1
	}
	return fd, nil
}

// NewFDAt installs f at fd (dup2/dup3), closing what was there. EBADF if fd
// is beyond limit.
func (t *FDTable) NewFDAt(fd int32, f *FileDescription, flags FDFlags, limit uint64) error {
	if fd < 0 || uint64(fd) >= limit {
		return unix.EBADF
	}
	f.IncRef()
	t.mu.Lock()
	old, had := t.files[fd]
	t.files[fd] = fdEntry{f, flags}
	t.mu.Unlock()
	if had {
		t.closeFile(old.file)
	}
	return nil
}

// Get returns the file at fd with a new reference for the caller, or nil.
func (t *FDTable) Get(fd int32) (*FileDescription, FDFlags) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.files[fd]
	if !ok {
		return nil, FDFlags{}
	}
	e.file.IncRef()
	return e.file, e.flags
}

// Remove closes fd (close(2)); EBADF if it is not open.
func (t *FDTable) Remove(fd int32) error {
	t.mu.Lock()
	e, ok := t.files[fd]
	if ok {
		delete(t.files, fd)
		if fd < t.next {
			t.next = fd
		}
	}
	t.mu.Unlock()
	if !ok {
		return unix.EBADF
	}
	t.closeFile(e.file)
	return nil
}

// SetFlags changes fd's flags; EBADF if it is not open.
func (t *FDTable) SetFlags(fd int32, flags FDFlags) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.files[fd]
	if !ok {
		return unix.EBADF
	}
	e.flags = flags
	t.files[fd] = e
	return nil
}

// GetFlags returns fd's flags; EBADF if it is not open.
func (t *FDTable) GetFlags(fd int32) (FDFlags, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.files[fd]
	if !ok {
		return FDFlags{}, unix.EBADF
	}
	return e.flags, nil
}

// CloseOnExec closes every descriptor marked close-on-exec.
func (t *FDTable) CloseOnExec() {
	var closing []*FileDescription
	t.mu.Lock()
	for fd, e := range t.files {
		if e.flags.CloseOnExec {
			closing = append(closing, e.file)
			delete(t.files, fd)
			if fd < t.next {
				t.next = fd
			}
		}
	}
	t.mu.Unlock()
	for _, f := range closing {
		t.closeFile(f)
	}
}

// CloseRange implements close_range(2) over [first, last]: closes them, or
// with CLOSE_RANGE_CLOEXEC marks them close-on-exec. (CLOSE_RANGE_UNSHARE is
// done by the caller, which unshares the table first.)
func (t *FDTable) CloseRange(first, last uint32, flags uint32) error {
	if first > last {
		return unix.EINVAL
	}
	if last > math.MaxInt32 {
		last = math.MaxInt32
	}
	if first > math.MaxInt32 {
		return nil
	}
	cloexec := flags&unix.CLOSE_RANGE_CLOEXEC != 0
	var closing []*FileDescription
	t.mu.Lock()
	for fd, e := range t.files {
		if uint32(fd) < first || uint32(fd) > last {
			continue
		}
		if cloexec {
			e.flags.CloseOnExec = true
			t.files[fd] = e
			continue
		}
		closing = append(closing, e.file)
		delete(t.files, fd)
		if fd < t.next {
			t.next = fd
		}
	}
	t.mu.Unlock()
	for _, f := range closing {
		t.closeFile(f)
	}
	return nil
}

// FDInfo is one entry of the table, for /proc/[pid]/fd.
type FDInfo struct {
	FD    int32
	File  *FileDescription
	Flags FDFlags
}

// ForEach calls fn for every descriptor in increasing order (a snapshot),
// holding a reference on each file for the duration of the call; it stops
// when fn returns false.
func (t *FDTable) ForEach(fn func(fd int32, f *FileDescription, flags FDFlags) bool) {
	snap := t.snapshot()
	stopped := false
	for _, e := range snap {
		if !stopped && !fn(e.FD, e.File, e.Flags) {
			stopped = true
		}
		e.File.DecRef(nil)
	}
}

// FDs returns the open descriptors in increasing order.
func (t *FDTable) FDs() []int32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	fds := make([]int32, 0, len(t.files))
	for fd := range t.files {
		fds = append(fds, fd)
	}
	sort.Slice(fds, func(i, j int) bool { return fds[i] < fds[j] })
	return fds
}

func (t *FDTable) snapshot() []FDInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]FDInfo, 0, len(t.files))
	for fd, e := range t.files {
		e.file.IncRef()
		out = append(out, FDInfo{fd, e.file, e.flags})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].FD < out[j].FD })
	return out
}

// Count returns the number of open descriptors.
func (t *FDTable) Count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.files)
}
