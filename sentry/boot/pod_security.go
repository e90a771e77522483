package boot

import (
	"path"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/control"
	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/tmpfs"
	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// A container's security settings: the credentials of its processes and
// the paths its spec masks or makes read-only.
//
// Capabilities. A process gets exactly the sets control.Process names
// (the daemon applies execve's rule that a non-root user keeps none in
// effective/permitted); without them, the OCI default set (effective and
// permitted for uid 0 only).
//
// Masked paths are covered once every mount is made, as runc does: a
// directory by an empty read-only directory, a file by an empty read-only
// file with mode 0 (reads give nothing, exec gives EACCES even to root).
// Both come from one hidden tmpfs of the pod (/.mask). Read-only paths
// are bound read-only onto themselves; the bind is not recursive, so
// mounts below such a path are not visible through it.

// processCreds returns the credentials proc runs with.
func processCreds(proc control.Process) *auth.Credentials {
	groups := make([]auth.KGID, len(proc.Groups))
	for i, g := range proc.Groups {
		groups[i] = auth.KGID(g)
	}
	caps := proc.Capabilities
	if caps == nil {
		c := auth.NewCredentials(auth.KUID(proc.UID), auth.KGID(proc.GID), groups, auth.DefaultContainerCaps)
		c.NoNewPrivs = proc.NoNewPrivileges
		return c
	}
	all := func(s uint64) auth.CapSet { return auth.CapSet(s) & auth.AllCaps }
	c := auth.NewCredentials(auth.KUID(proc.UID), auth.KGID(proc.GID), groups, all(caps.Bounding))
	c.Effective = all(caps.Effective)
	c.Permitted = all(caps.Permitted)
	c.Inheritable = all(caps.Inheritable)
	c.Ambient = all(caps.Ambient)
	c.NoNewPrivs = proc.NoNewPrivileges
	return c
}

// maskSource returns the pod's empty directory (dir) or empty file to
// cover a masked path with, with a reference.
func (p *Pod) maskSource(dir bool) (vfs.VirtualDentry, error) {
	p.maskOnce.Do(func() {
		v := p.m.v
		mnt, err := p.mountHidden("/.mask", tmpfs.New(v, p.m.mf, tmpfs.Options{RootMode: 0o555}), "tmpfs", vfs.MountFlags{NoSuid: true, NoDev: true, NoExec: true})
		if err != nil {
			p.maskErr = err
			return
		}
		defer mnt.DecRef()
		if err := v.MkdirAt(rootCtx, &vfs.PathOperation{Root: mnt, Start: mnt, Path: "d"}, 0o555); err != nil {
			p.maskErr = err
			return
		}
		f, err := v.OpenAt(rootCtx, &vfs.PathOperation{Root: mnt, Start: mnt, Path: "f"}, vfs.OpenOptions{Flags: unix.O_CREAT | unix.O_EXCL | unix.O_RDONLY, Mode: 0})
		if err != nil {
			p.maskErr = err
			return
		}
		f.DecRef(rootCtx)
	})
	if p.maskErr != nil {
		return vfs.VirtualDentry{}, p.maskErr
	}
	name := "/.mask/f"
	if dir {
		name = "/.mask/d"
	}
	return p.m.v.GetDentryAt(rootCtx, &vfs.PathOperation{Root: p.root, Start: p.root, Path: name}, vfs.GetDentryOptions{})
}

// maskPaths covers each existing path of paths (see above).
func (b *mountBuilder) maskPaths(paths []string) error {
	c := b.c
	v := c.p.m.v
	for _, p := range paths {
		if !path.IsAbs(p) {
			return c.errorf("masked path %q is not absolute: %w", p, unix.EINVAL)
		}
		pop := &vfs.PathOperation{Root: c.root, Start: c.root, Path: path.Clean(p), FollowFinalSymlink: true}
		st, err := v.StatAt(rootCtx, pop)
		if err == unix.ENOENT || err == unix.ENOTDIR {
			continue
		}
		if err != nil {
			return c.errorf("masked path %s: %w", p, err)
		}
		src, err := c.p.maskSource(st.Mode&linux.S_IFMT == linux.S_IFDIR)
		if err != nil {
			return c.errorf("masked path %s: %w", p, err)
		}
		err = v.BindMountAt(rootCtx, src, pop, vfs.MountFlags{ReadOnly: true, NoSuid: true, NoDev: true, NoExec: true})
		src.DecRef()
		if err != nil {
			return c.errorf("masking %s: %w", p, err)
		}
	}
	return nil
}

// readonlyPaths binds each existing path of paths read-only onto itself.
func (b *mountBuilder) readonlyPaths(paths []string) error {
	c := b.c
	v := c.p.m.v
	for _, p := range paths {
		if !path.IsAbs(p) {
			return c.errorf("read-only path %q is not absolute: %w", p, unix.EINVAL)
		}
		pop := &vfs.PathOperation{Root: c.root, Start: c.root, Path: path.Clean(p), FollowFinalSymlink: true}
		src, err := v.GetDentryAt(rootCtx, pop, vfs.GetDentryOptions{})
		if err == unix.ENOENT || err == unix.ENOTDIR {
			continue
		}
		if err != nil {
			return c.errorf("read-only path %s: %w", p, err)
		}
		err = v.BindMountAt(rootCtx, src, pop, vfs.MountFlags{ReadOnly: true, NoSuid: true, NoDev: true})
		src.DecRef()
		if err != nil {
			return c.errorf("making %s read-only: %w", p, err)
		}
	}
	return nil
}
