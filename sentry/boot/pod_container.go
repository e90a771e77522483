package boot

import (
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/gofer/client"
	"github.com/runsc-cri/runsc-cri/sentry/control"
	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/pipe"
	"github.com/runsc-cri/runsc-cri/sentry/kernel"
	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// Container states (container.state):
//
//	created ──StartContainer──► running ──init exits──► (kc.Done)
//	   │            │
//	   │            └─ start fails ──► failed
//	   └──────── RemoveContainer / Shutdown ──► removed (from any state)
const (
	stateCreated = iota
	stateRunning
	stateFailed
	stateRemoved
)

// container is one container of the pod.
type container struct {
	p    *Pod
	id   string
	kc   *kernel.Container
	proc control.Process

	// root is the container's root (with a reference).
	root vfs.VirtualDentry
	// hidden are the mounts of the hidden tree to take down on removal,
	// innermost last; clients the gofer connections to close.
	hidden  []string
	clients []*client.Client
	log     *criLog
	// stdio are the init's fds (nil: none), owned until the start.
	stdio [3]*os.File
	// att is Attach's state (pod_attach.go), made at the start (mu).
	att *attachIO

	// mu guards state, startErr and stdio.
	mu       sync.Mutex
	state    int
	startErr error
	// settled is closed when the container leaves stateCreated.
	settled chan struct{}

	// ttyMu guards ttys: the host ptys of sessions (by session id) that
	// have a terminal, as given to Start/Exec (the container owns them).
	ttyMu sync.Mutex
	ttys  map[kernel.ThreadID]*os.File
}

// errorf returns an error naming the container and carrying errno (a
// unix.Errno found in err, for %w).
func (c *container) errorf(format string, args ...any) error {
	return fmt.Errorf("container %q: "+format, append([]any{c.id}, args...)...)
}

// hasStarted reports whether StartContainer started init.
func (c *container) hasStarted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == stateRunning || (c.state == stateRemoved && c.kc.Init() != nil)
}

// abandon moves a container that never started to stateRemoved (waking
// its waiters) and closes the fds it kept for a start.
func (c *container) abandon() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateCreated {
		close(c.settled)
	}
	c.state = stateRemoved
	for i, f := range c.stdio {
		if f != nil {
			f.Close()
			c.stdio[i] = nil
		}
	}
}

// releaseFiles closes what the container holds on the host: gofer
// connections, log file, terminals.
func (c *container) releaseFiles() {
	for _, cl := range c.clients {
		cl.Close()
	}
	c.clients = nil
	c.log.close()
	c.closeAttach()
	c.ttyMu.Lock()
	for sid, f := range c.ttys {
		f.Close()
		delete(c.ttys, sid)
	}
	c.ttyMu.Unlock()
}

// start starts the container's init process.
func (c *container) start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state {
	case stateRunning:
		return c.errorf("already started: %w", unix.EBUSY)
	case stateFailed:
		return c.errorf("start already failed (%v): %w", c.startErr, unix.EINVAL)
	case stateRemoved:
		return c.errorf("removed: %w", unix.ENOENT)
	}
	stdio := c.stdio
	c.stdio = [3]*os.File{}
	stdio, err := c.prepareAttach(stdio)
	if err == nil {
		_, err = c.startProcess(c.proc, stdio, true)
	}
	c.attachStarted(err)
	for _, f := range stdio {
		if f != nil {
			f.Close()
		}
	}
	if err != nil {
		c.state = stateFailed
		c.startErr = err
	} else {
		c.state = stateRunning
	}
	close(c.settled)
	return err
}

