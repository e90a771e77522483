package gofer

import (
	"strings"

	"github.com/runsc-cri/runsc-cri/gofer/proto"
	"golang.org/x/sys/unix"
)

var ops = map[proto.Op]opEntry{
	proto.OpAttach:   {func() proto.Message { return new(proto.AttachReq) }, (*server).attach},
	proto.OpWalk:     {func() proto.Message { return new(proto.WalkReq) }, (*server).walk},
	proto.OpStat:     {func() proto.Message { return new(proto.HandleReq) }, (*server).stat},
	proto.OpOpen:     {func() proto.Message { return new(proto.OpenReq) }, (*server).open},
	proto.OpWalkOpen: {func() proto.Message { return new(proto.WalkOpenReq) }, (*server).walkOpen},
	proto.OpCreate:   {func() proto.Message { return new(proto.CreateReq) }, (*server).create},
	proto.OpMkdir:    {func() proto.Message { return new(proto.MakeReq) }, (*server).mkdir},
	proto.OpMknod:    {func() proto.Message { return new(proto.MakeReq) }, (*server).mknod},
	proto.OpBind:     {func() proto.Message { return new(proto.MakeReq) }, (*server).bind},
	proto.OpSymlink:  {func() proto.Message { return new(proto.SymlinkReq) }, (*server).symlink},
	proto.OpLink:     {func() proto.Message { return new(proto.LinkReq) }, (*server).link},
	proto.OpUnlink:   {func() proto.Message { return new(proto.UnlinkReq) }, (*server).unlink},
	proto.OpRename:   {func() proto.Message { return new(proto.RenameReq) }, (*server).rename},
	proto.OpReadlink: {func() proto.Message { return new(proto.HandleReq) }, (*server).readlink},
	proto.OpGetdents: {func() proto.Message { return new(proto.GetdentsReq) }, (*server).getdents},
	proto.OpSetattr:  {func() proto.Message { return new(proto.SetattrReq) }, (*server).setattr},
	proto.OpStatfs:   {func() proto.Message { return new(proto.HandleReq) }, (*server).statfs},
	proto.OpClose:    {func() proto.Message { return new(proto.CloseReq) }, (*server).close},
}

