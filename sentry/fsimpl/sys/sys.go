// Package sys is a minimal, read-only sysfs: the CPU topology files that
// runtimes read to size thread pools (/sys/devices/system/cpu), the
// transparent hugepage setting, an empty /sys/fs/cgroup for tools that
// look for a cgroup mount point, and /sys/class/net with the pod's network
// interfaces (net.go).
//
// The tree is fixed at creation: directories are maps of names to inodes,
// files hold their text; only /sys/class/net is listed afresh from the
// pod's network stack at each lookup. Nothing here takes a lock after New
// returns (the network stack takes its own).
package sys

import (
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/vfs"
	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

// sysfsMagic is SYSFS_MAGIC.
const sysfsMagic = 0x62656572

// filesystem is a sysfs instance.
type filesystem struct {
	ctime   time.Time
	nextIno uint64
}

// New returns a sysfs showing numCPU CPUs (runtime.NumCPU() if 0).
func New(v *vfs.VirtualFilesystem, numCPU int) *vfs.Filesystem {
	if numCPU <= 0 {
		numCPU = runtime.NumCPU()
	}
	fs := &filesystem{ctime: time.Now()}
	cpus := "0"
	if numCPU > 1 {
		cpus = fmt.Sprintf("0-%d", numCPU-1)
	}
	cpuDir := map[string]vfs.Inode{
		"online":     fs.file(cpus + "\n"),
		"possible":   fs.file(cpus + "\n"),
		"present":    fs.file(cpus + "\n"),
		"offline":    fs.file("\n"),
		"kernel_max": fs.file("8191\n"),
	}
	for i := 0; i < numCPU; i++ {
		cpuDir["cpu"+strconv.Itoa(i)] = fs.dir(map[string]vfs.Inode{
			"topology": fs.dir(map[string]vfs.Inode{
				"core_id":             fs.file(strconv.Itoa(i) + "\n"),
				"physical_package_id": fs.file("0\n"),
			}),
		})
	}
	root := fs.dir(map[string]vfs.Inode{
		"devices": fs.dir(map[string]vfs.Inode{
			"system": fs.dir(map[string]vfs.Inode{
				"cpu": fs.dir(cpuDir),
			}),
		}),
		"kernel": fs.dir(map[string]vfs.Inode{
			"mm": fs.dir(map[string]vfs.Inode{
				"transparent_hugepage": fs.dir(map[string]vfs.Inode{
					"enabled": fs.file("always [madvise] never\n"),
					"defrag":  fs.file("always defer defer+madvise [madvise] never\n"),
				}),
			}),
		}),
		"fs": fs.dir(map[string]vfs.Inode{
			"cgroup": fs.dir(nil),
		}),
		"class": fs.dir(map[string]vfs.Inode{
			"net": fs.netClassDir(v),
		}),
		"block":  fs.dir(nil),
		"bus":    fs.dir(nil),
		"module": fs.dir(nil),
	})
	return v.NewFilesystem(fs, root)
}

// Name implements vfs.FilesystemImpl.
func (fs *filesystem) Name() string { return "sysfs" }

// MountOptions implements vfs.FilesystemImpl.
func (fs *filesystem) MountOptions() string { return "" }

// Statfs implements vfs.FilesystemImpl.
func (fs *filesystem) Statfs(ctx vfs.Context) (vfs.StatFS, error) {
	return vfs.StatFS{Type: sysfsMagic, BlockSize: 4096, NameLength: vfs.NameMax}, nil
}

// attrs are an inode's fixed attributes.
type attrs struct {
	vfs.NoSetStat
	ino   uint64
	mode  uint32
	nlink uint32
	size  uint64
	ctime time.Time
}

func (fs *filesystem) attrs(mode uint32) attrs {
	fs.nextIno++
	nlink := uint32(1)
	if mode&linux.S_IFMT == linux.S_IFDIR {
		nlink = 2
	}
	return attrs{ino: fs.nextIno, mode: mode, nlink: nlink, ctime: fs.ctime}
}

// Stat implements vfs.Inode.
func (a *attrs) Stat(ctx vfs.Context) (linux.Statx, error) {
	ts := linux.StatxTimestamp{Sec: a.ctime.Unix(), Nsec: uint32(a.ctime.Nanosecond())}
	return linux.Statx{
		Mask: linux.STATX_BASIC_STATS, Blksize: 4096, Nlink: a.nlink, Mode: uint16(a.mode),
		Ino: a.ino, Size: a.size, Atime: ts, Mtime: ts, Ctime: ts,
	}, nil
}

// file is a read-only file of fixed text (sysfs reports 4096 as the size
// of its attribute files).
type file struct {
	attrs
	data string
}

func (fs *filesystem) file(data string) *file {
	f := &file{attrs: fs.attrs(linux.S_IFREG | 0o444), data: data}
	f.size = 4096
	return f
}

// Open implements vfs.Opener.
func (f *file) Open(ctx vfs.Context, vd vfs.VirtualDentry, flags uint32) (vfs.FileImpl, error) {
	if flags&unix.O_ACCMODE != unix.O_RDONLY {
		return nil, unix.EACCES
	}
	return &fileFD{data: f.data}, nil
}

type fileFD struct {
	vfs.FileDefaults
	data string
}

// Read implements vfs.FileImpl.
func (f *fileFD) Read(ctx vfs.Context, dst [][]byte, off int64) (int64, error) {
	var n int64
	for _, b := range dst {
		if off+n >= int64(len(f.data)) {
			break
		}
		n += int64(copy(b, f.data[off+n:]))
	}
	return n, nil
}

// Seek implements vfs.FileImpl.
func (f *fileFD) Seek(ctx vfs.Context, off int64, whence int, cur int64) (int64, error) {
	return vfs.GenericSeek(off, whence, cur, int64(len(f.data)))
}

// Readiness implements waiter.Waitable.
func (f *fileFD) Readiness(mask waiter.EventMask) waiter.EventMask {
	return mask & waiter.ReadableEvents
}

// dir is a fixed directory.
type dir struct {
	attrs
	names    []string
	children map[string]vfs.Inode
	ifindex  int32 // for /sys/class/net/<name>: the interface's index
}

func (fs *filesystem) dir(children map[string]vfs.Inode) *dir {
	d := &dir{attrs: fs.attrs(linux.S_IFDIR | 0o755), children: children}
	for n, c := range children {
		d.names = append(d.names, n)
		if _, ok := c.(*dir); ok {
			d.nlink++
		}
	}
	sort.Strings(d.names)
	return d
}

// Lookup implements vfs.DirInode.
func (d *dir) Lookup(ctx vfs.Context, name string) (vfs.Inode, error) {
	if c, ok := d.children[name]; ok {
		return c, nil
	}
	return nil, unix.ENOENT
}

// IterDirents implements vfs.DirInode.
func (d *dir) IterDirents(ctx vfs.Context, cookie int64, emit func(vfs.Dirent) bool) error {
	for i := int(cookie); i >= 0 && i < len(d.names); i++ {
		c := d.children[d.names[i]]
		st, _ := c.Stat(ctx)
		if !emit(vfs.Dirent{Name: d.names[i], Ino: st.Ino, Type: vfs.DirentType(uint32(st.Mode)), NextCookie: int64(i + 1)}) {
			return nil
		}
	}
	return nil
}

// Create implements vfs.DirInode.
func (d *dir) Create(ctx vfs.Context, name string, opts vfs.CreateOptions) (vfs.Inode, error) {
	return nil, unix.EACCES
}

// Link implements vfs.DirInode.
func (d *dir) Link(ctx vfs.Context, name string, target vfs.Inode) error { return unix.EACCES }

// Unlink implements vfs.DirInode.
func (d *dir) Unlink(ctx vfs.Context, name string, child vfs.Inode) error { return unix.EACCES }

// Rmdir implements vfs.DirInode.
func (d *dir) Rmdir(ctx vfs.Context, name string, child vfs.Inode) error { return unix.EACCES }

// Rename implements vfs.DirInode.
func (d *dir) Rename(ctx vfs.Context, oldName string, child vfs.Inode, newDir vfs.DirInode, newName string, replaced vfs.Inode, flags uint32) error {
	return unix.EACCES
}
