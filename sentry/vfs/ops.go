package vfs

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
)

// OpenOptions tune OpenAt.
type OpenOptions struct {
	// Flags are open(2)'s flags.
	Flags uint32
	// Mode is the permission bits of a file O_CREAT makes, with the
	// caller's umask already applied.
	Mode uint32
	// MayExec requires execute permission on a regular file on a mount
	// without noexec (execve, the ELF interpreter).
	MayExec bool
}

// OpenAt opens (and with O_CREAT maybe creates) the file pop names. The
// result has one reference, owned by the caller. A FIFO opened without
// O_NONBLOCK may need to wait: see OpenWaiter.
func (v *VirtualFilesystem) OpenAt(ctx Context, pop *PathOperation, opts OpenOptions) (*FileDescription, error) {
	flags := opts.Flags
	if flags&unix.O_PATH != 0 {
		flags &= linux.ValidOPathFlags
	}
	if flags&linux.O_TMPFILE == linux.O_TMPFILE {
		return nil, unix.EOPNOTSUPP
	}
	if flags&(unix.O_CREAT|unix.O_DIRECTORY) == unix.O_CREAT|unix.O_DIRECTORY {
		return nil, unix.EINVAL
	}
	v.renameMu.RLock()
	defer v.endRead()
	r := v.newResolver(ctx, pop)
	var (
		vd      VirtualDentry
		created bool
		err     error
	)
	if flags&unix.O_CREAT != 0 && flags&unix.O_PATH == 0 {
		vd, created, err = r.openCreate(pop, flags, opts.Mode)
	} else {
		p := *pop
		p.FollowFinalSymlink = flags&unix.O_NOFOLLOW == 0
		vd, err = r.resolve(&p)
	}
	if err != nil {
		return nil, err
	}
	return v.openVD(ctx, vd, flags, opts.MayExec, created)
}

// openCreate resolves an O_CREAT open, creating the file if absent.
func (r *resolver) openCreate(pop *PathOperation, flags, mode uint32) (VirtualDentry, bool, error) {
	parent, name, trailing, err := r.resolveParent(pop)
	if err != nil {
		return VirtualDentry{}, false, err
	}
	for {
		if name == "" || name == "." || name == ".." {
			return VirtualDentry{}, false, unix.EISDIR
		}
		d := parent.Dentry
		d.dirMu.Lock()
		child, err := r.v.lookupChildLocked(r.ctx, d, name)
		if err == unix.ENOENT {
			defer d.dirMu.Unlock()
			if trailing {
				return VirtualDentry{}, false, unix.EISDIR
			}
			if parent.Mount.ReadOnly() {
				return VirtualDentry{}, false, unix.EROFS
			}
			dirSt, err := r.stat(parent)
			if err != nil {
				return VirtualDentry{}, false, err
			}
			if err := mayCreate(r.creds, &dirSt); err != nil {
				return VirtualDentry{}, false, err
			}
			dir, ok := d.inode.(DirInode)
			if !ok {
				return VirtualDentry{}, false, unix.ENOTDIR
			}
			uid, gid, m := newOwner(r.creds, &dirSt, linux.S_IFREG|mode&0o7777)
			ino, err := dir.Create(r.ctx, name, CreateOptions{Mode: m, UID: uid, GID: gid})
			if err != nil {
				return VirtualDentry{}, false, err
			}
			c := newDentry(d.fs, ino, d, name)
			d.insertChildLocked(c)
			return VirtualDentry{parent.Mount, c}, true, nil
		}
		d.dirMu.Unlock()
		if err != nil {
			return VirtualDentry{}, false, err
		}
		if flags&unix.O_EXCL != 0 {
			return VirtualDentry{}, false, unix.EEXIST
		}
		vd := r.v.crossDown(VirtualDentry{parent.Mount, child})
		st, err := r.stat(vd)
		if err != nil {
			return VirtualDentry{}, false, err
		}
		if fileType(&st) != linux.S_IFLNK {
			if trailing && fileType(&st) != linux.S_IFDIR {
				return VirtualDentry{}, false, unix.ENOTDIR
			}
			return vd, false, nil
		}
		if flags&unix.O_NOFOLLOW != 0 {
			return VirtualDentry{}, false, unix.ELOOP
		}
		// Follow the symlink; a dangling one creates its target.
		r.links++
		if r.links > MaxSymlinks {
			return VirtualDentry{}, false, unix.ELOOP
		}
		if j, ok := vd.Dentry.inode.(Jumper); ok {
			target, err := j.Jump(r.ctx)
			if err != nil {
				return VirtualDentry{}, false, err
			}
			target.DecRef()
			return target, false, nil
		}
		sl, ok := vd.Dentry.inode.(SymlinkInode)
		if !ok {
			return VirtualDentry{}, false, unix.EINVAL
		}
		target, err := sl.Readlink(r.ctx)
		if err != nil {
			return VirtualDentry{}, false, err
		}
		if target == "" {
			return VirtualDentry{}, false, unix.ENOENT
		}
		parent, name, trailing, err = r.walkParent(parent, target)
		if err != nil {
			return VirtualDentry{}, false, err
		}
	}
}

