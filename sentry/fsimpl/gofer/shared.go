package gofer

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/gofer/client"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// Shared mode (Options.Shared): the tree has other writers (the host, a
// kubelet updating a ConfigMap, another container of the pod with its own
// filesystem instance over the same volume), so what this package caches
// must be checked against the host before it is believed:
//
//   - No negative cache: a missing name is asked for every time.
//   - Directories are sharedDirs, which implement vfs.Revalidator: before
//     vfs reuses a cached child, Revalidate walks the name again from the
//     directory's handle (one round trip) and keeps the dentry only if the
//     same file (device, inode number, type) is there. The walk's
//     attributes become the child's. If it is not the same file, the walk's
//     result is kept for the Lookup vfs makes next (pendingWalk), so a
//     changed name costs one round trip too.
//   - Attributes are fresh for sharedAttrValidity after they came from the
//     host (a walk, a stat, a setattr, an fstat of a host fd), which covers
//     the permission checks and the stat of the same path operation; after
//     that Stat asks again. Our own writes update the cached size and mtime
//     as in the rootfs mode, but do not make them fresh.
//   - Regular files that are open or mapped are stat'ed on the host fd we
//     hold (fstat, no round trip): at Open, at mmap, at Stat of a mapped
//     file, and for the size of an O_APPEND write.
//   - The page cache of a mapped file is dropped (after writing its dirty
//     pages back) when fresh attributes show a size or mtime other than the
//     last ones seen from the host and we wrote nothing in between; reads
//     and faults then see the host's data. Pages already mapped into
//     address spaces stay as they are until unmapped (as with a private
//     mapping); a change made by another writer while we also write is not
//     noticed (last writer wins, as on NFS).
//   - Directory listings always come from the gofer (they do in both
//     modes).
//
// A cached lookup therefore costs one round trip (plus a no-reply close of
// the handle the walk opened, unless the inode had released its own), a
// failed one one round trip, and a stat of a file looked up more than
// sharedAttrValidity ago one round trip (none if it is mapped).

// Limits: a file is known by (device, inode number, type; and ctime for a
// symlink, whose target is cached), so a file the host deleted whose inode
// number is reused by a new file under the same name passes for the old
// one (the protocol has no generation number; the size and mtime check
// still drops a stale page cache, and the handle is the new file's, since
// an inode number can only be reused once nothing, our handle included,
// holds the old file). A
// directory moved away by another writer keeps working through a handle
// it holds, but one that had been released is walked to by its old name
// again (ENOENT or ESTALE). open(O_CREAT) racing another writer's create of
// the same name can fail with EEXIST. Each component of a path costs its
// own round trip: vfs revalidates one dentry at a time.

// sharedAttrValidity is how long attributes from the host are believed in
// shared mode (a variable for tests).
var sharedAttrValidity = time.Millisecond

// epoch is the origin of inode.fetched.
var epoch = time.Now()

func nanotime() int64 { return int64(time.Since(epoch)) }

// sharedDir is a directory of a shared filesystem.
type sharedDir struct {
	dirInode
}

// pendingWalk is the result of a revalidation walk that found another
// file (or none), kept for the Lookup that follows. Guarded by the vfs
// Dentry.dirMu of the directory, which vfs holds across Revalidate and the
// Lookup after it.
type pendingWalk struct {
	name  string
	files []*client.File
	stats []client.Stat
	err   error
}

// dirOf returns the dirInode of a directory inode of this package, or nil.
func dirOf(ino vfs.Inode) *dirInode {
	switch d := ino.(type) {
	case *dirInode:
		return d
	case *sharedDir:
		return &d.dirInode
	}
	return nil
}

