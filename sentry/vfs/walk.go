package vfs

import (
	"strings"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
)

// PathOperation says where a path-based operation starts and how its last
// component is treated. The syscall layer builds it from the task's
// FSContext and the dirfd (see FSContext.PathOp).
type PathOperation struct {
	// Root is the caller's root directory: absolute paths start there and
	// ".." never climbs above it.
	Root VirtualDentry
	// Start is where a relative path starts: the cwd, or the directory of
	// a dirfd. With AT_EMPTY_PATH and an empty Path, Start itself (any file
	// type) is the result.
	Start VirtualDentry
	Path  string
	// FollowFinalSymlink makes a symlink in the last component be
	// followed. A trailing slash always follows.
	FollowFinalSymlink bool
	// EmptyPathOK is AT_EMPTY_PATH: an empty Path names Start.
	EmptyPathOK bool

	// ns is the caller's mount namespace (set by FSContext.PathOp): mount
	// operations change only its mounts. nil (boot's own operations):
	// any mount.
	ns *MountNamespace
}

// resolver holds the state of one path resolution.
type resolver struct {
	v     *VirtualFilesystem
	ctx   Context
	creds *auth.Credentials
	root  VirtualDentry
	links int
}

func (v *VirtualFilesystem) newResolver(ctx Context, pop *PathOperation) *resolver {
	root := pop.Root
	if !root.Ok() {
		v.mountMu.RLock()
		if v.root != nil {
			root = VirtualDentry{v.root, v.root.root}
		}
		v.mountMu.RUnlock()
	}
	return &resolver{v: v, ctx: ctx, creds: ctx.Credentials(), root: root}
}

// splitPath splits p into its non-empty components and reports whether it
// ends with a slash (after at least one component).
func splitPath(p string) ([]string, bool, error) {
	if len(p) >= PathMax {
		return nil, false, unix.ENAMETOOLONG
	}
	var comps []string
	for _, c := range strings.Split(p, "/") {
		if c == "" {
			continue
		}
		if len(c) > NameMax {
			return nil, false, unix.ENAMETOOLONG
		}
		comps = append(comps, c)
	}
	trailing := len(comps) > 0 && strings.HasSuffix(p, "/")
	return comps, trailing, nil
}

// stat returns the attributes of vd's inode.
func (r *resolver) stat(vd VirtualDentry) (linux.Statx, error) {
	return vd.Dentry.inode.Stat(r.ctx)
}

// mayTraverse checks that st is a directory the caller may search.
func (r *resolver) mayTraverse(st *linux.Statx) error {
	if fileType(st) != linux.S_IFDIR {
		return unix.ENOTDIR
	}
	if !r.creds.CanAccess(auth.MayExec, uint32(st.Mode)&0o7777, auth.KUID(st.UID), auth.KGID(st.GID), true) {
		return unix.EACCES
	}
	return nil
}

// crossDown follows mounts stacked on vd.
func (v *VirtualFilesystem) crossDown(vd VirtualDentry) VirtualDentry {
	for {
		m := v.mountedOn(vd.Mount, vd.Dentry)
		if m == nil {
			return vd
		}
		vd = VirtualDentry{m, m.root}
	}
}

// parentOf returns ".." of vd, stopping at the caller's root.
func (r *resolver) parentOf(vd VirtualDentry) VirtualDentry {
	for {
		if vd == r.root {
			return vd
		}
		if vd.Dentry != vd.Mount.root {
			break
		}
		if vd.Mount.parent == nil {
			return vd
		}
		vd = VirtualDentry{vd.Mount.parent, vd.Mount.point}
	}
	p := vd.Dentry.parent.Load()
	if p == nil {
		return vd
	}
	return r.v.crossDown(VirtualDentry{vd.Mount, p})
}

// lookupChild returns the dentry of name in directory d, from the cache or
// the filesystem. renameMu must be held (for reading at least).
func (v *VirtualFilesystem) lookupChild(ctx Context, d *Dentry, name string) (*Dentry, error) {
	d.dirMu.Lock()
	defer d.dirMu.Unlock()
	return v.lookupChildLocked(ctx, d, name)
}