// openVD opens the existing file vd. renameMu is held for reading.
func (v *VirtualFilesystem) openVD(ctx Context, vd VirtualDentry, flags uint32, mayExec, created bool) (*FileDescription, error) {
	st, err := vd.Dentry.inode.Stat(ctx)
	if err != nil {
		return nil, err
	}
	ft := fileType(&st)
	if flags&unix.O_DIRECTORY != 0 && ft != linux.S_IFDIR {
		return nil, unix.ENOTDIR
	}
	if flags&unix.O_PATH != 0 {
		return v.NewFileDescription(pathFile{}, vd, flags), nil
	}
	creds := ctx.Credentials()
	acc := flags & unix.O_ACCMODE
	access := 0
	switch acc {
	case unix.O_RDONLY:
		access = auth.MayRead
	case unix.O_WRONLY:
		access = auth.MayWrite
	default:
		access = auth.MayRead | auth.MayWrite
	}
	if flags&unix.O_TRUNC != 0 {
		access |= auth.MayWrite
	}
	switch ft {
	case linux.S_IFLNK:
		return nil, unix.ELOOP
	case linux.S_IFDIR:
		if access&auth.MayWrite != 0 || flags&unix.O_CREAT != 0 {
			return nil, unix.EISDIR
		}
	case linux.S_IFSOCK:
		return nil, unix.ENXIO
	case linux.S_IFCHR, linux.S_IFBLK:
		if vd.Mount.Flags().NoDev {
			return nil, unix.EACCES
		}
	}
	if mayExec {
		if ft != linux.S_IFREG || vd.Mount.Flags().NoExec {
			return nil, unix.EACCES
		}
		access |= auth.MayExec
	}
	if !created {
		if err := mayAccess(creds, &st, access); err != nil {
			return nil, err
		}
	}
	if access&auth.MayWrite != 0 && vd.Mount.ReadOnly() && (ft == linux.S_IFREG || ft == linux.S_IFDIR) {
		return nil, unix.EROFS
	}
	if flags&unix.O_NOATIME != 0 {
		if err := mayOwn(creds, &st); err != nil {
			return nil, err
		}
	}
	if flags&unix.O_TRUNC != 0 && ft == linux.S_IFREG && !created {
		if err := vd.Dentry.inode.SetStat(ctx, &SetStatOptions{Mask: linux.STATX_SIZE}); err != nil {
			return nil, err
		}
	}
	var impl FileImpl
	switch {
	case ft == linux.S_IFCHR || ft == linux.S_IFBLK:
		open := v.device(ft == linux.S_IFBLK, st.RdevMajor, st.RdevMinor)
		if open == nil {
			return nil, unix.ENXIO
		}
		impl, err = open(ctx, vd, flags)
	default:
		if o, ok := vd.Dentry.inode.(Opener); ok {
			impl, err = o.Open(ctx, vd, flags)
		} else if ft == linux.S_IFDIR {
			impl = newDirFile(vd)
		} else {
			err = unix.ENXIO
		}
	}
	if err != nil {
		return nil, err
	}
	return v.NewFileDescription(impl, vd, flags), nil
}

