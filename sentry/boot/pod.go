package boot

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/gofer/client"
	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/dev"
	goferfs "github.com/runsc-cri/runsc-cri/sentry/fsimpl/gofer"
	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/host"
	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/proc"
	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/tmpfs"
	"github.com/runsc-cri/runsc-cri/sentry/kernel"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// Pod sentries.
//
// `runsc-cri boot --pod` builds a kernel with no process and serves the
// control protocol (package sentry/control) on a unix socket; the CRI
// daemon then creates, starts, execs into and removes containers through
// it. All containers of the pod are process trees of this one kernel
// (kernel.Container).
//
// The mount tree. The kernel's root is a hidden tmpfs that no process ever
// has as its root:
//
//	/                 hidden sandbox root (tmpfs)
//	/.shm             the pod's /dev/shm (one tmpfs, bound into every
//	                  container: the pod shares IPC as in Kubernetes)
//	/.pod             the pod gofer's tree, if PodSpec.GoferFD is set
//	/<id>             container <id>'s root filesystem (its gofer), with
//	                  /proc, /sys (ro), /dev (+ /dev/shm) and the request's
//	                  mounts below it
//	/.<id>/v<N>       gofer volumes of container <id> whose Source is a
//	                  path inside the gofer's tree (bound from here)
//	/.<id>/rw         while a read-only container root is being set up: a
//	                  writable mount of the same filesystem, to create
//	                  missing mount points as runc does
//
// A container's processes have /<id> as their FSContext root (the chroot
// barrier), so paths, getcwd and /proc/self/root are the container's own.
//
// Known differences from containerd + runc: one PID namespace for the
// whole pod (like shareProcessNamespace: every container sees and may
// signal every process, kill(-1) included; with NamespaceMode POD the
// pod's PID 1 is an infra process, pod_infra.go, otherwise the first
// container's init is PID 1 and later containers' inits are not); the UTS hostname is the pod's;
// devpts and mqueue mounts are skipped (/dev/pts is an empty directory;
// terminals are host ptys: an exec'd process's is passed in by the daemon,
// a container init's with a tty is opened by the sentry, which keeps the
// master, see pod_attach.go).
//
// Locking: Pod.mu guards the container maps; container.mu guards a
// container's state; container.ttyMu guards its terminals. Pod.mu is taken
// before container.mu; neither is held across a call that waits for
// processes.

// PodSpec describes a pod sentry (the JSON file of `boot --pod --spec`).
type PodSpec struct {
	// Platform names the platform ("ptrace").
	Platform string `json:"platform"`
	// MemoryLimit is the most application memory the pod may use, in
	// bytes (the size of the memory file).
	MemoryLimit uint64 `json:"memoryLimit"`
	// MaxTasks bounds the number of threads in the pod.
	MaxTasks int `json:"maxTasks"`
	// Hostname is the pod's UTS hostname.
	Hostname string `json:"hostname"`
	// Debug logs every system call.
	Debug bool `json:"debug"`
	// GoferFD, if not 0, is an inherited connection to a gofer serving
	// the pod's own files (hosts, resolv.conf, emptyDir volumes...): bind
	// mounts with GoferFD -1 take their Source below its root.
	GoferFD int `json:"goferFD,omitempty"`
	// Sysctls are the pod's kernel parameters ("kernel.shm_rmid_forced"
	// or "kernel/shm_rmid_forced" → value), set in the pod's /proc/sys
	// before any container exists; one the sentry does not have (or
	// cannot change) fails the start.
	Sysctls map[string]string `json:"sysctls,omitempty"`
	// InfraInit starts the pod's infra process as PID 1 (pod_infra.go):
	// for pods whose containers share one PID namespace.
	InfraInit bool `json:"infraInit,omitempty"`
}

