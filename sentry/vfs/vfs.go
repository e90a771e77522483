// Package vfs is the sentry's virtual filesystem: mounts, the dentry tree,
// path resolution, open file descriptions, the fd table and the per-task
// filesystem context (root, cwd, umask).
//
// # The model
//
// A Filesystem is one mounted instance of a filesystem type (tmpfs, the gofer
// client, proc, ...). Its files are Inodes: small interfaces the filesystem
// implements (inode.go). vfs owns the tree of Dentries above those inodes: a
// Dentry is a name in a directory bound to an Inode; several dentries may share
// an inode (hard links). Dentries are cached: once looked up, a child stays in
// its parent's children map until it is unlinked, renamed over, its
// directory says it is stale (Revalidator), or it is evicted. A Mount places a Filesystem's root
// dentry over a dentry of another mount; a VirtualDentry is the pair (Mount,
// Dentry) that names one place in the mount tree.
//
// # Mounts
//
// Each Mount knows its parent mount, the dentry of the parent it covers and
// the mounts on its own dentries (submounts); a second mount on the same
// place stacks on the first one's root. Boot builds the tree (MountRoot,
// MountAt, BindMountAt, MountAtVD: mount.go); applications change it with
// mount(2), umount2(2) and pivot_root(2) (mount_ops.go, mountns.go), with
// Linux's checks and errors, inside their mount namespace: the subtree of
// their container's root mount (or of a private copy after
// unshare(CLONE_NEWNS)). Bind mounts are new mounts of the same Filesystem
// (a gofer-served tree stays served by its gofer). Mounts made by boot are
// locked (Mount.locked) so an application never uncovers what lies beneath
// them. /proc/self/mounts and mountinfo list the mounts below the reader's
// root (GenerateProcMounts); propagation types are recorded, but nothing
// propagates between trees.
//
// # Dentry eviction
//
// Dentries of filesystems whose inodes implement Evictor (the gofer
// filesystem; not tmpfs, whose dentry tree is the only copy of its tree) are
// kept in an LRU bounded by a count (SetMaxCachedDentries, evict.go). When it
// overflows, the next operation to finish takes renameMu for writing and
// drops unused ones: no references (open files, cwd, root, mount roots),
// not a mount point, no cached children. A later lookup of the name asks the
// filesystem again. Evictor.Evict lets the filesystem release what it holds
// for the dentry (the gofer closes its host handle).
//
// Path resolution (walk.go) is generic: components, "." and "..", crossing
// mounts both ways, the caller's root as a barrier, symlinks (40 at most),
// trailing slashes, length limits. Permission checks are done here, once,
// with the caller's credentials (Context.Credentials); filesystems only store
// and report modes and owners. Read-only mounts fail writes with EROFS here.
//
// A FileDescription is an open file: status flags, offset, and the
// filesystem's FileImpl behind it. vfs never blocks: an operation that would
// block returns unix.EAGAIN and the file's waiter queue is notified when it
// may succeed; the syscall layer decides whether to wait and retry.
//
// # Lock order
//
//	VirtualFilesystem.renameMu (RW: rename takes it for writing, every other
//	  path operation for reading, once, at the top)
//	  Dentry.dirMu of a directory (parent before child; only rename, which is
//	    exclusive, holds two unrelated ones)
//	    VirtualFilesystem.mountMu (mount table; below renameMu: mount
//	      operations take renameMu then mountMu, both for writing, and
//	      never hold a dirMu)
//	      VirtualFilesystem.fscMu (live FSContexts)
//	        FSContext.mu
//	    dentryCache.mu (the eviction LRU; leaf)
//	    filesystem-internal locks (Evictor.Evict runs with renameMu held
//	      for writing and no other vfs lock)
//	FileDescription.offMu, FDTable.mu, FSContext.mu, lock tables: leaves,
//	  never held across calls into a filesystem that takes renameMu (an
//	  FSContext.mu holder takes neither renameMu nor mountMu).
//
// The mount tree's links are written with renameMu and mountMu both held
// for writing and read with either held: path walks hold renameMu for
// reading, PathOf and /proc/self/mounts take mountMu for reading. Mount
// operations resolve their paths and Stat their files first, then take the
// write locks; no filesystem callback runs under them.
//
// Filesystem callbacks (Inode, DirInode, Jumper... methods) run with
// renameMu held for reading and a directory's dirMu held, so they must not
// call VirtualFilesystem's path operations (OpenAt, GetDentryAt, StatAt, ...);
// PathOf, NewAnonVirtualDentry and FileDescription methods are safe.
//
// Reference counts: FileDescription is counted exactly (the last DecRef calls
// FileImpl.Release). VirtualDentry references count users of a mount and a
// dentry so busy mounts cannot be unmounted and used dentries are not
// evicted; memory is managed by Go's GC, so a lost reference only leaks a
// count (the dentry stays cached), never memory safety. A path walk holds no
// references: renameMu held for reading keeps what it sees in place, and
// anything that keeps a dentry beyond the operation takes a reference first.
// Operations release renameMu through endRead/endWrite, which run a due
// eviction scan.
package vfs

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
)

