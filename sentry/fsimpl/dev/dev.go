// Package dev builds the sandbox's /dev: a tmpfs ("devtmpfs") holding the
// device nodes null, zero, full, random, urandom and tty, the /dev/fd and
// stdin/stdout/stderr symlinks into /proc/self/fd, and the shm and pts
// directories; and it registers the memory devices' implementations in the
// vfs device registry, so a device node made with mknod anywhere works too.
//
// /dev/tty (5:0) answers ENXIO until the kernel registers a real opener for
// the controlling terminal (vfs.RegisterCharDevice(5, 0, ...)).
package dev

import (
	"crypto/rand"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/tmpfs"
	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/memfile"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// Device numbers.
const (
	MemMajor     = 1
	NullMinor    = 3
	ZeroMinor    = 5
	FullMinor    = 7
	RandomMinor  = 8
	URandomMinor = 9
	TTYAuxMajor  = 5
	TTYMinor     = 0
	PTMXMinor    = 2
)

// RegisterDevices registers the memory devices and a placeholder /dev/tty
// with v.
func RegisterDevices(v *vfs.VirtualFilesystem) {
	reg := func(minor uint32, impl vfs.FileImpl) {
		v.RegisterCharDevice(MemMajor, minor, func(ctx vfs.Context, vd vfs.VirtualDentry, flags uint32) (vfs.FileImpl, error) {
			return impl, nil
		})
	}
	reg(NullMinor, nullDev{})
	reg(ZeroMinor, zeroDev{})
	reg(FullMinor, fullDev{})
	reg(RandomMinor, randomDev{})
	reg(URandomMinor, randomDev{})
	v.RegisterCharDevice(TTYAuxMajor, TTYMinor, func(ctx vfs.Context, vd vfs.VirtualDentry, flags uint32) (vfs.FileImpl, error) {
		return nil, unix.ENXIO
	})
}

type rootCtx struct{}

func (rootCtx) Credentials() *auth.Credentials {
	return auth.NewCredentials(0, 0, nil, auth.AllCaps)
}

// New registers the devices and returns a populated /dev filesystem.
func New(v *vfs.VirtualFilesystem, mf *memfile.File) (*vfs.Filesystem, error) {
	RegisterDevices(v)
	fs := tmpfs.New(v, mf, tmpfs.Options{RootMode: 0o755, TypeName: "tmpfs"})
	dir := fs.Root().Inode().(vfs.DirInode)
	ctx := rootCtx{}
	nodes := []struct {
		name         string
		major, minor uint32
	}{
		{"null", MemMajor, NullMinor},
		{"zero", MemMajor, ZeroMinor},
		{"full", MemMajor, FullMinor},
		{"random", MemMajor, RandomMinor},
		{"urandom", MemMajor, URandomMinor},
		{"tty", TTYAuxMajor, TTYMinor},
	}
	for _, n := range nodes {
		if _, err := dir.Create(ctx, n.name, vfs.CreateOptions{Mode: linux.S_IFCHR | 0o666, DevMajor: n.major, DevMinor: n.minor}); err != nil {
			return nil, err
		}
	}
	links := []struct{ name, target string }{
		{"fd", "/proc/self/fd"},
		{"stdin", "/proc/self/fd/0"},
		{"stdout", "/proc/self/fd/1"},
		{"stderr", "/proc/self/fd/2"},
		{"ptmx", "pts/ptmx"},
	}
	for _, l := range links {
		if _, err := dir.Create(ctx, l.name, vfs.CreateOptions{Mode: linux.S_IFLNK | 0o777, Target: l.target}); err != nil {
			return nil, err
		}
	}
	if _, err := dir.Create(ctx, "shm", vfs.CreateOptions{Mode: linux.S_IFDIR | 0o1777}); err != nil {
		return nil, err
	}
	if _, err := dir.Create(ctx, "pts", vfs.CreateOptions{Mode: linux.S_IFDIR | 0o755}); err != nil {
		return nil, err
	}
	return fs, nil
}

// charDev holds the defaults of the memory devices: seeking is a no-op
// returning 0, as Linux's null/zero.
type charDev struct{ vfs.FileDefaults }

// Seek implements vfs.FileImpl.
func (charDev) Seek(ctx vfs.Context, off int64, whence int, cur int64) (int64, error) { return 0, nil }

func total(bufs [][]byte) int64 {
	var n int64
	for _, b := range bufs {
		n += int64(len(b))
	}
	return n
}

type nullDev struct{ charDev }

// Read implements vfs.FileImpl: always end of file.
func (nullDev) Read(ctx vfs.Context, dst [][]byte, off int64) (int64, error) { return 0, nil }

// Write implements vfs.FileImpl: everything is accepted.
func (nullDev) Write(ctx vfs.Context, src [][]byte, off int64, a bool) (int64, int64, error) {
	n := total(src)
	return n, off + n, nil
}

type zeroDev struct{ charDev }

// Read implements vfs.FileImpl: zeros.
func (zeroDev) Read(ctx vfs.Context, dst [][]byte, off int64) (int64, error) {
	for _, b := range dst {
		clear(b)
	}
	return total(dst), nil
}

// Write implements vfs.FileImpl.
func (zeroDev) Write(ctx vfs.Context, src [][]byte, off int64, a bool) (int64, int64, error) {
	n := total(src)
	return n, off + n, nil
}

type fullDev struct{ zeroDev }

// Write implements vfs.FileImpl: the device is always full.
func (fullDev) Write(ctx vfs.Context, src [][]byte, off int64, a bool) (int64, int64, error) {
	return 0, off, unix.ENOSPC
}

type randomDev struct{ charDev }

// Read implements vfs.FileImpl.
func (randomDev) Read(ctx vfs.Context, dst [][]byte, off int64) (int64, error) {
	for _, b := range dst {
		rand.Read(b)
	}
	return total(dst), nil
}

// Write implements vfs.FileImpl: writes are accepted (and ignored).
func (randomDev) Write(ctx vfs.Context, src [][]byte, off int64, a bool) (int64, int64, error) {
	n := total(src)
	return n, off + n, nil
}