// lookupChildLocked is lookupChild with d.dirMu held.
func (v *VirtualFilesystem) lookupChildLocked(ctx Context, d *Dentry, name string) (*Dentry, error) {
	if d.dead.Load() {
		return nil, unix.ENOENT
	}
	if c := d.children[name]; c != nil {
		rv, ok := d.inode.(Revalidator)
		if !ok || c.isMountPoint() || rv.Revalidate(ctx, name, c.inode) {
			if !c.referenced.Load() {
				c.referenced.Store(true)
			}
			return c, nil
		}
		d.removeChildLocked(name)
		c.dead.Store(true)
	}
	dir, ok := d.inode.(DirInode)
	if !ok {
		return nil, unix.ENOTDIR
	}
	ino, err := dir.Lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	c := newDentry(d.fs, ino, d, name)
	d.insertChildLocked(c)
	return c, nil
}

// step resolves one component from the directory dir.
func (r *resolver) step(dir VirtualDentry, name string) (VirtualDentry, error) {
	switch name {
	case ".":
		return dir, nil
	case "..":
		return r.parentOf(dir), nil
	}
	c, err := r.v.lookupChild(r.ctx, dir.Dentry, name)
	if err != nil {
		return VirtualDentry{}, err
	}
	return r.v.crossDown(VirtualDentry{dir.Mount, c}), nil
}

// follow resolves the symlink link found in dir.
func (r *resolver) follow(dir, link VirtualDentry) (VirtualDentry, error) {
	r.links++
	if r.links > MaxSymlinks {
		return VirtualDentry{}, unix.ELOOP
	}
	if j, ok := link.Dentry.inode.(Jumper); ok {
		vd, err := j.Jump(r.ctx)
		if err != nil {
			return VirtualDentry{}, err
		}
		vd.DecRef() // the walk holds no references; renameMu keeps it stable
		return vd, nil
	}
	sl, ok := link.Dentry.inode.(SymlinkInode)
	if !ok {
		return VirtualDentry{}, unix.EINVAL
	}
	target, err := sl.Readlink(r.ctx)
	if err != nil {
		return VirtualDentry{}, err
	}
	if target == "" {
		return VirtualDentry{}, unix.ENOENT
	}
	return r.walk(dir, target, true)
}

// walk resolves path from start to an existing file.
func (r *resolver) walk(start VirtualDentry, path string, followFinal bool) (VirtualDentry, error) {
	if path == "" {
		return VirtualDentry{}, unix.ENOENT
	}
	comps, trailing, err := splitPath(path)
	if err != nil {
		return VirtualDentry{}, err
	}
	cur := start
	if path[0] == '/' {
		cur = r.root
	}
	if trailing {
		followFinal = true
	}
	curSt, err := r.stat(cur)
	if err != nil {
		return VirtualDentry{}, err
	}
	for i, name := range comps {
		if err := r.mayTraverse(&curSt); err != nil {
			return VirtualDentry{}, err
		}
		next, err := r.step(cur, name)
		if err != nil {
			return VirtualDentry{}, err
		}
		st, err := r.stat(next)
		if err != nil {
			return VirtualDentry{}, err
		}
		if fileType(&st) == linux.S_IFLNK && (i < len(comps)-1 || followFinal) {
			next, err = r.follow(cur, next)
			if err != nil {
				return VirtualDentry{}, err
			}
			if st, err = r.stat(next); err != nil {
				return VirtualDentry{}, err
			}
		}
		cur, curSt = next, st
	}
	if trailing && fileType(&curSt) != linux.S_IFDIR {
		return VirtualDentry{}, unix.ENOTDIR
	}
	return cur, nil
}

