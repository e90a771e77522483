package vfs

import (
	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

// Inode is one file of a filesystem. Every inode implements it; directories
// also implement DirInode, symlinks SymlinkInode, and files that can be opened
// (regular files, FIFOs, proc files...) Opener. vfs has checked permissions
// and read-only mounts before any of these is called.
//
// A filesystem should return the same Inode value for the same file every
// time (hard links share one), since vfs keys advisory locks by it.
type Inode interface {
	// Stat returns the file's attributes. Mode must include the file type
	// bits; DevMajor/DevMinor are filled in by vfs. Mask says which fields
	// are valid (STATX_BASIC_STATS normally).
	Stat(ctx Context) (linux.Statx, error)
	// SetStat changes the attributes named in opts.Mask. vfs has resolved
	// UTIME_NOW/UTIME_OMIT and checked permissions; the filesystem updates
	// ctime itself and clears setuid/setgid on chown as Linux does if it
	// wants that behaviour (tmpfs does).
	SetStat(ctx Context, opts *SetStatOptions) error
}

// SetStatOptions lists the attributes to change; Mask uses STATX_MODE,
// STATX_UID, STATX_GID, STATX_SIZE, STATX_ATIME, STATX_MTIME.
type SetStatOptions struct {
	Mask  uint32
	Mode  uint32 // permission bits (07777) only
	UID   auth.KUID
	GID   auth.KGID
	Size  uint64
	Atime linux.StatxTimestamp
	Mtime linux.StatxTimestamp
}

// CreateOptions describe a new file for DirInode.Create.
type CreateOptions struct {
	// Mode holds the file type (S_IFREG, S_IFDIR, S_IFLNK, S_IFIFO,
	// S_IFSOCK, S_IFCHR, S_IFBLK) and the permission bits, umask already
	// applied.
	Mode uint32
	UID  auth.KUID
	GID  auth.KGID
	// Target is a symlink's target.
	Target string
	// DevMajor and DevMinor are a device file's number.
	DevMajor, DevMinor uint32
}

// DirInode is a directory. name is always one valid component (not "", "."
// or ".."), and the directory's Dentry.dirMu is held by vfs around each
// call, so calls for one directory are serialised.
type DirInode interface {
	Inode
	// Lookup returns the child called name, or ENOENT.
	Lookup(ctx Context, name string) (Inode, error)
	// Create makes a new child (any file type, see CreateOptions). It
	// fails with EEXIST if name exists (vfs checks first, but another
	// sandbox-external change may race).
	Create(ctx Context, name string, opts CreateOptions) (Inode, error)
	// Link adds name as a new hard link to target (not a directory, and
	// on the same filesystem).
	Link(ctx Context, name string, target Inode) error
	// Unlink removes the non-directory child name (which is child).
	Unlink(ctx Context, name string, child Inode) error
	// Rmdir removes the empty directory child name (which is child); the
	// filesystem returns ENOTEMPTY if it is not empty.
	Rmdir(ctx Context, name string, child Inode) error
	// Rename moves child oldName of this directory to newName in newDir
	// (same filesystem). replaced is the inode currently at newName or
	// nil; vfs has checked the type rules (dir over empty dir, non-dir
	// over non-dir). With RENAME_EXCHANGE (flags) both are swapped.
	Rename(ctx Context, oldName string, child Inode, newDir DirInode, newName string, replaced Inode, flags uint32) error
	// IterDirents calls emit for the entries after cookie (0 = from the
	// start), in a stable order, without "." and "..". Each Dirent's
	// NextCookie resumes after it. It stops when emit returns false.
	IterDirents(ctx Context, cookie int64, emit func(Dirent) bool) error
}

// Dirent is one directory entry.
type Dirent struct {
	Name string
	Ino  uint64
	// Type is the DT_* value (unix.DT_REG, ...).
	Type uint8
	// NextCookie is the position after this entry.
	NextCookie int64
}

// SymlinkInode is a symbolic link.
type SymlinkInode interface {
	Inode
	Readlink(ctx Context) (string, error)
}

// Jumper is a symlink whose target is a place rather than a path (proc's
// /proc/self/fd/N, /proc/self/cwd, /proc/self/exe): following it lands on
// the VirtualDentry it returns (with a reference for the caller). Readlink
// still gives the text for readlink(2).
type Jumper interface {
	SymlinkInode
	Jump(ctx Context) (VirtualDentry, error)
}

// Opener is implemented by inodes that can be opened. Directories that do
// not implement it get vfs's generic directory file (getdents through
// IterDirents); devices are opened through the device registry; other
// inodes without it fail with ENXIO (sockets) or EINVAL.
type Opener interface {
	// Open returns the implementation of a new open file. flags are the
	// open(2) flags (O_TRUNC has already been applied by vfs through
	// SetStat). vd is where the file was found.
	Open(ctx Context, vd VirtualDentry, flags uint32) (FileImpl, error)
}

// Revalidator is an optional DirInode extension for directories whose
// children may change behind vfs's back (proc's /proc, gofer directories
// shared with the host): vfs asks before reusing a cached child.
type Revalidator interface {
	// Revalidate reports whether the cached child name -> child is still
	// right. A false answer drops it and looks it up again.
	Revalidate(ctx Context, name string, child Inode) bool
}

// SocketInode is a unix-socket file (made by mknod S_IFSOCK or bind); the
// socket layer stores its bound endpoint there.
type SocketInode interface {
	Inode
	BoundEndpoint() any
	SetBoundEndpoint(ep any)
}

// fileType returns the S_IFMT bits of a stat.
func fileType(st *linux.Statx) uint32 { return uint32(st.Mode) & linux.S_IFMT }

// DirentType maps S_IFMT bits to a DT_* value.
func DirentType(mode uint32) uint8 {
	switch mode & linux.S_IFMT {
	case linux.S_IFREG:
		return linux.DT_REG
	case linux.S_IFDIR:
		return linux.DT_DIR
	case linux.S_IFLNK:
		return linux.DT_LNK
	case linux.S_IFCHR:
		return linux.DT_CHR
	case linux.S_IFBLK:
		return linux.DT_BLK
	case linux.S_IFIFO:
		return linux.DT_FIFO
	case linux.S_IFSOCK:
		return linux.DT_SOCK
	}
	return linux.DT_UNKNOWN
}
