package ptrace

import (
	"fmt"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/platform"
)

// controller is a goroutine locked to its own OS thread. That thread traces
// the master stub and the first ("control") thread of every stub process,
// so every operation on those threads runs on it: creating stubs, injecting
// mmap/munmap/clone, killing and reaping stubs.
type controller struct {
	reqs chan *request

	// Owned by the controller goroutine.
	memfd    int
	batch    *batchFile
	elfFD    int  // memfd holding stubImage, to exec
	master   int  // pid of the master stub
	forkMode bool // new stubs are forked from the master (else exec'd)

	// vdso is where the master stub keeps the host vDSO (vdso.go); vdsoOK
	// says whether it does. Set by init (before startController returns),
	// read-only afterwards.
	vdso   platform.VDSO
	vdsoOK bool
}

type request struct {
	fn   func()
	done chan struct{}
}

var requestPool = sync.Pool{New: func() any { return &request{done: make(chan struct{}, 1)} }}

// post queues fn to run on the controller thread and does not wait.
func (c *controller) post(fn func()) {
	c.reqs <- &request{fn: fn}
}

// do runs fn on the controller thread and waits for it.
func (c *controller) do(fn func()) {
	r := requestPool.Get().(*request)
	r.fn = fn
	c.reqs <- r
	<-r.done
	r.fn = nil
	requestPool.Put(r)
}

// startController starts the controller goroutine and the master stub.
func startController(memfd int, forkMode bool) (*controller, error) {
	c := &controller{reqs: make(chan *request, 64), memfd: memfd, elfFD: -1, forkMode: forkMode}
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread is the tracer of every stub leader;
		// when the goroutine returns the thread exits and PTRACE_O_EXITKILL
		// kills whatever it still traced.
		runtime.LockOSThread()
		err := c.init()
		errc <- err
		if err != nil {
			return
		}
		for r := range c.reqs {
			if r.fn == nil { // shutdown
				r.done <- struct{}{}
				return
			}
			r.fn()
			if r.done != nil {
				r.done <- struct{}{}
			}
		}
	}()
	if err := <-errc; err != nil {
		return nil, err
	}
	return c, nil
}

func (c *controller) init() error {
	fd, err := unix.MemfdCreate("runsc-stub", unix.MFD_CLOEXEC|unix.MFD_EXEC)
	if err == unix.EINVAL {
		fd, err = unix.MemfdCreate("runsc-stub", unix.MFD_CLOEXEC)
	}
	if err != nil {
		return fmt.Errorf("memfd_create for the stub: %w", err)
	}
	if _, err := unix.Write(fd, stubImage); err != nil {
		unix.Close(fd)
		return fmt.Errorf("write stub: %w", err)
	}
	c.elfFD = fd
	if c.batch, err = newBatchFile(); err != nil {
		unix.Close(fd)
		return err
	}
	// The master exists in both modes: it also answers FPStateSize.
	pid, err := c.execStub()
	if err != nil {
		unix.Close(fd)
		c.batch.close()
		return err
	}
	c.master = pid
	return nil
}

// stop kills the master stub and ends the controller goroutine, after
// everything queued before.
func (c *controller) stop() {
	c.do(func() {
		if c.master > 0 {
			unix.Kill(c.master, unix.SIGKILL)
			reap(c.master)
			c.master = 0
		}
		if c.elfFD >= 0 {
			unix.Close(c.elfFD)
			c.elfFD = -1
		}
		if c.batch != nil {
			c.batch.close()
			c.batch = nil
		}
	})
	c.reqs <- &request{done: make(chan struct{}, 1)}
}

// execStub starts a stub process by exec'ing the stub image; the
// controller thread becomes its tracer. It returns when the stub has
// trapped and layoutStub has made its address space (the stub page and
// the host vDSO, nothing else).
func (c *controller) execStub() (int, error) {
	path := fmt.Sprintf("/proc/self/fd/%d", c.elfFD)
	closed := ^uintptr(0) // ForkExec closes descriptors given as -1
	attr := &syscall.ProcAttr{
		Env:   []string{},
		Files: []uintptr{closed, closed, closed, uintptr(c.memfd), uintptr(c.batch.fd)},
		Sys:   &syscall.SysProcAttr{Ptrace: true, Pdeathsig: syscall.SIGKILL},
	}
	var lastErr error
	// The ELF's fixed address can collide with a randomly placed initial
	// stack (rarely); exec again then.
	for try := 0; try < 5; try++ {
		pid, err := syscall.ForkExec(path, []string{"runsc-stub"}, attr)
		if err != nil {
			lastErr = fmt.Errorf("exec stub: %w", err)
			if err == syscall.EPERM || err == syscall.EACCES {
				return 0, lastErr
			}
			continue
		}
		err = c.initExeced(pid)
		if err == nil {
			err = c.layoutStub(pid)
		}
		if err != nil {
			unix.Kill(pid, unix.SIGKILL)
			reap(pid)
			lastErr = err
			continue
		}
		return pid, nil
	}
	return 0, lastErr
}

