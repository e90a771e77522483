package client

import (
	"sync/atomic"

	"github.com/runsc-cri/runsc-cri/gofer/proto"
	"golang.org/x/sys/unix"
)

// File is a handle on a file the gofer holds open (without following
// symlinks: a File may name a symlink). Its methods are safe for concurrent
// use. Close it when done; closing the Client releases all handles.
type File struct {
	c *Client
	// h is the handle; 0 once closed (the gofer answers EBADF for 0).
	h atomic.Uint64
}

func (c *Client) file(h uint64) *File {
	f := &File{c: c}
	f.h.Store(h)
	return f
}

// Handle returns the protocol handle number (0 after Close).
func (f *File) Handle() uint64 { return f.h.Load() }

// Close releases the handle. It does not wait for the gofer. Using f after
// Close gives EBADF.
func (f *File) Close() error {
	h := f.h.Swap(0)
	if h == 0 {
		return unix.EBADF
	}
	return f.c.send(proto.OpClose, &proto.CloseReq{Handles: []uint64{h}})
}

// Walk looks up names one component at a time from directory f, in one
// round trip per proto.MaxWalk names, and returns a File and Stat for each.
// It stops at the first component that cannot be walked (missing, not a
// directory to walk through, a symlink to walk through: ENOTDIR, or an invalid
// name): it then returns the Files and Stats of the components walked so far
// — which the caller must close — together with that component's error.
// Names must be single components; "." and ".." are EINVAL.
func (f *File) Walk(names ...string) ([]*File, []Stat, error) {
	var files []*File
	var stats []Stat
	dir := f.h.Load()
	for len(names) > 0 {
		n := min(len(names), proto.MaxWalk)
		var rep proto.WalkReply
		err := f.c.noFD(proto.OpWalk, &proto.WalkReq{Dir: dir, Names: names[:n]}, &rep)
		if err == nil && len(rep.Nodes) > n {
			err = unix.EIO
		}
		if err != nil {
			return files, stats, err
		}
		for i := range rep.Nodes {
			files = append(files, f.c.file(rep.Nodes[i].Handle))
			stats = append(stats, rep.Nodes[i].Stat)
		}
		if rep.Errno != 0 {
			return files, stats, unix.Errno(rep.Errno)
		}
		if len(rep.Nodes) != n {
			return files, stats, unix.EIO
		}
		dir = rep.Nodes[n-1].Handle
		names = names[n:]
	}
	return files, stats, nil
}

// Stat returns the file's attributes.
func (f *File) Stat() (Stat, error) {
	var st Stat
	err := f.c.noFD(proto.OpStat, &proto.HandleReq{Handle: f.h.Load()}, &st)
	return st, err
}

// Open opens the file for I/O and returns a host descriptor the caller owns.
// flags are open(2) flags (access mode, O_TRUNC, O_APPEND, O_NONBLOCK,
// O_DIRECT, O_SYNC, O_DSYNC, O_NOATIME, O_DIRECTORY; others are ignored).
// Regular files and directories (read-only, O_DIRECTORY) can be opened;
// symlinks give ELOOP, sockets ENXIO, FIFOs and devices EPERM.
func (f *File) Open(flags int) (int, error) {
	return f.c.callFD(proto.OpOpen, &proto.OpenReq{Handle: f.h.Load(), Flags: uint32(flags)}, &proto.Empty{})
}

// OpenAt walks to name in directory f and, if it is a regular file or a
// directory, opens it with flags, in one round trip. hostFD is -1 if the
// file is of another type (a symlink the caller must resolve, a FIFO, ...).
// On error nothing is left open.
func (f *File) OpenAt(name string, flags int) (file *File, st Stat, hostFD int, err error) {
	var rep proto.Node
	fds, err := f.c.call(proto.OpWalkOpen, &proto.WalkOpenReq{Dir: f.h.Load(), Name: name, Flags: uint32(flags)}, &rep)
	if err != nil {
		return nil, Stat{}, -1, err
	}
	file = f.c.file(rep.Handle)
	wantFD := rep.Stat.Mode&unix.S_IFMT == unix.S_IFREG || rep.Stat.Mode&unix.S_IFMT == unix.S_IFDIR
	switch {
	case len(fds) == 0 && !wantFD:
		return file, rep.Stat, -1, nil
	case len(fds) == 1 && wantFD:
		return file, rep.Stat, fds[0], nil
	}
	proto.CloseFDs(fds)
	file.Close()
	return nil, Stat{}, -1, unix.EIO
}

// Create creates regular file name in directory f and opens it with flags
// (O_CREAT is implied; with O_EXCL an existing name is EEXIST, without it
// an existing regular file is opened and left as it is). A file it creates is
// owned by uid:gid with permission bits mode&07777 exactly (no umask).
func (f *File) Create(name string, flags int, mode, uid, gid uint32) (*File, int, Stat, error) {
	var rep proto.Node
	req := &proto.CreateReq{Dir: f.h.Load(), Name: name, Flags: uint32(flags), Mode: mode, UID: uid, GID: gid}
	fd, err := f.c.callFD(proto.OpCreate, req, &rep)
	if err != nil {
		return nil, -1, Stat{}, err
	}
	return f.c.file(rep.Handle), fd, rep.Stat, nil
}

