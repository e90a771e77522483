package boot

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/gofer/client"
	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/dev"
	goferfs "github.com/runsc-cri/runsc-cri/sentry/fsimpl/gofer"
	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/host"
	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/proc"
	sysfs "github.com/runsc-cri/runsc-cri/sentry/fsimpl/sys"
	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/tmpfs"
	"github.com/runsc-cri/runsc-cri/sentry/kernel"
	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/memfile"
	"github.com/runsc-cri/runsc-cri/sentry/syscalls"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// rootCtx is the context of mount-time operations: root with every capability.
var rootCtx = bootContext{auth.NewCredentials(0, 0, nil, auth.AllCaps)}

// mountAll mounts the root filesystem from the gofer and the spec's tmpfs
// mounts, and returns the root with a reference.
func mountAll(v *vfs.VirtualFilesystem, mf *memfile.File, spec Spec) (vfs.VirtualDentry, error) {
	f := os.NewFile(uintptr(spec.RootGoferFD), "gofer")
	conn, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return vfs.VirtualDentry{}, fmt.Errorf("gofer connection: %w", err)
	}
	uconn, ok := conn.(*net.UnixConn)
	if !ok {
		conn.Close()
		return vfs.VirtualDentry{}, fmt.Errorf("gofer connection: fd %d is not a unix socket", spec.RootGoferFD)
	}
	rootFS, err := goferfs.New(v, client.New(uconn), mf, goferfs.Options{ReadOnly: spec.RootReadOnly})
	if err != nil {
		return vfs.VirtualDentry{}, fmt.Errorf("root filesystem: %w", err)
	}
	root := v.MountRoot(rootFS, "none", vfs.MountFlags{ReadOnly: spec.RootReadOnly})
	for _, target := range spec.TmpfsMounts {
		if err := mountAt(v, root, target, tmpfs.New(v, mf, tmpfs.Options{}), "tmpfs", vfs.MountFlags{NoSuid: true, NoDev: true}); err != nil {
			return vfs.VirtualDentry{}, err
		}
	}
	return root, nil
}

// mountKernelFilesystems mounts /proc, /sys and /dev (with /dev/shm).
func mountKernelFilesystems(v *vfs.VirtualFilesystem, k *kernel.Kernel, mf *memfile.File, root vfs.VirtualDentry) error {
	mounts := []struct {
		target string
		fs     func() (*vfs.Filesystem, error)
		source string
		flags  vfs.MountFlags
	}{
		{"/proc", func() (*vfs.Filesystem, error) {
			return proc.New(v, k, proc.Options{Release: syscalls.Release}), nil
		}, "proc", vfs.MountFlags{NoSuid: true, NoDev: true, NoExec: true}},
		{"/sys", func() (*vfs.Filesystem, error) { return sysfs.New(v, 0), nil }, "sysfs",
			vfs.MountFlags{ReadOnly: true, NoSuid: true, NoDev: true, NoExec: true}},
		{"/dev", func() (*vfs.Filesystem, error) { return dev.New(v, mf) }, "dev", vfs.MountFlags{NoSuid: true}},
		{"/dev/shm", func() (*vfs.Filesystem, error) { return tmpfs.New(v, mf, tmpfs.Options{}), nil }, "shm", vfs.MountFlags{NoSuid: true, NoDev: true}},
	}
	for _, m := range mounts {
		fs, err := m.fs()
		if err != nil {
			return fmt.Errorf("%s: %w", m.target, err)
		}
		if err := mountAt(v, root, m.target, fs, m.source, m.flags); err != nil {
			return err
		}
	}
	return nil
}

// mountAt mounts fs at target, which must be a directory of the tree. A
// missing mount point is an error naming it: the rootfs must have the
// directory (as with runc).
func mountAt(v *vfs.VirtualFilesystem, root vfs.VirtualDentry, target string, fs *vfs.Filesystem, source string, flags vfs.MountFlags) error {
	pop := &vfs.PathOperation{Root: root, Start: root, Path: target, FollowFinalSymlink: true}
	if err := v.MountAt(rootCtx, pop, fs, source, flags); err != nil {
		return fmt.Errorf("mount %s on %s: %w", source, target, err)
	}
	return nil
}

// newHostFile wraps a host fd given to the sandbox (stdio).
func newHostFile(v *vfs.VirtualFilesystem, fd int) (*vfs.FileDescription, error) {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return nil, err
	}
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f, err := host.NewFile(v, dup, uint32(fl)&(unix.O_ACCMODE|unix.O_APPEND))
	if err != nil {
		unix.Close(dup)
		return nil, err
	}
	return f, nil
}

// registerControllingTTY makes /dev/tty open the host terminal the sandbox
// was started from (the first of stdin, stdout, stderr that is a tty), as
// it is the controlling terminal of the sandbox's session. Without one,
// /dev/tty keeps answering ENXIO, like Linux for a process without a
// controlling terminal.
func registerControllingTTY(v *vfs.VirtualFilesystem, stdio [3]int) {
	tty := -1
	for _, fd := range stdio {
		if _, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil {
			tty = fd
			break
		}
	}
	if tty < 0 {
		return
	}
	v.RegisterCharDevice(dev.TTYAuxMajor, dev.TTYMinor, func(ctx vfs.Context, vd vfs.VirtualDentry, flags uint32) (vfs.FileImpl, error) {
		dup, err := unix.FcntlInt(uintptr(tty), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil, unix.ENXIO
		}
		f, err := host.NewFile(v, dup, flags&(unix.O_ACCMODE|unix.O_NONBLOCK))
		if err != nil {
			unix.Close(dup)
			return nil, err
		}
		// The description made here is only a carrier: the opener's
		// caller wraps the implementation in its own.
		return f.Impl(), nil
	})
}