// Pod is a running pod sentry.
type Pod struct {
	m    *machine
	log  *slog.Logger
	spec PodSpec

	// root is the hidden sandbox root; shm the pod's /dev/shm; podGofer
	// the pod gofer's root (zero without one). Each holds a reference.
	root, shm, podGofer vfs.VirtualDentry
	podClient           *client.Client
	// sysctls are the pod's /proc/sys values, shared by the procfs of
	// every container.
	sysctls *proc.Sysctls
	// maskOnce makes the hidden /.mask tmpfs (pod_security.go) on first
	// use; maskErr is its outcome.
	maskOnce sync.Once
	maskErr  error

	mu         sync.Mutex
	containers map[string]*container
	byKernel   map[*kernel.Container]*container
	// removedCPU is the CPU time of removed containers (ns).
	removedCPU int64

	// shutdown is closed by Shutdown.
	shutdown     chan struct{}
	shutdownOnce sync.Once
}

// StartPod builds a pod sentry with no process.
func StartPod(spec PodSpec, log *slog.Logger) (p *Pod, retErr error) {
	m, err := newMachine(machineConfig{
		Platform:    spec.Platform,
		MemoryLimit: spec.MemoryLimit,
		MaxTasks:    spec.MaxTasks,
		Hostname:    spec.Hostname,
		Debug:       spec.Debug,
	}, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			m.close()
		}
	}()
	sysctls := proc.NewSysctls()
	for name, value := range spec.Sysctls {
		if err := sysctls.Set(name, value); err != nil {
			return nil, fmt.Errorf("sysctl %s=%q: the sandbox cannot set it: %w", name, value, err)
		}
	}
	p = &Pod{
		m:          m,
		log:        log,
		spec:       spec,
		sysctls:    sysctls,
		containers: map[string]*container{},
		byKernel:   map[*kernel.Container]*container{},
		shutdown:   make(chan struct{}),
	}
	v := m.v
	p.root = v.MountRoot(tmpfs.New(v, m.mf, tmpfs.Options{RootMode: 0o700}), "none", vfs.MountFlags{})
	shmVD, err := p.mountHidden("/.shm", tmpfs.New(v, m.mf, tmpfs.Options{RootMode: 0o1777}), "shm", vfs.MountFlags{NoSuid: true, NoDev: true})
	if err != nil {
		return nil, err
	}
	p.shm = shmVD
	if spec.GoferFD > 0 {
		c, err := client.NewFD(spec.GoferFD)
		if err != nil {
			return nil, fmt.Errorf("pod gofer (fd %d): %w", spec.GoferFD, err)
		}
		fs, err := goferfs.New(v, c, m.mf, goferfs.Options{Shared: true})
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("pod gofer (fd %d): %w", spec.GoferFD, err)
		}
		p.podClient = c
		if p.podGofer, err = p.mountHidden("/.pod", fs, "none", vfs.MountFlags{}); err != nil {
			c.Close()
			return nil, err
		}
	}
	p.registerTTY()
	setupNetwork(v, sysctls)
	if spec.InfraInit {
		if err := p.startInfra(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// mountHidden mounts fs at a new directory path of the hidden root and
// returns the mount's root with a reference.
func (p *Pod) mountHidden(path string, fs *vfs.Filesystem, source string, flags vfs.MountFlags) (vfs.VirtualDentry, error) {
	v := p.m.v
	cur := ""
	for _, part := range strings.Split(strings.TrimPrefix(path, "/"), "/") {
		cur += "/" + part
		pop := &vfs.PathOperation{Root: p.root, Start: p.root, Path: cur}
		if err := v.MkdirAt(rootCtx, pop, 0o700); err != nil && err != unix.EEXIST {
			return vfs.VirtualDentry{}, fmt.Errorf("mkdir %s: %w", cur, err)
		}
	}
	pop := &vfs.PathOperation{Root: p.root, Start: p.root, Path: path}
	vd, err := v.GetDentryAt(rootCtx, pop, vfs.GetDentryOptions{})
	if err != nil {
		return vfs.VirtualDentry{}, fmt.Errorf("%s: %w", path, err)
	}
	defer vd.DecRef()
	mnt := v.MountAtVD(vd, fs, source, flags)
	r := mnt.Root()
	r.IncRef()
	return r, nil
}

// Kernel returns the pod's kernel.
func (p *Pod) Kernel() *kernel.Kernel { return p.m.k }

// lookup returns container id or an ENOENT error naming it.
func (p *Pod) lookup(id string) (*container, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.containers[id]
	if c == nil {
		return nil, fmt.Errorf("container %q: no such container in this pod: %w", id, unix.ENOENT)
	}
	return c, nil
}

// registerTTY makes /dev/tty open the controlling terminal of the caller's
// session: the pty of the container's init (opened by the sentry) or of
// an exec'd process started with Terminal (passed in by the daemon). Without one it answers ENXIO, as Linux
// does for a process without a controlling terminal. dev.New registers a
// placeholder, so this runs again after every /dev is made.
func (p *Pod) registerTTY() {
	v := p.m.v
	v.RegisterCharDevice(dev.TTYAuxMajor, dev.TTYMinor, func(ctx vfs.Context, vd vfs.VirtualDentry, flags uint32) (vfs.FileImpl, error) {
		t, ok := ctx.(*kernel.Task)
		if !ok {
			return nil, unix.ENXIO
		}
		tg := t.ThreadGroup()
		p.mu.Lock()
		c := p.byKernel[tg.Container()]
		p.mu.Unlock()
		if c == nil {
			return nil, unix.ENXIO
		}
		_, sid := tg.GroupIDs()
		c.ttyMu.Lock()
		tty := c.ttys[sid]
		c.ttyMu.Unlock()
		if tty == nil {
			return nil, unix.ENXIO
		}
		dup, err := unix.FcntlInt(tty.Fd(), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil, unix.ENXIO
		}
		f, err := host.NewFile(v, dup, flags&(unix.O_ACCMODE|unix.O_NONBLOCK))
		if err != nil {
			unix.Close(dup)
			return nil, err
		}
		// f is only a carrier: the caller wraps the implementation in
		// a description of its own, whose release closes dup.
		return f.Impl(), nil
	})
}

// Shutdown kills every process and marks the pod as ending; Done is then
// closed.
func (p *Pod) Shutdown() {
	p.shutdownOnce.Do(func() {
		p.m.k.KillAll()
		p.mu.Lock()
		cs := make([]*container, 0, len(p.containers))
		for _, c := range p.containers {
			cs = append(cs, c)
		}
		p.mu.Unlock()
		for _, c := range cs {
			c.abandon()
		}
		// Give the killed tasks a moment to leave their address spaces
		// before the platform goes away (they are SIGKILLed: this is
		// quick; the bound only matters for a wedged task).
		deadline := time.After(5 * time.Second)
		for _, c := range cs {
			if !c.hasStarted() {
				continue
			}
			select {
			case <-c.kc.Done():
			case <-deadline:
			}
		}
		close(p.shutdown)
	})
}

// Done is closed once Shutdown has killed everything.
func (p *Pod) Done() <-chan struct{} { return p.shutdown }

// Destroy releases the platform and the memory file (after Shutdown).
func (p *Pod) Destroy() {
	p.mu.Lock()
	cs := make([]*container, 0, len(p.containers))
	for _, c := range p.containers {
		cs = append(cs, c)
	}
	p.mu.Unlock()
	for _, c := range cs {
		c.releaseFiles()
	}
	if p.podClient != nil {
		p.podClient.Close()
	}
	teardownNetwork(p.m.v)
	p.m.close()
}

// takeFD turns a received *os.File into a raw fd owned by the caller (for
// APIs that take ownership of an int fd).
func takeFD(f *os.File) (int, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	f.Close()
	return fd, err
}