// pathFile is the implementation of an O_PATH file: nothing works.
type pathFile struct{ FileDefaults }

func (pathFile) Read(ctx Context, dst [][]byte, off int64) (int64, error) { return 0, unix.EBADF }
func (pathFile) Write(ctx Context, src [][]byte, off int64, a bool) (int64, int64, error) {
	return 0, off, unix.EBADF
}

// lockedParent resolves pop to its parent directory and last component for
// a create or remove, locks the directory, and returns an unlock function.
type parentOp struct {
	r        *resolver
	parent   VirtualDentry
	dir      DirInode
	dirSt    linux.Statx
	name     string
	trailing bool
}

func (v *VirtualFilesystem) beginParentOp(ctx Context, pop *PathOperation) (*parentOp, error) {
	r := v.newResolver(ctx, pop)
	parent, name, trailing, err := r.resolveParent(pop)
	if err != nil {
		return nil, err
	}
	st, err := r.stat(parent)
	if err != nil {
		return nil, err
	}
	dir, ok := parent.Dentry.inode.(DirInode)
	if !ok {
		return nil, unix.ENOTDIR
	}
	return &parentOp{r: r, parent: parent, dir: dir, dirSt: st, name: name, trailing: trailing}, nil
}

// create makes a new entry with mode (type and permissions) after the
// common checks. The parent's dirMu is taken here.
func (v *VirtualFilesystem) create(ctx Context, pop *PathOperation, opts CreateOptions) error {
	return v.createHook(ctx, pop, opts, nil)
}

// createHook is create with a function run on the new inode while the
// directory is still locked.
func (v *VirtualFilesystem) createHook(ctx Context, pop *PathOperation, opts CreateOptions, hook func(Inode) error) error {
	v.renameMu.RLock()
	defer v.endRead()
	p, err := v.beginParentOp(ctx, pop)
	if err != nil {
		return err
	}
	if p.name == "" || p.name == "." || p.name == ".." {
		return unix.EEXIST
	}
	d := p.parent.Dentry
	d.dirMu.Lock()
	defer d.dirMu.Unlock()
	if _, err := v.lookupChildLocked(ctx, d, p.name); err == nil {
		return unix.EEXIST
	} else if err != unix.ENOENT {
		return err
	}
	if p.trailing && opts.Mode&linux.S_IFMT != linux.S_IFDIR {
		return unix.ENOENT
	}
	if p.parent.Mount.ReadOnly() {
		return unix.EROFS
	}
	if err := mayCreate(p.r.creds, &p.dirSt); err != nil {
		return err
	}
	opts.UID, opts.GID, opts.Mode = newOwner(p.r.creds, &p.dirSt, opts.Mode)
	ino, err := p.dir.Create(ctx, p.name, opts)
	if err != nil {
		return err
	}
	d.insertChildLocked(newDentry(d.fs, ino, d, p.name))
	if hook != nil {
		return hook(ino)
	}
	return nil
}

// BindAt creates the unix-socket file pop names (bind(2) of a path) with
// permission bits mode (umask applied) and stores ep in it. An existing
// file gives EADDRINUSE.
func (v *VirtualFilesystem) BindAt(ctx Context, pop *PathOperation, mode uint32, ep any) error {
	err := v.createHook(ctx, pop, CreateOptions{Mode: linux.S_IFSOCK | mode&0o7777}, func(ino Inode) error {
		si, ok := ino.(SocketInode)
		if !ok {
			return unix.EOPNOTSUPP
		}
		si.SetBoundEndpoint(ep)
		return nil
	})
	if err == unix.EEXIST {
		return unix.EADDRINUSE
	}
	return err
}