func (s *server) attach(m proto.Message, e *proto.Encoder) (int, error) {
	req := m.(*proto.AttachReq)
	path := strings.Trim(req.Path, "/")
	var fd int
	var err error
	if path == "" {
		fd, err = openat2(s.rootFD, ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	} else {
		for _, c := range strings.Split(path, "/") {
			if c == "" {
				continue // "a//b"
			}
			if err := proto.CheckName(c); err != nil {
				return -1, err
			}
		}
		fd, err = openat2(s.rootFD, path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return -1, err
	}
	n, pn, err := s.add(fd)
	if err != nil {
		return -1, err
	}
	defer s.put(n)
	if n.kind == unix.S_IFLNK {
		s.remove(pn.Handle)
		return -1, unix.ELOOP
	}
	pn.Encode(e)
	return -1, nil
}

func (s *server) walk(m proto.Message, e *proto.Encoder) (int, error) {
	req := m.(*proto.WalkReq)
	dir, err := s.get(req.Dir)
	if err != nil {
		return -1, err
	}
	var rep proto.WalkReply
	cur := dir
	for _, name := range req.Names {
		fd, err := lookup(cur.fd, name, 0)
		if err == nil {
			var n *node
			var pn proto.Node
			n, pn, err = s.add(fd)
			if err == nil {
				s.put(cur)
				cur = n
				rep.Nodes = append(rep.Nodes, pn)
			}
		}
		if err != nil {
			rep.Errno = uint32(proto.Errno(err))
			break
		}
	}
	s.put(cur)
	rep.Encode(e)
	return -1, nil
}

func (s *server) stat(m proto.Message, e *proto.Encoder) (int, error) {
	n, err := s.get(m.(*proto.HandleReq).Handle)
	if err != nil {
		return -1, err
	}
	defer s.put(n)
	var st unix.Stat_t
	if err := unix.Fstat(n.fd, &st); err != nil {
		return -1, err
	}
	ps := toStat(&st)
	ps.Encode(e)
	return -1, nil
}

// openFlags are the open(2) flags a client may ask for; others are ignored
// (O_CREAT/O_EXCL are Create's business, O_PATH/O_NOFOLLOW/O_CLOEXEC are
// always chosen by the gofer).
const openFlags = unix.O_ACCMODE | unix.O_APPEND | unix.O_TRUNC | unix.O_NONBLOCK |
	unix.O_DSYNC | unix.O_SYNC | unix.O_DIRECT | unix.O_NOATIME | unix.O_LARGEFILE | unix.O_DIRECTORY

// openNode opens the file of n for I/O. Regular files are reopened through
// /proc/self/fd (never for a symlink: the type is checked first),
// directories with openat(".") read-only. Other types cannot be opened
// through the gofer: symlinks give ELOOP, sockets ENXIO, FIFOs and devices
// EPERM (the sentry implements named pipes itself).
func (s *server) openNode(n *node, flags uint32) (int, error) {
	flags &= openFlags
	acc := flags & unix.O_ACCMODE
	if acc == unix.O_ACCMODE {
		return -1, unix.EINVAL
	}
	writes := acc != unix.O_RDONLY || flags&unix.O_TRUNC != 0
	switch n.kind {
	case unix.S_IFREG:
		if flags&unix.O_DIRECTORY != 0 {
			return -1, unix.ENOTDIR
		}
		if writes && s.ro {
			return -1, unix.EROFS
		}
		return unix.Openat(s.procFD, procName(n.fd), int(flags)|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	case unix.S_IFDIR:
		if writes {
			return -1, unix.EISDIR
		}
		return unix.Openat(n.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC|int(flags&unix.O_NOATIME), 0)
	case unix.S_IFLNK:
		return -1, unix.ELOOP
	case unix.S_IFSOCK:
		return -1, unix.ENXIO
	default:
		if flags&unix.O_DIRECTORY != 0 {
			return -1, unix.ENOTDIR
		}
		return -1, unix.EPERM
	}
}

func (s *server) open(m proto.Message, e *proto.Encoder) (int, error) {
	req := m.(*proto.OpenReq)
	n, err := s.get(req.Handle)
	if err != nil {
		return -1, err
	}
	defer s.put(n)
	return s.openNode(n, req.Flags)
}

func (s *server) walkOpen(m proto.Message, e *proto.Encoder) (int, error) {
	req := m.(*proto.WalkOpenReq)
	dir, err := s.get(req.Dir)
	if err != nil {
		return -1, err
	}
	fd, err := lookup(dir.fd, req.Name, 0)
	s.put(dir)
	if err != nil {
		return -1, err
	}
	n, pn, err := s.add(fd)
	if err != nil {
		return -1, err
	}
	defer s.put(n)
	hostFD := -1
	if n.kind == unix.S_IFREG || n.kind == unix.S_IFDIR {
		hostFD, err = s.openNode(n, req.Flags)
		if err != nil {
			s.remove(pn.Handle)
			return -1, err
		}
	}
	pn.Encode(e)
	return hostFD, nil
}

// createFlags are the flags Create accepts besides the openFlags.
const createFlags = unix.O_ACCMODE | unix.O_APPEND | unix.O_TRUNC | unix.O_NONBLOCK |
	unix.O_DSYNC | unix.O_SYNC | unix.O_DIRECT | unix.O_NOATIME | unix.O_LARGEFILE | unix.O_EXCL

func (s *server) create(m proto.Message, e *proto.Encoder) (int, error) {
	req := m.(*proto.CreateReq)
	if err := proto.CheckName(req.Name); err != nil {
		return -1, err
	}
	dir, err := s.get(req.Dir)
	if err != nil {
		return -1, err
	}
	defer s.put(dir)
	flags := uint64(req.Flags&createFlags) | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NOCTTY
	if flags&unix.O_ACCMODE == unix.O_ACCMODE {
		return -1, unix.EINVAL
	}
	if s.ro {
		// As Linux on a read-only mount: O_CREAT may still open an
		// existing file for reading.
		if flags&(unix.O_EXCL|unix.O_TRUNC) != 0 || flags&unix.O_ACCMODE != unix.O_RDONLY {
			return -1, unix.EROFS
		}
		return s.createExisting(dir, req.Name, flags, unix.EROFS, e)
	}
	mode := uint64(req.Mode & 07777)
	// Only a file this call created may be chowned: without O_EXCL, try
	// to create exclusively first and fall back to opening the existing
	// file (retrying if it vanishes in between).
	for i := 0; ; i++ {
		fd, err := openat2(dir.fd, req.Name, flags|unix.O_CREAT|unix.O_EXCL, mode)
		if err == nil {
			if err := s.own(fd, req.UID, req.GID, req.Mode&07777); err != nil {
				unix.Close(fd)
				return -1, err
			}
			pathFD, err := unix.Openat(s.procFD, procName(fd), unix.O_PATH|unix.O_CLOEXEC, 0)
			if err != nil {
				unix.Close(fd)
				return -1, err
			}
			return s.created(pathFD, fd, e)
		}
		if err != unix.EEXIST || req.Flags&unix.O_EXCL != 0 {
			return -1, err
		}
		fd, err = s.createExisting(dir, req.Name, flags, nil, e)
		if err == unix.ENOENT && i < 10 {
			continue // removed since our O_EXCL attempt: try again
		}
		return fd, err
	}
}

// createExisting is Create's path for an existing file: it must be a
// regular file, which is opened (through its O_PATH handle, so no symlink
// can be involved) and entered as a new handle. noent, if not nil, replaces
// ENOENT.
func (s *server) createExisting(dir *node, name string, flags uint64, noent error, e *proto.Encoder) (int, error) {
	pathFD, err := lookup(dir.fd, name, 0)
	if err == unix.ENOENT && noent != nil {
		err = noent
	}
	if err != nil {
		return -1, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(pathFD, &st); err != nil {
		unix.Close(pathFD)
		return -1, err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		err = unix.EISDIR
	case unix.S_IFLNK:
		err = unix.ELOOP // the sentry resolves symlinks itself
	default:
		err = unix.EPERM
	}
	if err != nil {
		unix.Close(pathFD)
		return -1, err
	}
	fd, err := unix.Openat(s.procFD, procName(pathFD), int(flags&^unix.O_NOFOLLOW), 0)
	if err != nil {
		unix.Close(pathFD)
		return -1, err
	}
	return s.created(pathFD, fd, e)
}

// created enters pathFD as a new handle and returns fd to be donated.
func (s *server) created(pathFD, fd int, e *proto.Encoder) (int, error) {
	n, pn, err := s.add(pathFD)
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	s.put(n)
	pn.Encode(e)
	return fd, nil
}

// own gives a file just created by fd (any descriptor, O_PATH included) to
// uid:gid and then makes its permission bits exactly mode (chown clears
// set-id bits, and the umask may have cleared others).
func (s *server) own(fd int, uid, gid, mode uint32) error {
	if err := unix.Fchownat(fd, "", int(uid), int(gid), unix.AT_EMPTY_PATH); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK || st.Mode&07777 == mode {
		return nil
	}
	return unix.Fchmodat(s.procFD, procName(fd), mode, 0)
}

// made opens the file just created as name in dir, gives it to uid:gid with
// permission bits mode, and enters it as a new handle.
func (s *server) made(dir *node, name string, uid, gid, mode uint32, e *proto.Encoder) (int, error) {
	fd, err := lookup(dir.fd, name, 0)
	if err != nil {
		return -1, err
	}
	if err := s.own(fd, uid, gid, mode); err != nil {
		unix.Close(fd)
		return -1, err
	}
	n, pn, err := s.add(fd)
	if err != nil {
		return -1, err
	}
	s.put(n)
	pn.Encode(e)
	return -1, nil
}

// mutDir checks name and the read-only flag and returns the directory node
// of a mutating request.
func (s *server) mutDir(h uint64, name string) (*node, error) {
	if err := proto.CheckName(name); err != nil {
		return nil, err
	}
	if s.ro {
		return nil, unix.EROFS
	}
	return s.get(h)
}

func (s *server) mkdir(m proto.Message, e *proto.Encoder) (int, error) {
	req := m.(*proto.MakeReq)
	dir, err := s.mutDir(req.Dir, req.Name)
	if err != nil {
		return -1, err
	}
	defer s.put(dir)
	if err := unix.Mkdirat(dir.fd, req.Name, req.Mode&07777); err != nil {
		return -1, err
	}
	return s.made(dir, req.Name, req.UID, req.GID, req.Mode&07777, e)
}

func (s *server) mknod(m proto.Message, e *proto.Encoder) (int, error) {
	req := m.(*proto.MakeReq)
	switch req.Mode & unix.S_IFMT {
	case 0:
		req.Mode |= unix.S_IFREG
	case unix.S_IFREG, unix.S_IFIFO, unix.S_IFSOCK:
	case unix.S_IFCHR, unix.S_IFBLK:
		return -1, unix.EPERM // no device nodes through the gofer
	default:
		return -1, unix.EINVAL
	}
	return s.makeNode(req, e)
}

// bind creates the socket file of a unix socket bound inside the sandbox.
// The socket itself lives in the sentry; the host file only makes the name
// visible and taken. (No host listening socket is created or donated.)
func (s *server) bind(m proto.Message, e *proto.Encoder) (int, error) {
	req := m.(*proto.MakeReq)
	req.Mode = req.Mode&07777 | unix.S_IFSOCK
	return s.makeNode(req, e)
}

func (s *server) makeNode(req *proto.MakeReq, e *proto.Encoder) (int, error) {
	dir, err := s.mutDir(req.Dir, req.Name)
	if err != nil {
		return -1, err
	}
	defer s.put(dir)
	if err := unix.Mknodat(dir.fd, req.Name, req.Mode&(unix.S_IFMT|07777), 0); err != nil {
		return -1, err
	}
	return s.made(dir, req.Name, req.UID, req.GID, req.Mode&07777, e)
}

func (s *server) symlink(m proto.Message, e *proto.Encoder) (int, error) {
	req := m.(*proto.SymlinkReq)
	dir, err := s.mutDir(req.Dir, req.Name)
	if err != nil {
		return -1, err
	}
	defer s.put(dir)
	if req.Target == "" {
		return -1, unix.ENOENT
	}
	if strings.IndexByte(req.Target, 0) >= 0 {
		return -1, unix.EINVAL
	}
	if err := unix.Symlinkat(req.Target, dir.fd, req.Name); err != nil {
		return -1, err
	}
	return s.made(dir, req.Name, req.UID, req.GID, 0777, e)
}

func (s *server) link(m proto.Message, e *proto.Encoder) (int, error) {
	req := m.(*proto.LinkReq)
	dir, err := s.mutDir(req.Dir, req.Name)
	if err != nil {
		return -1, err
	}
	defer s.put(dir)
	target, err := s.get(req.Target)
	if err != nil {
		return -1, err
	}
	defer s.put(target)
	if target.kind == unix.S_IFDIR {
		return -1, unix.EPERM
	}
	err = unix.Linkat(target.fd, "", dir.fd, req.Name, unix.AT_EMPTY_PATH)
	if (err == unix.EPERM || err == unix.ENOENT) && target.kind != unix.S_IFLNK {
		// AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the magic link
		// names the same (non-symlink) inode.
		err = unix.Linkat(s.procFD, procName(target.fd), dir.fd, req.Name, unix.AT_SYMLINK_FOLLOW)
	}
	if err != nil {
		return -1, err
	}
	fd, err := lookup(dir.fd, req.Name, 0)
	if err != nil {
		return -1, err
	}
	n, pn, err := s.add(fd)
	if err != nil {
		return -1, err
	}
	s.put(n)
	pn.Encode(e)
	return -1, nil
}

func (s *server) unlink(m proto.Message, e *proto.Encoder) (int, error) {
	req := m.(*proto.UnlinkReq)
	if req.Flags&^unix.AT_REMOVEDIR != 0 {
		return -1, unix.EINVAL
	}
	dir, err := s.mutDir(req.Dir, req.Name)
	if err != nil {
		return -1, err
	}
	defer s.put(dir)
	return -1, unix.Unlinkat(dir.fd, req.Name, int(req.Flags))
}

func (s *server) rename(m proto.Message, e *proto.Encoder) (int, error) {
	req := m.(*proto.RenameReq)
	if req.Flags&^(unix.RENAME_NOREPLACE|unix.RENAME_EXCHANGE) != 0 {
		return -1, unix.EINVAL
	}
	if err := proto.CheckName(req.NewName); err != nil {
		return -1, err
	}
	oldDir, err := s.mutDir(req.OldDir, req.OldName)
	if err != nil {
		return -1, err
	}
	defer s.put(oldDir)
	newDir, err := s.get(req.NewDir)
	if err != nil {
		return -1, err
	}
	defer s.put(newDir)
	return -1, unix.Renameat2(oldDir.fd, req.OldName, newDir.fd, req.NewName, uint(req.Flags))
}

func (s *server) readlink(m proto.Message, e *proto.Encoder) (int, error) {
	n, err := s.get(m.(*proto.HandleReq).Handle)
	if err != nil {
		return -1, err
	}
	defer s.put(n)
	if n.kind != unix.S_IFLNK {
		return -1, unix.EINVAL
	}
	buf := make([]byte, proto.MaxSymlink+1)
	k, err := unix.Readlinkat(n.fd, "", buf)
	if err != nil {
		return -1, err
	}
	if k > proto.MaxSymlink {
		return -1, unix.ENAMETOOLONG
	}
	rep := proto.ReadlinkReply{Target: string(buf[:k])}
	rep.Encode(e)
	return -1, nil
}

func (s *server) statfs(m proto.Message, e *proto.Encoder) (int, error) {
	n, err := s.get(m.(*proto.HandleReq).Handle)
	if err != nil {
		return -1, err
	}
	defer s.put(n)
	var st unix.Statfs_t
	if err := unix.Fstatfs(n.fd, &st); err != nil {
		return -1, err
	}
	rep := proto.Statfs{
		Type:    uint64(st.Type),
		Bsize:   uint64(st.Bsize),
		Blocks:  st.Blocks,
		Bfree:   st.Bfree,
		Bavail:  st.Bavail,
		Files:   st.Files,
		Ffree:   st.Ffree,
		Namelen: uint64(st.Namelen),
		Frsize:  uint64(st.Frsize),
		Flags:   uint64(st.Flags),
	}
	rep.Encode(e)
	return -1, nil
}

func (s *server) close(m proto.Message, e *proto.Encoder) (int, error) {
	for _, h := range m.(*proto.CloseReq).Handles {
		s.remove(h)
	}
	return -1, nil
}
