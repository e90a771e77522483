package boot

import (
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/gofer/client"
	"github.com/runsc-cri/runsc-cri/sentry/control"
	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/dev"
	goferfs "github.com/runsc-cri/runsc-cri/sentry/fsimpl/gofer"
	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/proc"
	sysfs "github.com/runsc-cri/runsc-cri/sentry/fsimpl/sys"
	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/tmpfs"
	"github.com/runsc-cri/runsc-cri/sentry/kernel"
	"github.com/runsc-cri/runsc-cri/sentry/syscalls"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// createContainer builds container req.ID: its root filesystem and mounts,
// its log and the fds its init will get. fds are the call's attached files;
// the ones the container keeps are taken out of the slice (set to nil), the
// caller closes the rest.
func (p *Pod) createContainer(req *control.CreateContainerRequest, fds []*os.File) (retErr error) {
	if err := validID(req.ID); err != nil {
		return err
	}
	p.mu.Lock()
	if p.containers[req.ID] != nil {
		p.mu.Unlock()
		return fmt.Errorf("container %q: already exists: %w", req.ID, unix.EEXIST)
	}
	select {
	case <-p.shutdown:
		p.mu.Unlock()
		return fmt.Errorf("container %q: the pod is shutting down: %w", req.ID, unix.ESHUTDOWN)
	default:
	}
	c := &container{
		p:       p,
		id:      req.ID,
		kc:      p.m.k.NewContainer(req.ID),
		proc:    req.Process,
		settled: make(chan struct{}),
		ttys:    map[kernel.ThreadID]*os.File{},
	}
	c.applyResources(req)
	// Reserve the id while building (the build takes round trips).
	p.containers[req.ID] = c
	p.mu.Unlock()
	defer func() {
		if retErr != nil {
			c.abandon()
			c.teardown()
			c.releaseFiles()
			p.mu.Lock()
			delete(p.containers, req.ID)
			p.mu.Unlock()
		}
	}()

	take := func(what string, idx int) (*os.File, error) {
		if idx < 0 {
			return nil, nil
		}
		if idx >= len(fds) || fds[idx] == nil {
			return nil, c.errorf("%s: fd index %d, but %d fds attached (or that fd is already used): %w", what, idx, len(fds), unix.EBADF)
		}
		f := fds[idx]
		fds[idx] = nil
		return f, nil
	}
	// Take every fd first, so a bad index fails before any work.
	rootF, err := take("rootGoferFD", req.RootGoferFD)
	if err != nil {
		return err
	}
	if rootF == nil {
		return c.errorf("rootGoferFD: a root filesystem gofer connection is required: %w", unix.EBADF)
	}
	logF, err := take("logFD", req.LogFD)
	if err != nil {
		rootF.Close()
		return err
	}
	c.log = newCRILog(logF)
	mountFs := make([]*os.File, len(req.Mounts))
	names := [3]string{"stdin", "stdout", "stderr"}
	idx := [3]int{req.Process.Stdin, req.Process.Stdout, req.Process.Stderr}
	var stdio [3]*os.File
	closeTaken := func() {
		rootF.Close()
		for _, f := range mountFs {
			if f != nil {
				f.Close()
			}
		}
		for _, f := range stdio {
			if f != nil {
				f.Close()
			}
		}
	}
	for i, m := range req.Mounts {
		if m.Type == "bind" {
			if mountFs[i], err = take("mount "+m.Destination+" goferFD", m.GoferFD); err != nil {
				closeTaken()
				return err
			}
		}
	}
	for i := range 3 {
		// The same fd may serve several of stdin/out/err (a tty).
		if idx[i] >= 0 {
			for j := 0; j < i; j++ {
				if idx[j] == idx[i] && stdio[j] != nil {
					dup, derr := unix.FcntlInt(stdio[j].Fd(), unix.F_DUPFD_CLOEXEC, 0)
					if derr != nil {
						closeTaken()
						return c.errorf("%s: %w", names[i], derr)
					}
					stdio[i] = os.NewFile(uintptr(dup), names[i])
				}
			}
			if stdio[i] != nil {
				continue
			}
		}
		if stdio[i], err = take(names[i], idx[i]); err != nil {
			closeTaken()
			return err
		}
	}
	c.stdio = stdio

	// The root filesystem.
	rootFD, err := takeFD(rootF)
	if err != nil {
		closeTaken()
		return c.errorf("root gofer connection: %w", err)
	}
	cl, err := client.NewFD(rootFD)
	if err != nil {
		return c.errorf("root gofer connection: %w", err)
	}
	c.clients = append(c.clients, cl)
	rootFS, err := goferfs.New(p.m.v, cl, p.m.mf, goferfs.Options{})
	if err != nil {
		return c.errorf("root filesystem: %w", err)
	}
	root, err := p.mountHidden("/"+c.id, rootFS, "none", vfs.MountFlags{ReadOnly: req.RootReadOnly})
	if err != nil {
		return c.errorf("root filesystem: %w", err)
	}
	c.hidden = append(c.hidden, "/"+c.id)
	c.root = root
	b := &mountBuilder{c: c}
	if req.RootReadOnly {
		// A writable view of the same tree, to make mount points in.
		rw, err := p.mountHidden("/."+c.id+"/rw", rootFS, "none", vfs.MountFlags{})
		if err != nil {
			return c.errorf("root filesystem: %w", err)
		}
		c.hidden = append(c.hidden, "/."+c.id+"/rw")
		b.rw = rw
		defer func() {
			rw.DecRef()
			c.unmountHidden("/." + c.id + "/rw")
		}()
	}
	if err := b.mountAll(req.Mounts, mountFs); err != nil {
		return err
	}
	if err := b.readonlyPaths(req.ReadonlyPaths); err != nil {
		return err
	}
	if err := b.maskPaths(req.MaskedPaths); err != nil {
		return err
	}
	if req.Hostname != "" {
		p.m.k.SetHostname(req.Hostname)
	}
	p.mu.Lock()
	p.byKernel[c.kc] = c
	p.mu.Unlock()
	return nil
}

// mountBuilder mounts a container's filesystems.
type mountBuilder struct {
	c *container
	// rw is a writable view of a read-only root (zero otherwise).
	rw vfs.VirtualDentry
	// done are the destinations mounted so far.
	done []string
	// volumes counts hidden volume mounts.
	volumes int
}

// mountSpec is one mount to make, with its gofer connection if any.
type mountSpec struct {
	control.Mount
	gofer *os.File
}

// defaultMounts are the kernel filesystems every container gets unless the
// request mounts something at the same place.
var defaultMounts = []control.Mount{
	{Destination: "/proc", Type: "proc", GoferFD: -1},
	{Destination: "/sys", Type: "sysfs", GoferFD: -1, ReadOnly: true},
	{Destination: "/dev", Type: "dev", GoferFD: -1},
	{Destination: "/dev/shm", Type: "podshm", GoferFD: -1},
}

// mountAll mounts the defaults and the request's mounts, parents before
// children (a stable sort by depth, as containerd orders OCI mounts).
func (b *mountBuilder) mountAll(reqMounts []control.Mount, gofers []*os.File) error {
	var all []mountSpec
	given := map[string]bool{}
	for i, m := range reqMounts {
		if !path.IsAbs(m.Destination) {
			for _, f := range gofers[i:] {
				if f != nil {
					f.Close()
				}
			}
			return b.c.errorf("mount destination %q is not an absolute path: %w", m.Destination, unix.EINVAL)
		}
		m.Destination = path.Clean(m.Destination)
		given[m.Destination] = true
		all = append(all, mountSpec{m, gofers[i]})
	}
	var defaults []mountSpec
	for _, m := range defaultMounts {
		if !given[m.Destination] {
			defaults = append(defaults, mountSpec{Mount: m})
		}
	}
	all = append(defaults, all...)
	sort.SliceStable(all, func(i, j int) bool { return depth(all[i].Destination) < depth(all[j].Destination) })
	for i, m := range all {
		if err := b.mount(m); err != nil {
			for _, r := range all[i+1:] {
				if r.gofer != nil {
					r.gofer.Close()
				}
			}
			return err
		}
	}
	return nil
}

func depth(p string) int {
	if p == "/" {
		return 0
	}
	return strings.Count(p, "/")
}

// mount makes one mount.
func (b *mountBuilder) mount(m mountSpec) error {
	c := b.c
	p := c.p
	v := p.m.v
	mf := p.m.mf
	flags := vfs.MountFlags{ReadOnly: m.ReadOnly}
	var fsOpts []string
	for _, o := range m.Options {
		switch o {
		case "ro":
			flags.ReadOnly = true
		case "rw":
			flags.ReadOnly = m.ReadOnly
		case "nosuid":
			flags.NoSuid = true
		case "nodev":
			flags.NoDev = true
		case "noexec":
			flags.NoExec = true
		case "bind", "rbind", "rprivate", "private", "rslave", "slave", "shared", "rshared", "suid", "dev", "exec", "relatime", "strictatime", "noatime", "nodiratime":
		default:
			fsOpts = append(fsOpts, o)
		}
	}
	dest := m.Destination
	var fs *vfs.Filesystem
	var src vfs.VirtualDentry // a bind source, with a reference
	source := m.Type
	switch m.Type {
	case "proc":
		fs = proc.New(v, p.m.k, proc.Options{Release: syscalls.Release, Sysctls: p.sysctls})
		flags.NoSuid, flags.NoDev, flags.NoExec = true, true, true
	case "sysfs":
		fs = sysfs.New(v, 0)
		flags.NoSuid, flags.NoDev, flags.NoExec = true, true, true
		source = "sysfs"
	case "dev":
		var err error
		if fs, err = dev.New(v, mf); err != nil {
			return c.errorf("mount dev on %s: %w", dest, err)
		}
		p.registerTTY() // dev.New put back the placeholder /dev/tty
		flags.NoSuid = true
	case "tmpfs":
		o, err := tmpfs.ParseOptions(strings.Join(fsOpts, ","), p.m.mf.Size())
		if err != nil {
			return c.errorf("mount tmpfs on %s: options %q: %w", dest, strings.Join(m.Options, ","), err)
		}
		fs = tmpfs.New(v, mf, o)
	case "podshm":
		p.shm.IncRef()
		src = p.shm
		source = "shm"
		flags.NoSuid, flags.NoDev = true, true
	case "bind":
		var err error
		if m.gofer != nil && strings.Trim(path.Clean("/"+m.Source), "/") == "" {
			// The gofer serves the volume itself: mount it directly.
			if fs, err = b.goferFS(m); err != nil {
				return err
			}
		} else if src, err = b.bindSource(m); err != nil {
			return err
		}
		source = m.Source
		if source == "" {
			source = "none"
		}
	case "devpts", "mqueue", "cgroup", "cgroup2":
		// Not provided in the sandbox: /dev/pts stays an empty
		// directory; terminals are host ptys the daemon passes in.
		p.log.Debug("mount skipped", "container", c.id, "type", m.Type, "destination", dest)
		return nil
	default:
		return c.errorf("mount %s: unknown type %q: %w", dest, m.Type, unix.EINVAL)
	}
	isDir := true
	if src.Ok() {
		defer src.DecRef()
		st, err := src.Dentry.Inode().Stat(rootCtx)
		if err != nil {
			return c.errorf("mount %s: stat of source %q: %w", dest, m.Source, err)
		}
		isDir = st.Mode&linux.S_IFMT == linux.S_IFDIR
	}
	if err := b.mountPoint(dest, isDir); err != nil {
		return err
	}
	pop := &vfs.PathOperation{Root: c.root, Start: c.root, Path: dest, FollowFinalSymlink: true}
	var err error
	if src.Ok() {
		err = v.BindMountAt(rootCtx, src, pop, flags)
	} else {
		err = v.MountAt(rootCtx, pop, fs, source, flags)
	}
	if err != nil {
		return c.errorf("mount %s (%s) on %s: %w", source, m.Type, dest, err)
	}
	b.done = append(b.done, dest)
	return nil
}

// bindSource returns the source of a bind mount with a reference: Source
// below the root of the mount's gofer connection, or of the pod's gofer
// when the mount has none.
func (b *mountBuilder) bindSource(m mountSpec) (vfs.VirtualDentry, error) {
	c := b.c
	p := c.p
	rel := strings.TrimPrefix(path.Clean("/"+m.Source), "/")
	for _, part := range strings.Split(m.Source, "/") {
		if part == ".." {
			if m.gofer != nil {
				m.gofer.Close()
			}
			return vfs.VirtualDentry{}, c.errorf("bind mount %s: source %q has a \"..\": %w", m.Destination, m.Source, unix.EINVAL)
		}
	}
	var base vfs.VirtualDentry
	if m.gofer != nil {
		fs, err := b.goferFS(m)
		if err != nil {
			return vfs.VirtualDentry{}, err
		}
		b.volumes++
		hidden := fmt.Sprintf("/.%s/v%d", c.id, b.volumes)
		if base, err = p.mountHidden(hidden, fs, "none", vfs.MountFlags{ReadOnly: m.ReadOnly}); err != nil {
			return vfs.VirtualDentry{}, c.errorf("bind mount %s: %w", m.Destination, err)
		}
		c.hidden = append(c.hidden, hidden)
	} else {
		if !p.podGofer.Ok() {
			return vfs.VirtualDentry{}, c.errorf("bind mount %s: no gofer connection (goferFD -1 and the pod has no gofer): %w", m.Destination, unix.EBADF)
		}
		base = p.podGofer
		base.IncRef()
	}
	if rel == "" {
		return base, nil
	}
	defer base.DecRef()
	src, err := p.m.v.GetDentryAt(rootCtx, &vfs.PathOperation{Root: base, Start: base, Path: rel}, vfs.GetDentryOptions{})
	if err != nil {
		return vfs.VirtualDentry{}, c.errorf("bind mount %s: source %q: %w", m.Destination, m.Source, err)
	}
	return src, nil
}

// goferFS returns a filesystem over the mount's gofer connection (which it
// takes); the container closes the connection on removal.
func (b *mountBuilder) goferFS(m mountSpec) (*vfs.Filesystem, error) {
	c := b.c
	fd, err := takeFD(m.gofer)
	if err != nil {
		return nil, c.errorf("bind mount %s: gofer connection: %w", m.Destination, err)
	}
	cl, err := client.NewFD(fd)
	if err != nil {
		return nil, c.errorf("bind mount %s: gofer connection: %w", m.Destination, err)
	}
	c.clients = append(c.clients, cl)
	// A volume has other writers (the host, the kubelet, other containers
	// mounting it through gofers of their own): shared mode.
	fs, err := goferfs.New(c.p.m.v, cl, c.p.m.mf, goferfs.Options{ReadOnly: m.ReadOnly, Shared: true})
	if err != nil {
		return nil, c.errorf("bind mount %s: gofer root: %w", m.Destination, err)
	}
	return fs, nil
}

// mountPoint makes sure dest exists in the container as a directory (or a
// file, for a file bind mount), creating what is missing as runc does. In a
// read-only root, a mount point that lies on the root filesystem itself is
// made through the writable view b.rw.
func (b *mountBuilder) mountPoint(dest string, isDir bool) error {
	c := b.c
	v := c.p.m.v
	pop := &vfs.PathOperation{Root: c.root, Start: c.root, Path: dest, FollowFinalSymlink: true}
	if _, err := v.StatAt(rootCtx, pop); err == nil {
		return nil
	} else if err != unix.ENOENT {
		return c.errorf("mount point %s: %w", dest, err)
	}
	base := c.root
	if b.rw.Ok() && !b.underMount(dest) {
		base = b.rw
	}
	if err := c.mkdirAll(base, path.Dir(dest)); err != nil {
		return c.errorf("creating mount point %s: %w", dest, err)
	}
	cpop := &vfs.PathOperation{Root: base, Start: base, Path: dest, FollowFinalSymlink: true}
	var err error
	if isDir {
		err = v.MkdirAt(rootCtx, cpop, 0o755)
	} else {
		var f *vfs.FileDescription
		f, err = v.OpenAt(rootCtx, cpop, vfs.OpenOptions{Flags: unix.O_CREAT | unix.O_WRONLY, Mode: 0o644})
		if err == nil {
			f.DecRef(rootCtx)
		}
	}
	if err != nil && err != unix.EEXIST {
		return c.errorf("creating mount point %s: %w", dest, err)
	}
	return nil
}

// underMount reports whether dest lies below a mount already made.
func (b *mountBuilder) underMount(dest string) bool {
	for _, d := range b.done {
		if d == "/" || strings.HasPrefix(dest, d+"/") {
			return true
		}
	}
	return false
}

// mkdirAll creates dir and its missing parents below base (0755, root).
func (c *container) mkdirAll(base vfs.VirtualDentry, dir string) error {
	v := c.p.m.v
	cur := ""
	for _, part := range strings.Split(dir, "/") {
		if part == "" {
			continue
		}
		cur += "/" + part
		pop := &vfs.PathOperation{Root: base, Start: base, Path: cur, FollowFinalSymlink: true}
		if err := v.MkdirAt(rootCtx, pop, 0o755); err != nil && err != unix.EEXIST {
			return err
		}
	}
	return nil
}

// teardown unmounts the container's hidden mounts (its root with
// everything below, its volumes) and removes their directories.
func (c *container) teardown() {
	if c.root.Ok() {
		c.root.DecRef()
		c.root = vfs.VirtualDentry{}
	}
	for i := len(c.hidden) - 1; i >= 0; i-- {
		c.unmountHidden(c.hidden[i])
	}
	c.hidden = nil
	p := c.p
	for _, d := range []string{"/." + c.id, "/" + c.id} {
		p.m.v.RmdirAt(rootCtx, &vfs.PathOperation{Root: p.root, Start: p.root, Path: d})
	}
}

// unmountHidden detaches the mount at hidden path d and removes d.
func (c *container) unmountHidden(d string) {
	p := c.p
	v := p.m.v
	pop := &vfs.PathOperation{Root: p.root, Start: p.root, Path: d}
	if err := v.UmountAt(rootCtx, pop, unix.MNT_DETACH); err != nil {
		p.log.Debug("unmount", "container", c.id, "path", d, "err", err)
	}
	v.RmdirAt(rootCtx, pop)
	for i, h := range c.hidden {
		if h == d {
			c.hidden = append(c.hidden[:i], c.hidden[i+1:]...)
			break
		}
	}
}