func (f *File) make(op proto.Op, name string, mode, uid, gid uint32) (*File, Stat, error) {
	var rep proto.Node
	req := &proto.MakeReq{Dir: f.h.Load(), Name: name, Mode: mode, UID: uid, GID: gid}
	if err := f.c.noFD(op, req, &rep); err != nil {
		return nil, Stat{}, err
	}
	return f.c.file(rep.Handle), rep.Stat, nil
}

// Mkdir creates directory name in f, owned by uid:gid with permission bits
// mode&07777, and returns a handle on it.
func (f *File) Mkdir(name string, mode, uid, gid uint32) (*File, Stat, error) {
	return f.make(proto.OpMkdir, name, mode, uid, gid)
}

// Mknod creates name in f; mode carries the type (S_IFIFO, S_IFREG or 0,
// S_IFSOCK) and permission bits. Device nodes are refused with EPERM.
func (f *File) Mknod(name string, mode, uid, gid uint32) (*File, Stat, error) {
	return f.make(proto.OpMknod, name, mode, uid, gid)
}

// Bind creates the socket file for a unix socket bound to name in f. The
// socket itself is the sentry's; no host socket is created.
func (f *File) Bind(name string, mode, uid, gid uint32) (*File, Stat, error) {
	return f.make(proto.OpBind, name, mode, uid, gid)
}

// Symlink creates symlink name -> target in f, owned by uid:gid.
func (f *File) Symlink(name, target string, uid, gid uint32) (*File, Stat, error) {
	var rep proto.Node
	req := &proto.SymlinkReq{Dir: f.h.Load(), Name: name, Target: target, UID: uid, GID: gid}
	if err := f.c.noFD(proto.OpSymlink, req, &rep); err != nil {
		return nil, Stat{}, err
	}
	return f.c.file(rep.Handle), rep.Stat, nil
}

// Link creates name in directory f as a hard link to target (which may be
// a symlink; a directory is EPERM).
func (f *File) Link(target *File, name string) (*File, Stat, error) {
	var rep proto.Node
	req := &proto.LinkReq{Dir: f.h.Load(), Name: name, Target: target.h.Load()}
	if err := f.c.noFD(proto.OpLink, req, &rep); err != nil {
		return nil, Stat{}, err
	}
	return f.c.file(rep.Handle), rep.Stat, nil
}

// Unlink removes name from f; flags is 0 or unix.AT_REMOVEDIR.
func (f *File) Unlink(name string, flags int) error {
	return f.c.noFD(proto.OpUnlink, &proto.UnlinkReq{Dir: f.h.Load(), Name: name, Flags: uint32(flags)}, &proto.Empty{})
}

// Rename is renameat2(f, oldName, newDir, newName, flags) with flags 0,
// unix.RENAME_NOREPLACE or unix.RENAME_EXCHANGE.
func (f *File) Rename(newDir *File, oldName, newName string, flags uint32) error {
	req := &proto.RenameReq{OldDir: f.h.Load(), OldName: oldName, NewDir: newDir.h.Load(), NewName: newName, Flags: flags}
	return f.c.noFD(proto.OpRename, req, &proto.Empty{})
}

// Readlink returns the target of symlink f (EINVAL if f is not a symlink).
func (f *File) Readlink() (string, error) {
	var rep proto.ReadlinkReply
	err := f.c.noFD(proto.OpReadlink, &proto.HandleReq{Handle: f.h.Load()}, &rep)
	return rep.Target, err
}

// Getdents returns the entries of directory f that follow cookie (0 for the
// first page; then the Next of the last entry returned). An empty result
// means the end. "." and ".." are not included.
func (f *File) Getdents(cookie uint64) ([]Dirent, error) {
	var rep proto.GetdentsReply
	err := f.c.noFD(proto.OpGetdents, &proto.GetdentsReq{Dir: f.h.Load(), Cookie: cookie}, &rep)
	return rep.Entries, err
}

// Setattr changes the attributes selected by req.Mask (in the order
// uid/gid, mode, size, times) and returns the attributes after the change.
// A size change on a directory is EISDIR, on other non-regular files EINVAL;
// a mode change on a symlink is EOPNOTSUPP. An atime or mtime not selected
// is left alone.
func (f *File) Setattr(req SetattrRequest) (Stat, error) {
	var st Stat
	preq := &proto.SetattrReq{
		Handle: f.h.Load(), Mask: req.Mask, Mode: req.Mode, UID: req.UID, GID: req.GID,
		Size: req.Size, Atime: req.Atime, Mtime: req.Mtime,
	}
	err := f.c.noFD(proto.OpSetattr, preq, &st)
	return st, err
}

// Statfs returns statfs(2) of the host filesystem holding f.
func (f *File) Statfs() (Statfs, error) {
	var st Statfs
	err := f.c.noFD(proto.OpStatfs, &proto.HandleReq{Handle: f.h.Load()}, &st)
	return st, err
}