// initExeced takes a freshly exec'd traced stub to its ready trap.
func (c *controller) initExeced(pid int) error {
	var status uint32
	for {
		if _, e := wait4(pid, &status, 0); e != 0 {
			if e == unix.EINTR {
				continue
			}
			return fmt.Errorf("wait for stub %d: %w", pid, e)
		}
		ws := unix.WaitStatus(status)
		if !ws.Stopped() {
			return fmt.Errorf("stub %d died before starting (status %#x)", pid, status)
		}
		if ws.StopSignal() == unix.SIGTRAP {
			break
		}
		if e := ptraceResume(unix.PTRACE_CONT, pid); e != 0 {
			return fmt.Errorf("PTRACE_CONT stub: %w", e)
		}
	}
	if e := ptraceOp(unix.PTRACE_SETOPTIONS, pid, 0, unix.PTRACE_O_EXITKILL|unix.PTRACE_O_TRACESYSGOOD); e != 0 {
		return fmt.Errorf("PTRACE_SETOPTIONS stub: %w", e)
	}
	// Run the entry code to its int3 (the SIGTRAP of exec is discarded).
	if e := ptraceResume(unix.PTRACE_CONT, pid); e != 0 {
		return fmt.Errorf("PTRACE_CONT stub: %w", e)
	}
	for {
		if _, e := wait4(pid, &status, 0); e != 0 {
			if e == unix.EINTR {
				continue
			}
			return fmt.Errorf("wait for stub %d: %w", pid, e)
		}
		ws := unix.WaitStatus(status)
		if !ws.Stopped() {
			return fmt.Errorf("stub %d died while starting (status %#x)", pid, status)
		}
		if ws.StopSignal() == unix.SIGTRAP && stopEvent(status) == 0 {
			return nil
		}
		if e := ptraceResume(unix.PTRACE_CONT, pid); e != 0 {
			return fmt.Errorf("PTRACE_CONT stub: %w", e)
		}
	}
}

// newStub creates a stub process for a new address space. It returns its
// pid (its only traced thread, stopped, is the control thread), the tid of
// a spare thread cloned in it, waiting to be seized by the first context
// that switches into the address space (0 if that failed), and the slot of
// its batch page (-1 if none).
func (c *controller) newStub() (s pooledStub, err error) {
	if c.forkMode {
		s.pid, err = c.forkStub()
	} else {
		s.pid, err = c.execStub()
	}
	if err != nil {
		return s, err
	}
	s.spare, _ = c.cloneThread(s.pid)
	s.slot = c.batch.alloc()
	if s.slot >= 0 && c.batch.mapSlot(s.pid, s.slot) != nil {
		c.batch.release(s.slot)
		s.slot = -1
	}
	return s, nil
}

// killStub kills and reaps a stub process that has no context threads
// (only its control thread, traced by the controller, and perhaps an
// untraced spare thread).
func (c *controller) killStub(pid int) {
	unix.Kill(pid, unix.SIGKILL)
	reap(pid)
}

// forkStub forks the master and seizes the child.
func (c *controller) forkStub() (int, error) {
	var a [6]uintptr
	a[0] = uintptr(unix.SIGCHLD) // clone(SIGCHLD, 0, ...) == fork()
	regs := injectRegs(stubFork, unix.SYS_CLONE, a)
	regs.R12 = uint64(c.master)
	pid, err := inject(c.master, &regs, stubForkTrap)
	if err != nil {
		return 0, fmt.Errorf("fork stub: %w", err)
	}
	if err := seize(int(pid)); err != nil {
		unix.Kill(int(pid), unix.SIGKILL)
		return 0, err
	}
	return int(pid), nil
}

// cloneThread creates a thread in the stub whose leader is pid. The thread
// waits in pause(), untraced, until a context seizes it.
func (c *controller) cloneThread(pid int) (int, error) {
	var a [6]uintptr
	a[0] = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD | unix.CLONE_SYSVSEM
	regs := injectRegs(stubClone, unix.SYS_CLONE, a)
	tid, err := inject(pid, &regs, stubCloneTrap)
	if err != nil {
		return 0, fmt.Errorf("clone stub thread: %w", err)
	}
	return int(tid), nil
}
