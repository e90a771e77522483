package syscalls

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/arch"
	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/proc"
	sysfs "github.com/runsc-cri/runsc-cri/sentry/fsimpl/sys"
	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/tmpfs"
	"github.com/runsc-cri/runsc-cri/sentry/kernel"
	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// mount(2), umount2(2) and pivot_root(2): the caller changes the mount
// tree of its own mount namespace (its container's, see vfs/mountns.go).
// The work and Linux's checks are in vfs (mount_ops.go, mountns.go); this
// file decodes the arguments as Linux's path_mount does.

func init() {
	addFamily(map[uintptr]Entry{
		unix.SYS_MOUNT: {Handler: Mount, Support: Partial, Note: "bind, rbind, remount (per-mount flags), " +
			"propagation types (recorded; nothing propagates), move, new tmpfs, proc and sysfs; other types ENODEV"},
		unix.SYS_UMOUNT2: {Handler: Umount2, Support: Partial, Note: "mounts the sandbox made are locked (EINVAL); " +
			"the caller's own root gives EBUSY (Linux remounts it read-only)"},
		unix.SYS_PIVOT_ROOT: {Handler: PivotRoot, Support: Full},
	})
}

// mountDataMax is how much of mount(2)'s data argument is read (a page,
// NUL-terminated, as Linux).
const mountDataMax = 4095

// Mount flags Linux accepts without changing a mount's options.
const msNoUser = 1 << 31

// Mount implements Linux syscall mount(2).
func Mount(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	srcAddr, targetAddr, typeAddr, dataAddr := a.Ptr(0), a.Ptr(1), a.Ptr(2), a.Ptr(4)
	flags := uint64(a[3])
	if flags&unix.MS_MGC_MSK == unix.MS_MGC_VAL {
		flags &^= unix.MS_MGC_MSK
	}
	var fstype, source, data string
	hasType, hasSource := typeAddr != 0, srcAddr != 0
	var err error
	if hasType {
		if fstype, err = t.CopyInString(typeAddr, 4095); err != nil {
			return 0, err
		}
	}
	if hasSource {
		if source, err = t.CopyInString(srcAddr, 4095); err != nil {
			return 0, err
		}
	}
	if dataAddr != 0 {
		if data, err = copyInMountData(t, dataAddr); err != nil {
			return 0, err
		}
	}
	target, err := copyInPath(t, targetAddr)
	if err != nil {
		return 0, err
	}
	if flags&msNoUser != 0 {
		return 0, unix.EINVAL
	}
	v := t.Kernel().VFS()
	fsc := t.FSContext()
	dst := fsc.PathOp(vfs.VirtualDentry{}, target, true)
	defer dst.Release()
	mflags := mountFlags(flags)

	switch {
	case flags&unix.MS_REMOUNT != 0:
		return 0, v.Remount(t, dst, vfs.RemountOptions{
			Flags:     mflags,
			KeepAtime: flags&(unix.MS_NOATIME|unix.MS_NODIRATIME|unix.MS_RELATIME|unix.MS_STRICTATIME) == 0,
			Bind:      flags&unix.MS_BIND != 0,
			Data:      data,
		})
	case flags&unix.MS_BIND != 0:
		if source == "" {
			if err := checkTarget(t, v, dst); err != nil {
				return 0, err
			}
			return 0, unix.EINVAL
		}
		src := fsc.PathOp(vfs.VirtualDentry{}, source, true)
		defer src.Release()
		return 0, v.BindMount(t, src, dst, flags&unix.MS_REC != 0)
	case flags&(unix.MS_SHARED|unix.MS_PRIVATE|unix.MS_SLAVE|unix.MS_UNBINDABLE) != 0:
		prop, ok := propagationType(flags)
		if !ok {
			if err := checkTarget(t, v, dst); err != nil {
				return 0, err
			}
			return 0, unix.EINVAL
		}
		return 0, v.SetPropagation(t, dst, prop, flags&unix.MS_REC != 0)
	case flags&unix.MS_MOVE != 0:
		if source == "" {
			if err := checkTarget(t, v, dst); err != nil {
				return 0, err
			}
			return 0, unix.EINVAL
		}
		src := fsc.PathOp(vfs.VirtualDentry{}, source, true)
		defer src.Release()
		return 0, v.MoveMount(t, src, dst)
	}

	// A new filesystem instance.
	if err := checkTarget(t, v, dst); err != nil {
		return 0, err
	}
	if !hasType {
		return 0, unix.EINVAL
	}
	if !hasSource {
		source = "none"
	}
	var fs *vfs.Filesystem
	switch fstype {
	case "tmpfs":
		mf := t.Kernel().MemFile()
		o, err := tmpfs.ParseOptions(data, mf.Size())
		if err != nil {
			return 0, err
		}
		fs = tmpfs.New(v, mf, o)
	case "proc", "sysfs":
		root := fsc.Root()
		fs = v.VisibleFilesystem(root, fstype)
		root.DecRef()
		if fs == nil {
			if fstype == "proc" {
				fs = proc.New(v, t.Kernel(), proc.Options{Release: Release})
			} else {
				fs = sysfs.New(v, 0)
			}
		}
	default:
		// devpts, mqueue, cgroup, overlay, block-device filesystems...
		// are not in the sandbox's kernel.
		return 0, unix.ENODEV
	}
	return 0, v.MountAt(t, dst, fs, source, mflags)
}

