package boot

import (
	"bytes"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/control"
	"github.com/runsc-cri/runsc-cri/sentry/kernel"
)

// exec implements MethodExec: a new process in a running container, in a
// session of its own, with the stdio fds given (-1: /dev/null).
func (p *Pod) exec(r *control.ExecRequest, fds []*os.File) (*control.ExecResult, error) {
	c, err := p.lookup(r.ID)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	state := c.state
	c.mu.Unlock()
	if state != stateRunning {
		return nil, c.errorf("exec: the container is not running: %w", unix.ESRCH)
	}
	if _, _, done := c.kc.Status(); done {
		return nil, c.errorf("exec: the container has exited: %w", unix.ESRCH)
	}
	var stdio [3]*os.File
	for i, idx := range []int{r.Process.Stdin, r.Process.Stdout, r.Process.Stderr} {
		if idx < 0 {
			continue
		}
		if idx >= len(fds) || fds[idx] == nil {
			return nil, c.errorf("exec: stdio %d: fd index %d, but %d fds attached: %w", i, idx, len(fds), unix.EBADF)
		}
		stdio[i] = fds[idx] // the handler closes fds after the call
	}
	tg, err := c.startProcess(r.Process, stdio, false)
	if err != nil {
		return nil, err
	}
	return &control.ExecResult{PID: int(tg.ID())}, nil
}

// waitPID implements MethodWaitPID: it waits for a process started by Exec
// (or the container's init) and returns its status; an exec'd process's
// status is forgotten once reported.
func (p *Pod) waitPID(r *control.WaitPIDRequest) (*control.WaitResult, error) {
	c, err := p.lookup(r.ID)
	if err != nil {
		return nil, err
	}
	rec := c.kc.Record(kernel.ThreadID(r.PID))
	if rec == nil {
		return nil, c.errorf("no process %d started by Exec (or its status was already collected): %w", r.PID, unix.ECHILD)
	}
	<-rec.Done
	c.kc.Collect(kernel.ThreadID(r.PID), rec)
	return waitResult(rec.Status, rec.Time.UnixNano()), nil
}

// removeContainer implements MethodRemoveContainer: it kills what is left
// of the container, unmounts its filesystems and closes its gofer
// connections, log and terminals.
func (p *Pod) removeContainer(id string) error {
	c, err := p.lookup(id)
	if err != nil {
		return err
	}
	started := c.hasStarted()
	c.abandon()
	if started {
		c.kc.KillAll()
		select {
		case <-c.kc.Done():
		case <-time.After(10 * time.Second):
			return c.errorf("remove: processes did not exit after SIGKILL: %w", unix.EBUSY)
		}
	}
	p.mu.Lock()
	if p.containers[id] != c {
		p.mu.Unlock()
		return c.errorf("remove: already removed: %w", unix.ENOENT)
	}
	delete(p.containers, id)
	delete(p.byKernel, c.kc)
	p.removedCPU += c.kc.Usage().CPUNanos
	p.mu.Unlock()
	c.teardown()
	c.releaseFiles()
	return nil
}

// stats implements MethodStats for a container, or the whole pod when id is
// empty.
func (p *Pod) stats(id string) (*control.StatsResult, error) {
	r := &control.StatsResult{Timestamp: time.Now().UnixNano(), MemoryLimit: p.m.mf.Size()}
	if id != "" {
		c, err := p.lookup(id)
		if err != nil {
			return nil, err
		}
		u := c.kc.Usage()
		r.CPUNanos = uint64(u.CPUNanos)
		r.CPUUserNanos, r.CPUSystemNanos = uint64(u.CPUUserNanos), uint64(u.CPUSystemNanos)
		r.Processes, r.Threads = u.Processes, u.Threads
		r.FileDescriptors, r.Sockets, r.PageFaults = u.FileDescriptors, u.Sockets, u.PageFaults
		ms := c.kc.MemoryStats()
		r.MemoryBytes, r.OOMKills = ms.UsageBytes, ms.OOMKills
		r.MemoryPeakBytes, r.MemoryFailcnt = ms.PeakBytes, ms.Failcnt
		if ms.LimitBytes != 0 && ms.LimitBytes < r.MemoryLimit {
			r.MemoryLimit = ms.LimitBytes
		}
		return r, nil
	}
	p.mu.Lock()
	cpu := p.removedCPU
	cs := make([]*container, 0, len(p.containers))
	for _, c := range p.containers {
		cs = append(cs, c)
	}
	p.mu.Unlock()
	for _, c := range cs {
		u := c.kc.Usage()
		cpu += u.CPUNanos
		r.CPUUserNanos += uint64(u.CPUUserNanos)
		r.CPUSystemNanos += uint64(u.CPUSystemNanos)
		r.Processes += u.Processes
		r.Threads += u.Threads
		r.FileDescriptors += u.FileDescriptors
		r.Sockets += u.Sockets
		r.PageFaults += u.PageFaults
	}
	r.CPUNanos = uint64(cpu)
	r.Interfaces = p.interfaceStats()
	// The pod's memory is what its memory file holds: application
	// memory, page cache and tmpfs contents.
	r.MemoryBytes = p.m.mf.Used()
	return r, nil
}

// processes implements MethodProcesses.
func (p *Pod) processes(id string) (*control.ProcessesResult, error) {
	c, err := p.lookup(id)
	if err != nil {
		return nil, err
	}
	res := &control.ProcessesResult{Processes: []control.ProcessInfo{}}
	for _, tg := range c.kc.Processes() {
		res.Processes = append(res.Processes, control.ProcessInfo{
			PID:  int(tg.ID()),
			PPID: int(tg.ParentID()),
			Args: processArgs(tg),
		})
	}
	return res, nil
}

// processArgs reads a process's argv from its memory (its comm if that
// fails, as ps shows "[name]").
func processArgs(tg *kernel.ThreadGroup) []string {
	l := tg.Leader()
	if l == nil {
		return nil
	}
	if m := l.MemoryManager(); m != nil {
		as, ae, _, _ := m.ArgvEnv()
		if ae > as && ae-as <= 1<<20 {
			buf := make([]byte, ae-as)
			if n, _ := m.CopyIn(as, buf); n > 0 {
				var args []string
				for _, a := range bytes.Split(bytes.TrimRight(buf[:n], "\x00"), []byte{0}) {
					args = append(args, string(a))
				}
				return args
			}
		}
	}
	return []string{"[" + l.Name() + "]"}
}