// walkParent resolves all but the last component of path and returns the
// directory, the last component and whether path had a trailing slash.
// name is "" when path is "/" (or only slashes); it may be "." or "..".
// The directory has been checked to be searchable.
func (r *resolver) walkParent(start VirtualDentry, path string) (VirtualDentry, string, bool, error) {
	if path == "" {
		return VirtualDentry{}, "", false, unix.ENOENT
	}
	comps, trailing, err := splitPath(path)
	if err != nil {
		return VirtualDentry{}, "", false, err
	}
	cur := start
	if path[0] == '/' {
		cur = r.root
	}
	if len(comps) == 0 {
		return cur, "", true, nil
	}
	if len(comps) > 1 {
		dirPath := strings.Join(comps[:len(comps)-1], "/")
		if path[0] == '/' {
			dirPath = "/" + dirPath
		}
		cur, err = r.walk(cur, dirPath, true)
		if err != nil {
			return VirtualDentry{}, "", false, err
		}
	}
	st, err := r.stat(cur)
	if err != nil {
		return VirtualDentry{}, "", false, err
	}
	if err := r.mayTraverse(&st); err != nil {
		return VirtualDentry{}, "", false, err
	}
	return cur, comps[len(comps)-1], trailing, nil
}

// resolve is walk for a PathOperation.
func (r *resolver) resolve(pop *PathOperation) (VirtualDentry, error) {
	if pop.Path == "" && pop.EmptyPathOK {
		if !pop.Start.Ok() {
			return VirtualDentry{}, unix.EBADF
		}
		return pop.Start, nil
	}
	start := pop.Start
	if !start.Ok() {
		start = r.root
	}
	return r.walk(start, pop.Path, pop.FollowFinalSymlink)
}

func (r *resolver) resolveParent(pop *PathOperation) (VirtualDentry, string, bool, error) {
	start := pop.Start
	if !start.Ok() {
		start = r.root
	}
	return r.walkParent(start, pop.Path)
}

// PathOf takes only mountMu for reading (not renameMu), so filesystem
// callbacks (proc's readlink) may use it; a concurrent rename may make the
// answer momentarily stale.
//
// PathOf returns the absolute path of vd as seen from root. A dentry that
// is not below root gives the path from the mount tree's root (as Linux
// shows it for files outside a chroot); an unlinked one gets " (deleted)"
// appended; an anonymous one gives its name ("pipe:[7]").
func (v *VirtualFilesystem) PathOf(root, vd VirtualDentry) (string, error) {
	v.mountMu.RLock()
	defer v.mountMu.RUnlock()
	return v.pathOfLocked(root, vd)
}

func (v *VirtualFilesystem) pathOfLocked(root, vd VirtualDentry) (string, error) {
	if !vd.Ok() {
		return "", unix.ENOENT
	}
	if vd.Mount.anon {
		return vd.Dentry.Name(), nil
	}
	var parts []string
	deleted := false
	for {
		if vd == root {
			break
		}
		if vd.Dentry == vd.Mount.root {
			if vd.Mount.parent == nil {
				break
			}
			vd = VirtualDentry{vd.Mount.parent, vd.Mount.point}
			continue
		}
		if vd.Dentry.dead.Load() {
			deleted = true
		}
		parts = append(parts, vd.Dentry.Name())
		vd.Dentry = vd.Dentry.parent.Load()
		if vd.Dentry == nil {
			return "", unix.ENOENT
		}
	}
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		b.WriteByte('/')
		b.WriteString(parts[i])
	}
	s := b.String()
	if s == "" {
		s = "/"
	}
	if deleted {
		s += " (deleted)"
	}
	return s, nil
}

// GetDentryOptions tune GetDentryAt.
type GetDentryOptions struct {
	// CheckSearchable requires the result to be a directory the caller
	// may search (chdir, chroot).
	CheckSearchable bool
}

// GetDentryAt resolves pop to an existing file and returns it with a
// reference.
func (v *VirtualFilesystem) GetDentryAt(ctx Context, pop *PathOperation, opts GetDentryOptions) (VirtualDentry, error) {
	v.renameMu.RLock()
	defer v.endRead()
	r := v.newResolver(ctx, pop)
	vd, err := r.resolve(pop)
	if err != nil {
		return VirtualDentry{}, err
	}
	if opts.CheckSearchable {
		st, err := r.stat(vd)
		if err != nil {
			return VirtualDentry{}, err
		}
		if err := r.mayTraverse(&st); err != nil {
			return VirtualDentry{}, err
		}
	}
	vd.IncRef()
	return vd, nil
}