// startProcess starts proc in the container with stdio (nil entries: none;
// the caller keeps ownership of the files). withLog sends stdout and stderr
// without fds to the container's log (init only).
func (c *container) startProcess(proc control.Process, stdio [3]*os.File, withLog bool) (*kernel.ThreadGroup, error) {
	p := c.p
	v := p.m.v
	if len(proc.Args) == 0 {
		return nil, c.errorf("no command to run: %w", unix.EINVAL)
	}
	creds := processCreds(proc)
	bctx := bootContext{creds}

	fsc := vfs.NewFSContext(c.root, c.root)
	ok := false
	defer func() {
		if !ok {
			fsc.DecRef()
		}
	}()
	if proc.Cwd != "" && proc.Cwd != "/" {
		if err := c.chdir(fsc, bctx, proc.Cwd); err != nil {
			return nil, err
		}
	}
	filename, err := lookPath(v, fsc, bctx, proc.Args[0], proc.Env)
	if err != nil {
		return nil, c.errorf("starting %q: executable file not found in the container's PATH: %w", proc.Args[0], err)
	}
	var filter *kernel.SeccompFilter
	if len(proc.Seccomp) > 0 {
		if filter, err = kernel.DecodeSeccompFilter(proc.Seccomp); err != nil {
			return nil, c.errorf("seccomp filter: %w", err)
		}
	}
	umask := uint32(0o022)
	if proc.Umask != nil {
		umask = *proc.Umask
	}
	fsc.SwapUmask(umask)

	fdt := vfs.NewFDTable()
	defer func() {
		if !ok {
			fdt.DecRef()
		}
	}()
	var tty *os.File
	var readers []func()
	if proc.Terminal {
		if stdio[0] == nil {
			return nil, c.errorf("terminal: no pty slave fd given as stdin: %w", unix.EBADF)
		}
		if _, err := unix.IoctlGetTermios(int(stdio[0].Fd()), unix.TCGETS); err != nil {
			return nil, c.errorf("terminal: the stdin fd is not a tty: %w", unix.ENOTTY)
		}
		dup, err := unix.FcntlInt(stdio[0].Fd(), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil, c.errorf("terminal: %w", err)
		}
		tty = os.NewFile(uintptr(dup), "tty")
		f, err := newHostFile(v, dup)
		if err != nil {
			tty.Close()
			return nil, c.errorf("terminal: %w", err)
		}
		for i := int32(0); i < 3; i++ {
			fdt.NewFD(i, f, vfs.FDFlags{}, 1<<20)
		}
		f.DecRef(rootCtx)
	} else {
		for i := range 3 {
			var f *vfs.FileDescription
			var err error
			switch {
			case stdio[i] != nil:
				f, err = newHostFile(v, int(stdio[i].Fd()))
			case i > 0 && withLog:
				var r *vfs.FileDescription
				r, f = pipe.NewConnectedFiles(rootCtx, v, 0)
				stream := "stdout"
				if i == 2 {
					stream = "stderr"
				}
				pr := newPipeReader(r)
				readers = append(readers, func() {
					c.log.copyStream(stream, pr)
					pr.Close()
				})
			default:
				f, err = c.openNull(i > 0)
			}
			if err != nil {
				for _, r := range readers {
					go r() // they see EOF once fdt is released
				}
				return nil, c.errorf("stdio %d: %w", i, err)
			}
			if _, err := fdt.NewFD(int32(i), f, vfs.FDFlags{}, 1<<20); err != nil {
				f.DecRef(rootCtx)
				return nil, c.errorf("stdio %d: %w", i, err)
			}
			f.DecRef(rootCtx)
		}
	}
	for _, r := range readers {
		go r()
	}

	// Hold ttyMu across the start so a /dev/tty open by the new process
	// waits until its session's terminal is registered.
	c.ttyMu.Lock()
	defer c.ttyMu.Unlock()
	tg, _, err := p.m.k.StartProcess(kernel.ProcessArgs{
		Filename:    filename,
		Argv:        proc.Args,
		Envv:        proc.Env,
		Credentials: creds,
		FDTable:     fdt,
		FSContext:   fsc,
		Container:   c.kc,
		Seccomp:     filter,
	})
	if err != nil {
		if tty != nil {
			tty.Close()
		}
		return nil, c.errorf("starting %q: %w", filename, err)
	}
	ok = true
	if tty != nil {
		if old := c.ttys[tg.ID()]; old != nil {
			old.Close()
		}
		c.ttys[tg.ID()] = tty
	}
	return tg, nil
}

// chdir sets fsc's working directory to cwd, creating it if it is missing
// (as runc does).
func (c *container) chdir(fsc *vfs.FSContext, ctx vfs.Context, cwd string) error {
	v := c.p.m.v
	get := func() (vfs.VirtualDentry, error) {
		pop := fsc.PathOp(vfs.VirtualDentry{}, cwd, true)
		defer pop.Release()
		return v.GetDentryAt(ctx, pop, vfs.GetDentryOptions{CheckSearchable: true})
	}
	vd, err := get()
	if err == unix.ENOENT {
		if merr := c.mkdirAll(c.root, cwd); merr == nil {
			vd, err = get()
		}
	}
	if err != nil {
		return c.errorf("working directory %s: %w", cwd, err)
	}
	fsc.SetCwd(vd)
	vd.DecRef()
	return nil
}