// Context is what vfs needs from its caller; the kernel's *Task implements
// it, tests use a small struct.
type Context interface {
	// Credentials are the caller's credentials for permission checks.
	Credentials() *auth.Credentials
}

// Limits of path resolution, as Linux.
const (
	MaxSymlinks = 40
	NameMax     = 255
	PathMax     = 4096
)

// VirtualFilesystem is the sandbox's whole file tree: the mount table, the
// device registry and the anonymous filesystem for pipes and such.
type VirtualFilesystem struct {
	// renameMu: see the package comment.
	renameMu sync.RWMutex

	// mountMu guards mountList, root, nextMountID, nsByRoot and the
	// mounts' tree links (see Mount).
	mountMu     sync.RWMutex
	mountList   []*Mount // attached mounts
	root        *Mount
	nextMountID int
	// nsByRoot finds a mount namespace by its root mount, or by a former
	// root (mountns.go).
	nsByRoot map[*Mount]*MountNamespace

	// fscMu guards fscs, the live FSContexts (pivot_root changes their
	// roots).
	fscMu sync.Mutex
	fscs  map[*FSContext]struct{}

	// devMu guards devices.
	devMu   sync.RWMutex
	devices map[devKey]DeviceOpener

	nextDevMinor atomic.Uint32
	nextAnonIno  atomic.Uint64

	anonOnce sync.Once
	anonFS   *Filesystem
	anonMnt  *Mount

	locks lockTable

	// dcache is the LRU of evictable dentries (evict.go).
	dcache dentryCache
}

// New returns an empty virtual filesystem; MountRoot gives it a root.
func New() *VirtualFilesystem {
	v := &VirtualFilesystem{
		devices:  map[devKey]DeviceOpener{},
		nsByRoot: map[*Mount]*MountNamespace{},
	}
	v.locks.init()
	v.dcache.init()
	return v
}

// Filesystem is one instance of a filesystem type.
type Filesystem struct {
	vfs  *VirtualFilesystem
	impl FilesystemImpl
	root *Dentry
	dev  uint32 // anonymous device minor (major 0)
}

// FilesystemImpl is what a filesystem type provides about the whole instance.
type FilesystemImpl interface {
	// Name is the type name shown in /proc/mounts ("tmpfs").
	Name() string
	// Statfs describes the filesystem (statfs(2)).
	Statfs(ctx Context) (StatFS, error)
	// MountOptions returns the filesystem-specific options for /proc/mounts
	// (e.g. "size=65536k,mode=755"), without the rw/ro prefix.
	MountOptions() string
}

// StatFS is what statfs(2) reports (filesystem part; vfs adds the flags).
type StatFS struct {
	Type            uint64
	BlockSize       int64
	Blocks          uint64
	BlocksFree      uint64
	BlocksAvailable uint64
	Files           uint64
	FilesFree       uint64
	NameLength      uint64
}

// NewFilesystem creates a filesystem instance whose root directory is root.
// It gets its own device number (major 0, as Linux's anonymous devices).
func (v *VirtualFilesystem) NewFilesystem(impl FilesystemImpl, root Inode) *Filesystem {
	fs := &Filesystem{vfs: v, impl: impl, dev: v.nextDevMinor.Add(1) + 16}
	fs.root = newDentry(fs, root, nil, "")
	return fs
}

// Impl returns the filesystem's implementation.
func (fs *Filesystem) Impl() FilesystemImpl { return fs.impl }

// Root returns the root dentry.
func (fs *Filesystem) Root() *Dentry { return fs.root }

// Dev returns the filesystem's device number (major 0, this minor) as it
// appears in st_dev; vfs fills Statx.DevMajor/DevMinor with it.
func (fs *Filesystem) Dev() (major, minor uint32) { return 0, fs.dev }

// VFS returns the virtual filesystem the instance belongs to.
func (fs *Filesystem) VFS() *VirtualFilesystem { return fs.vfs }

// DeviceOpener opens a character device (chosen by major/minor) in place of
// the device special file's inode.
type DeviceOpener func(ctx Context, vd VirtualDentry, flags uint32) (FileImpl, error)

type devKey struct {
	block        bool
	major, minor uint32
}