// BoundEndpointAt returns the endpoint bound at the socket file pop names
// (connect(2) to a path): ECONNREFUSED if it is not a socket or nothing is
// bound, EACCES without write permission on it.
func (v *VirtualFilesystem) BoundEndpointAt(ctx Context, pop *PathOperation) (any, error) {
	v.renameMu.RLock()
	defer v.endRead()
	r := v.newResolver(ctx, pop)
	vd, err := r.resolve(pop)
	if err != nil {
		return nil, err
	}
	st, err := vd.Dentry.inode.Stat(ctx)
	if err != nil {
		return nil, err
	}
	if err := mayAccess(r.creds, &st, auth.MayWrite); err != nil {
		return nil, err
	}
	si, ok := vd.Dentry.inode.(SocketInode)
	if !ok || fileType(&st) != linux.S_IFSOCK {
		return nil, unix.ECONNREFUSED
	}
	ep := si.BoundEndpoint()
	if ep == nil {
		return nil, unix.ECONNREFUSED
	}
	return ep, nil
}

// MkdirAt implements mkdir(2); mode has the umask applied.
func (v *VirtualFilesystem) MkdirAt(ctx Context, pop *PathOperation, mode uint32) error {
	return v.create(ctx, pop, CreateOptions{Mode: linux.S_IFDIR | mode&0o1777})
}

// MknodAt implements mknod(2) (regular files, FIFOs, sockets, devices);
// mode has the umask applied. Devices need CAP_MKNOD.
func (v *VirtualFilesystem) MknodAt(ctx Context, pop *PathOperation, mode uint32, major, minor uint32) error {
	switch mode & linux.S_IFMT {
	case 0:
		mode |= linux.S_IFREG
	case linux.S_IFREG, linux.S_IFIFO, linux.S_IFSOCK:
	case linux.S_IFCHR, linux.S_IFBLK:
		if !ctx.Credentials().HasCapability(auth.CapMknod) {
			return unix.EPERM
		}
	case linux.S_IFDIR:
		return unix.EPERM
	default:
		return unix.EINVAL
	}
	return v.create(ctx, pop, CreateOptions{Mode: mode & (linux.S_IFMT | 0o7777), DevMajor: major, DevMinor: minor})
}

// SymlinkAt implements symlink(2).
func (v *VirtualFilesystem) SymlinkAt(ctx Context, pop *PathOperation, target string) error {
	if target == "" {
		return unix.ENOENT
	}
	if len(target) >= PathMax {
		return unix.ENAMETOOLONG
	}
	return v.create(ctx, pop, CreateOptions{Mode: linux.S_IFLNK | 0o777, Target: target})
}

// LinkAt implements link(2): oldpop names the existing file (its
// FollowFinalSymlink is AT_SYMLINK_FOLLOW).
func (v *VirtualFilesystem) LinkAt(ctx Context, oldpop, newpop *PathOperation) error {
	v.renameMu.RLock()
	defer v.endRead()
	r := v.newResolver(ctx, oldpop)
	old, err := r.resolve(oldpop)
	if err != nil {
		return err
	}
	oldSt, err := old.Dentry.inode.Stat(ctx)
	if err != nil {
		return err
	}
	p, err := v.beginParentOp(ctx, newpop)
	if err != nil {
		return err
	}
	if p.name == "" || p.name == "." || p.name == ".." {
		return unix.EEXIST
	}
	if fileType(&oldSt) == linux.S_IFDIR {
		return unix.EPERM
	}
	if old.Mount != p.parent.Mount {
		return unix.EXDEV
	}
	d := p.parent.Dentry
	d.dirMu.Lock()
	defer d.dirMu.Unlock()
	if _, err := v.lookupChildLocked(ctx, d, p.name); err == nil {
		return unix.EEXIST
	} else if err != unix.ENOENT {
		return err
	}
	if p.trailing {
		return unix.ENOENT
	}
	if p.parent.Mount.ReadOnly() {
		return unix.EROFS
	}
	if err := mayCreate(p.r.creds, &p.dirSt); err != nil {
		return err
	}
	if oldSt.Nlink == 0 {
		return unix.ENOENT
	}
	if err := p.dir.Link(ctx, p.name, old.Dentry.inode); err != nil {
		return err
	}
	d.insertChildLocked(newDentry(d.fs, old.Dentry.inode, d, p.name))
	return nil
}