// Revalidate implements vfs.Revalidator.
func (s *sharedDir) Revalidate(ctx vfs.Context, name string, child vfs.Inode) bool {
	d := &s.dirInode
	d.dropPending()
	c, ok := child.(fileInode)
	if !ok {
		return true
	}
	ci := c.common()
	df, err := d.fs.get(d.h)
	if err != nil {
		return false // the Lookup that follows reports it
	}
	files, stats, err := df.Walk(name)
	d.fs.put(d.h)
	if err == nil && len(files) == 1 && ci.sameFile(stats[0]) {
		if !d.fs.adopt(ci.h, files[0], d, name) {
			d.fs.client.CloseFiles(files[0])
		}
		ci.setStat(stats[0])
		return true
	}
	d.pending = &pendingWalk{name: name, files: files, stats: stats, err: err}
	return false
}

// sameFile reports whether st, just walked to, is the file of i: the same
// device, inode number and type and, for a symlink, the same ctime. A
// symlink's target is cached and never changes, so one with another ctime
// is a new symlink that got a freed inode number back (the kubelet's
// "..data" swaps on ext4 do that when our handle of the old one had been
// released, leaving nothing to pin its number), or one renamed or
// relinked since, which costs one lookup more. Other kinds are checked by
// what they cache (regular files: size and mtime, see hostChanged).
func (i *inode) sameFile(st client.Stat) bool {
	if st.Dev != i.h.dev || st.Ino != i.h.ino || st.Mode&unix.S_IFMT != i.kind {
		return false
	}
	if i.kind != unix.S_IFLNK {
		return true
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.valid && st.Ctime == i.st.Ctime
}

// takePending returns the revalidation walk of name, if there is one.
func (d *dirInode) takePending(name string) *pendingWalk {
	p := d.pending
	if p == nil {
		return nil
	}
	d.pending = nil
	if p.name != name {
		d.fs.client.CloseFiles(p.files...)
		return nil
	}
	return p
}

func (d *dirInode) dropPending() {
	if p := d.pending; p != nil {
		d.pending = nil
		d.fs.client.CloseFiles(p.files...)
	}
}

// freshLocked reports whether the cached attributes may be used (inode.mu held).
func (i *inode) freshLocked() bool {
	if !i.valid {
		return false
	}
	return !i.fs.opts.Shared || nanotime()-i.fetched < int64(sharedAttrValidity)
}

// hostStat converts fstat(2) of a host fd as the gofer does.
func hostStat(fd int) (client.Stat, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return client.Stat{}, toErrno(err)
	}
	return client.Stat{
		Mode:    st.Mode,
		Nlink:   uint64(st.Nlink),
		UID:     st.Uid,
		GID:     st.Gid,
		Rdev:    st.Rdev,
		Size:    st.Size,
		Blksize: int64(st.Blksize),
		Blocks:  st.Blocks,
		Atime:   st.Atim.Nano(),
		Mtime:   st.Mtim.Nano(),
		Ctime:   st.Ctim.Nano(),
		Ino:     st.Ino,
		Dev:     st.Dev,
	}, nil
}

// refreshFromFD takes fresh attributes from a host fd of the file (shared
// mode only; errors leave the cache as it is).
func (r *regInode) refreshFromFD(fd int) (client.Stat, bool) {
	st, err := hostStat(fd)
	if err != nil || st.Dev != r.h.dev || st.Ino != r.h.ino {
		return client.Stat{}, false
	}
	r.setStat(st)
	return st, true
}

// backing returns the fd of the page cache, or -1.
func (r *regInode) backing() int {
	r.sh.mu.Lock()
	defer r.sh.mu.Unlock()
	return r.sh.backingFD
}

// hostChanged is called with attributes just fetched from the host (shared
// mode): if the file's size or mtime is not what we saw last and we wrote
// nothing since, someone else changed it, and the page cache goes.
func (sh *regShared) hostChanged(st client.Stat) {
	sh.mu.Lock()
	changed := sh.seen && (st.Size != sh.seenSize || st.Mtime != sh.seenMtime)
	sh.seen, sh.seenSize, sh.seenMtime = true, st.Size, st.Mtime
	c := sh.cache
	sh.mu.Unlock()
	wrote := sh.wrote.Swap(false)
	if !changed || wrote || c == nil {
		return
	}
	sh.invalidations.Add(1)
	c.Truncate(uint64(st.Size)) // pages past the new end go unwritten
	c.Drop()
}