// RegisterCharDevice makes opening a character device special file with
// this major and minor call open.
func (v *VirtualFilesystem) RegisterCharDevice(major, minor uint32, open DeviceOpener) {
	v.devMu.Lock()
	v.devices[devKey{false, major, minor}] = open
	v.devMu.Unlock()
}

func (v *VirtualFilesystem) device(block bool, major, minor uint32) DeviceOpener {
	v.devMu.RLock()
	defer v.devMu.RUnlock()
	return v.devices[devKey{block, major, minor}]
}

// sortedMounts returns the mounts in mount order.
func (v *VirtualFilesystem) sortedMounts() []*Mount {
	v.mountMu.RLock()
	defer v.mountMu.RUnlock()
	return v.sortedMountsLocked()
}

func (v *VirtualFilesystem) sortedMountsLocked() []*Mount {
	ms := append([]*Mount(nil), v.mountList...)
	sort.Slice(ms, func(i, j int) bool { return ms[i].id < ms[j].id })
	return ms
}

// reachable reports whether vd lies at or below root in the mount tree, so
// that a process chrooted at root (a pod's container) sees only its own
// mounts in /proc/self/mounts, as with Linux's mount namespaces. mountMu
// or renameMu must be held.
func reachable(root, vd VirtualDentry) bool {
	for {
		if vd == root {
			return true
		}
		if vd.Dentry == vd.Mount.root {
			if vd.Mount.parent == nil {
				return false
			}
			vd = VirtualDentry{vd.Mount.parent, vd.Mount.point}
			continue
		}
		vd.Dentry = vd.Dentry.parent.Load()
		if vd.Dentry == nil {
			return false
		}
	}
}

// procMount is one line of /proc/[pid]/mounts or mountinfo.
type procMount struct {
	m      *Mount
	target string
	parent int
}

// visibleMounts returns the mounts a task whose root is root sees, with
// their paths from root, in mount order. Like Linux, a mount's parent id
// is its real parent's even when that one is not visible (the root's
// mount in a container); a parentless mount is its own parent.
func (v *VirtualFilesystem) visibleMounts(root VirtualDentry) []procMount {
	v.mountMu.RLock()
	defer v.mountMu.RUnlock()
	var out []procMount
	for _, m := range v.sortedMountsLocked() {
		if m.anon || !reachable(root, VirtualDentry{m, m.root}) {
			continue // outside the caller's root (another container's)
		}
		target, err := v.pathOfLocked(root, VirtualDentry{m, m.root})
		if err != nil {
			continue
		}
		parentID := m.id
		if m.parent != nil {
			parentID = m.parent.id
		}
		out = append(out, procMount{m, target, parentID})
	}
	return out
}

// GenerateProcMounts returns the text of /proc/[pid]/mounts for a task whose
// root is root: one line per mount visible below root, as
// "source target fstype options 0 0".
func (v *VirtualFilesystem) GenerateProcMounts(root VirtualDentry) string {
	var b strings.Builder
	for _, pm := range v.visibleMounts(root) {
		m := pm.m
		src := m.source
		if src == "" {
			src = "none"
		}
		fmt.Fprintf(&b, "%s %s %s %s 0 0\n", escapeMountField(src), escapeMountField(pm.target), m.fs.impl.Name(), m.optionString())
	}
	return b.String()
}

// GenerateProcMountInfo returns the text of /proc/[pid]/mountinfo:
// "id parent major:minor root target mount-options optional-fields -
// fstype source super-options". There are no optional fields: nothing
// propagates between mount trees (see Propagation).
func (v *VirtualFilesystem) GenerateProcMountInfo(root VirtualDentry) string {
	var b strings.Builder
	for _, pm := range v.visibleMounts(root) {
		m := pm.m
		src := m.source
		if src == "" {
			src = "none"
		}
		rw := "rw"
		if m.ReadOnly() {
			rw = "ro"
		}
		fsOpts := rw
		if o := m.fs.impl.MountOptions(); o != "" {
			fsOpts += "," + o
		}
		fmt.Fprintf(&b, "%d %d 0:%d %s %s %s - %s %s %s\n", m.id, pm.parent, m.fs.dev,
			escapeMountField(pathInFS(m.root)), escapeMountField(pm.target), m.flagString(), m.fs.impl.Name(), escapeMountField(src), fsOpts)
	}
	return b.String()
}

func escapeMountField(s string) string {
	r := strings.NewReplacer(" ", `\040`, "\t", `\011`, "\n", `\012`, `\`, `\134`)
	return r.Replace(s)
}

// pathInFS is the path of d from its filesystem's root.
func pathInFS(d *Dentry) string {
	var parts []string
	for ; d != nil && d.parent.Load() != nil; d = d.parent.Load() {
		parts = append([]string{d.Name()}, parts...)
	}
	return "/" + strings.Join(parts, "/")
}