// UnlinkAt implements unlink(2).
func (v *VirtualFilesystem) UnlinkAt(ctx Context, pop *PathOperation) error {
	return v.remove(ctx, pop, false)
}

// RmdirAt implements rmdir(2).
func (v *VirtualFilesystem) RmdirAt(ctx Context, pop *PathOperation) error {
	return v.remove(ctx, pop, true)
}

func (v *VirtualFilesystem) remove(ctx Context, pop *PathOperation, isRmdir bool) error {
	v.renameMu.RLock()
	defer v.endRead()
	p, err := v.beginParentOp(ctx, pop)
	if err != nil {
		return err
	}
	switch {
	case !isRmdir && (p.name == "" || p.name == "." || p.name == ".."):
		return unix.EISDIR
	case p.name == "":
		return unix.EBUSY
	case p.name == ".":
		return unix.EINVAL
	case p.name == "..":
		return unix.ENOTEMPTY
	}
	if p.parent.Mount.ReadOnly() {
		return unix.EROFS
	}
	d := p.parent.Dentry
	d.dirMu.Lock()
	defer d.dirMu.Unlock()
	child, err := v.lookupChildLocked(ctx, d, p.name)
	if err != nil {
		return err
	}
	cst, err := child.inode.Stat(ctx)
	if err != nil {
		return err
	}
	isDir := fileType(&cst) == linux.S_IFDIR
	if isRmdir && !isDir {
		return unix.ENOTDIR
	}
	if !isRmdir && isDir {
		return unix.EISDIR
	}
	if !isRmdir && p.trailing {
		return unix.ENOTDIR
	}
	if err := mayDelete(p.r.creds, &p.dirSt, &cst); err != nil {
		return err
	}
	if child.isMountPoint() || (isDir && child == p.r.root.Dentry) {
		return unix.EBUSY
	}
	if isRmdir {
		child.dirMu.Lock()
		err = p.dir.Rmdir(ctx, p.name, child.inode)
		if err == nil {
			child.dead.Store(true)
			child.children = nil
		}
		child.dirMu.Unlock()
	} else {
		err = p.dir.Unlink(ctx, p.name, child.inode)
		if err == nil {
			child.dead.Store(true)
		}
	}
	if err != nil {
		return err
	}
	d.removeChildLocked(p.name)
	return nil
}

// ReadlinkAt implements readlink(2) (pop's final symlink is not followed).
func (v *VirtualFilesystem) ReadlinkAt(ctx Context, pop *PathOperation) (string, error) {
	v.renameMu.RLock()
	defer v.endRead()
	p := *pop
	p.FollowFinalSymlink = false
	r := v.newResolver(ctx, &p)
	vd, err := r.resolve(&p)
	if err != nil {
		return "", err
	}
	sl, ok := vd.Dentry.inode.(SymlinkInode)
	if !ok {
		return "", unix.EINVAL
	}
	st, err := sl.Stat(ctx)
	if err != nil {
		return "", err
	}
	if fileType(&st) != linux.S_IFLNK {
		return "", unix.EINVAL
	}
	return sl.Readlink(ctx)
}