// checkTarget resolves the target first where Linux does (a missing
// target is ENOENT before any other error), then checks the capability.
func checkTarget(t *kernel.Task, v *vfs.VirtualFilesystem, pop *vfs.PathOperation) error {
	vd, err := v.GetDentryAt(t, pop, vfs.GetDentryOptions{})
	if err != nil {
		return err
	}
	vd.DecRef()
	if !t.Credentials().HasCapability(auth.CapSysAdmin) {
		return unix.EPERM
	}
	return nil
}

// copyInMountData reads mount(2)'s data: a string of at most a page.
func copyInMountData(t *kernel.Task, addr uintptr) (string, error) {
	s, err := t.CopyInString(addr, mountDataMax)
	if err != unix.ENAMETOOLONG {
		return s, err
	}
	buf := make([]byte, mountDataMax)
	n, err := t.CopyIn(addr, buf)
	if n == 0 && err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// mountFlags returns the per-mount flags of mount(2)'s flags.
func mountFlags(flags uint64) vfs.MountFlags {
	return vfs.MountFlags{
		ReadOnly:    flags&unix.MS_RDONLY != 0,
		NoSuid:      flags&unix.MS_NOSUID != 0,
		NoDev:       flags&unix.MS_NODEV != 0,
		NoExec:      flags&unix.MS_NOEXEC != 0,
		NoAtime:     flags&unix.MS_NOATIME != 0 && flags&unix.MS_STRICTATIME == 0,
		NoDirAtime:  flags&unix.MS_NODIRATIME != 0,
		StrictAtime: flags&unix.MS_STRICTATIME != 0,
	}
}

// propagationType decodes a propagation change: exactly one of the four
// types, with nothing else but MS_REC and MS_SILENT.
func propagationType(flags uint64) (vfs.Propagation, bool) {
	switch flags &^ (unix.MS_REC | unix.MS_SILENT) {
	case unix.MS_SHARED:
		return vfs.PropShared, true
	case unix.MS_PRIVATE:
		return vfs.PropPrivate, true
	case unix.MS_SLAVE:
		return vfs.PropSlave, true
	case unix.MS_UNBINDABLE:
		return vfs.PropUnbindable, true
	}
	return 0, false
}

// Umount2 implements Linux syscall umount2(2).
func Umount2(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	flags := a.Int(1)
	if flags&^(unix.MNT_FORCE|unix.MNT_DETACH|unix.MNT_EXPIRE|unix.UMOUNT_NOFOLLOW) != 0 {
		return 0, unix.EINVAL
	}
	return 0, withPath(t, linux.AT_FDCWD, a.Ptr(0), true, false, func(pop *vfs.PathOperation) error {
		return t.Kernel().VFS().UmountAt(t, pop, int(flags))
	})
}

// PivotRoot implements Linux syscall pivot_root(2).
func PivotRoot(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	if !t.Credentials().HasCapability(auth.CapSysAdmin) {
		return 0, unix.EPERM
	}
	newRoot, err := copyInPath(t, a.Ptr(0))
	if err != nil {
		return 0, err
	}
	putOld, err := copyInPath(t, a.Ptr(1))
	if err != nil {
		return 0, err
	}
	fsc := t.FSContext()
	np := fsc.PathOp(vfs.VirtualDentry{}, newRoot, true)
	defer np.Release()
	op := fsc.PathOp(vfs.VirtualDentry{}, putOld, true)
	defer op.Release()
	return 0, t.Kernel().VFS().PivotRoot(t, fsc, np, op)
}

// unshareMountNamespace implements unshare(2) with CLONE_NEWNS (which
// implies CLONE_FS): the caller gets a private copy of its mount tree
// (vfs.FSContext.UnshareMountNamespace). Other namespaces stay EPERM.
func unshareMountNamespace(t *kernel.Task, flags uint64) error {
	if flags&^(linux.CLONE_FILES|linux.CLONE_FS|linux.CLONE_SYSVSEM|linux.CLONE_NEWNS) != 0 {
		return unix.EPERM
	}
	if !t.Credentials().HasCapability(auth.CapSysAdmin) {
		return unix.EPERM
	}
	if err := t.Unshare(flags&^linux.CLONE_NEWNS | linux.CLONE_FS); err != nil {
		return err
	}
	return t.FSContext().UnshareMountNamespace()
}