// openNull opens the container's /dev/null.
func (c *container) openNull(write bool) (*vfs.FileDescription, error) {
	flags := uint32(unix.O_RDONLY)
	if write {
		flags = unix.O_WRONLY
	}
	pop := &vfs.PathOperation{Root: c.root, Start: c.root, Path: "/dev/null", FollowFinalSymlink: true}
	return c.p.m.v.OpenAt(rootCtx, pop, vfs.OpenOptions{Flags: flags})
}

// tty returns the terminal of process pid's session (0: init's).
func (c *container) tty(pid int) (*os.File, kernel.ThreadID, error) {
	id := kernel.ThreadID(pid)
	if pid == 0 {
		init := c.kc.Init()
		if init == nil {
			return nil, 0, c.errorf("not started: %w", unix.ESRCH)
		}
		id = init.ID()
	}
	c.ttyMu.Lock()
	defer c.ttyMu.Unlock()
	f := c.ttys[id]
	if f == nil {
		return nil, 0, c.errorf("process %d has no terminal: %w", id, unix.ENOTTY)
	}
	return f, id, nil
}

// resize sets the window size of process pid's terminal and sends SIGWINCH
// to the terminal's foreground process group.
func (c *container) resize(pid int, width, height uint16) error {
	f, sid, err := c.tty(pid)
	if err != nil {
		return err
	}
	ws := &unix.Winsize{Row: height, Col: width}
	if err := unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, ws); err != nil {
		return c.errorf("resize: %w", err)
	}
	// The foreground group is kept by the sandbox's tty file (TIOCSPGRP
	// from a shell); the session leader's group is the default.
	fg := kernel.ThreadID(sid)
	if pg := c.foregroundGroup(sid); pg > 0 {
		fg = pg
	}
	for _, tg := range c.kc.Processes() {
		pgid, s := tg.GroupIDs()
		if pgid == fg && s == sid {
			tg.SendGroupSignal(&linux.SignalInfo{Signo: int32(linux.SIGWINCH), Code: linux.SI_KERNEL})
		}
	}
	return nil
}

// foregroundGroup asks the stdin of session leader sid (the terminal file
// it was started with) for its foreground process group, as TIOCGPGRP
// would. 0 when unknown.
func (c *container) foregroundGroup(sid kernel.ThreadID) kernel.ThreadID {
	leader := c.p.m.k.ThreadGroupByID(sid)
	if leader == nil {
		return 0
	}
	l := leader.Leader()
	if l == nil {
		return 0
	}
	fdt := l.FDTable()
	if fdt == nil {
		return 0
	}
	f, _ := fdt.Get(0)
	if f == nil {
		return 0
	}
	defer f.DecRef(rootCtx)
	ctx := &ioctlBuf{}
	if _, err := f.Ioctl(ctx, unix.TIOCGPGRP, 0); err != nil || len(ctx.out) < 4 {
		return 0
	}
	return kernel.ThreadID(int32(binary.LittleEndian.Uint32(ctx.out)))
}

// ioctlBuf is an IoctlContext whose "application memory" is a buffer.
type ioctlBuf struct {
	out []byte
}

func (*ioctlBuf) Credentials() *auth.Credentials { return rootCtx.creds }
func (*ioctlBuf) CopyIn(addr uintptr, dst []byte) (int, error) {
	return 0, unix.EFAULT
}
func (b *ioctlBuf) CopyOut(addr uintptr, src []byte) (int, error) {
	b.out = append(b.out[:0], src...)
	return len(src), nil
}

// validID checks a container id: it names a directory of the hidden root.
func validID(id string) error {
	if id == "" || len(id) > 128 || strings.ContainsAny(id, "/\x00") || strings.HasPrefix(id, ".") {
		return fmt.Errorf("container %q: invalid id (1 to 128 bytes, no '/', not starting with '.'): %w", id, unix.EINVAL)
	}
	return nil
}