// StatAt implements stat(2)/lstat(2)/statx(2).
func (v *VirtualFilesystem) StatAt(ctx Context, pop *PathOperation) (linux.Statx, error) {
	v.renameMu.RLock()
	defer v.endRead()
	r := v.newResolver(ctx, pop)
	vd, err := r.resolve(pop)
	if err != nil {
		return linux.Statx{}, err
	}
	return statVD(ctx, vd)
}

// SetStatAt implements chmod, chown, truncate and utimensat by path.
// Timestamps may carry UTIME_NOW or UTIME_OMIT in Nsec.
func (v *VirtualFilesystem) SetStatAt(ctx Context, pop *PathOperation, opts *SetStatOptions) error {
	v.renameMu.RLock()
	defer v.endRead()
	r := v.newResolver(ctx, pop)
	vd, err := r.resolve(pop)
	if err != nil {
		return err
	}
	return v.setStat(ctx, vd, opts, true)
}

// AccessAt implements access(2)/faccessat(2): mode is F_OK or a set of
// R_OK/W_OK/X_OK. The caller passes a ctx whose credentials are the ones to
// check with (the real ids unless AT_EACCESS).
func (v *VirtualFilesystem) AccessAt(ctx Context, pop *PathOperation, mode uint32) error {
	if mode&^7 != 0 {
		return unix.EINVAL
	}
	v.renameMu.RLock()
	defer v.endRead()
	r := v.newResolver(ctx, pop)
	vd, err := r.resolve(pop)
	if err != nil {
		return err
	}
	if mode == 0 {
		return nil
	}
	st, err := vd.Dentry.inode.Stat(ctx)
	if err != nil {
		return err
	}
	ft := fileType(&st)
	if mode&unix.W_OK != 0 && vd.Mount.ReadOnly() && (ft == linux.S_IFREG || ft == linux.S_IFDIR || ft == linux.S_IFLNK) {
		return unix.EROFS
	}
	if mode&unix.X_OK != 0 && ft == linux.S_IFREG && vd.Mount.Flags().NoExec {
		return unix.EACCES
	}
	return mayAccess(r.creds, &st, int(mode))
}

// Statfs returns statfs(2) for the filesystem of vd.
func (v *VirtualFilesystem) Statfs(ctx Context, vd VirtualDentry) (linux.Statfs, error) {
	s, err := vd.Dentry.fs.impl.Statfs(ctx)
	if err != nil {
		return linux.Statfs{}, err
	}
	out := linux.Statfs{
		Type: s.Type, BlockSize: s.BlockSize, Blocks: s.Blocks, BlocksFree: s.BlocksFree,
		BlocksAvailable: s.BlocksAvailable, Files: s.Files, FilesFree: s.FilesFree,
		NameLength: s.NameLength, FragmentSize: s.BlockSize,
	}
	out.FSID[1] = int32(vd.Dentry.fs.dev)
	f := vd.Mount.Flags()
	var flags uint64 = unix.ST_RELATIME
	if f.ReadOnly {
		flags |= unix.ST_RDONLY
	}
	if f.NoSuid {
		flags |= unix.ST_NOSUID
	}
	if f.NoDev {
		flags |= unix.ST_NODEV
	}
	if f.NoExec {
		flags |= unix.ST_NOEXEC
	}
	if f.NoAtime {
		flags = flags&^unix.ST_RELATIME | unix.ST_NOATIME
	}
	if f.StrictAtime {
		flags &^= unix.ST_RELATIME
	}
	if f.NoDirAtime {
		flags |= unix.ST_NODIRATIME
	}
	out.Flags = flags
	return out, nil
}

// StatfsAt implements statfs(2) by path.
func (v *VirtualFilesystem) StatfsAt(ctx Context, pop *PathOperation) (linux.Statfs, error) {
	vd, err := v.GetDentryAt(ctx, pop, GetDentryOptions{})
	if err != nil {
		return linux.Statfs{}, err
	}
	defer vd.DecRef()
	return v.Statfs(ctx, vd)
}
