package kernel

import (
	"sort"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/memfile"
	"github.com/runsc-cri/runsc-cri/sentry/mm"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// Containers (pod sentries).
//
// A pod's kernel has no init process of its own: it holds several
// containers, each a tree of processes started by StartProcess with
// ProcessArgs.Container set. Every thread group belongs to at most one
// container (ThreadGroup.container), inherited by fork/clone; the
// container's first process is its init. The PID namespace is shared by the
// whole pod (like Kubernetes' shareProcessNamespace): processes of all
// containers see and may signal each other.
//
// A container's init plays the part of a PID namespace's init:
//
//   - orphans of the container are re-parented to it (after any subreaper);
//   - when it exits, every other process of the container is killed with
//     SIGKILL, and the container is "exited" once all of them are gone
//     (Container.Done), with init's status as its exit status.
//
// The kernel itself never ends because a container's init exited (Kernel.Done
// is closed only for a kernel started with StartInit, as `runsc-cri do`
// does).
//
// Every process started with StartProcess (a container's init or an exec'd
// process) keeps an exit record until it is collected with WaitProcess, so a
// control client can ask for its status after it is gone.
//
// Each container has a memory account and limit (container_memory.go).
//
// Locking: all Container fields are guarded by Kernel.mu (the tree lock).

// Container is one container's set of processes in a pod kernel.
type Container struct {
	k  *Kernel
	id string

	// Guarded by k.mu.
	init *ThreadGroup
	// members are the container's thread groups that have not exited.
	members map[*ThreadGroup]struct{}
	// initExited is set when init has exited; initStatus is its status.
	initExited bool
	initStatus WaitStatus
	finishedAt time.Time
	// done is closed once init has exited and no member is left.
	done chan struct{}
	// cpuUserNS, cpuSysNS and faults are the user and system CPU time
	// and the page faults of the container's exited tasks.
	cpuUserNS, cpuSysNS int64
	faults              uint64
	// records are the exit records of processes started by StartProcess,
	// by process id, until collected.
	records map[ThreadID]*ExitRecord
	// mem is the container's memory account (container_memory.go; nil
	// without a memory file), immutable; oomKills counts its processes
	// killed for lack of memory.
	mem      *memfile.Account
	oomKills int
}

// ExitRecord is the end of a process started by StartProcess.
type ExitRecord struct {
	// Done is closed when the process has exited; Status and Time are
	// valid then.
	Done   chan struct{}
	Status WaitStatus
	Time   time.Time
}

// NewContainer returns an empty container named id. Its first process
// started with StartProcess becomes its init.
func (k *Kernel) NewContainer(id string) *Container {
	return &Container{
		k:       k,
		id:      id,
		members: map[*ThreadGroup]struct{}{},
		done:    make(chan struct{}),
		records: map[ThreadID]*ExitRecord{},
		mem:     k.newContainerAccount(),
	}
}

// ID returns the container's id.
func (c *Container) ID() string { return c.id }

// Container returns the container tg belongs to, or nil.
func (tg *ThreadGroup) Container() *Container {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return tg.container
}

// StartProcess creates a process running a.Filename in a.Container (which
// must be set) with no parent, in a session of its own, and starts it. The
// container's first process is its init; later ones are exec'd processes.
// Its exit status is kept until WaitProcess collects it.
func (k *Kernel) StartProcess(a ProcessArgs) (*ThreadGroup, *ExitRecord, error) {
	if a.Container == nil {
		return nil, nil, unix.EINVAL
	}
	c := a.Container
	// A container whose init is gone takes no new process (as setns into
	// a dead PID namespace fails): createProcess answers ESRCH.
	tg, err := k.createProcess(a, false)
	if err != nil {
		return nil, nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return tg, c.records[tg.tgid], nil
}

// joinContainerLocked makes tg a member of c (nil: none). started is true for
// a process created by StartProcess (it gets an exit record; the first one
// becomes init), false for a forked child. It fails (false) when the
// container's init has already exited.
func (k *Kernel) joinContainerLocked(tg *ThreadGroup, c *Container, started bool) bool {
	if c == nil {
		return true
	}
	if c.initExited {
		return false
	}
	tg.container = c
	c.members[tg] = struct{}{}
	if started {
		if c.init == nil {
			c.init = tg
		}
		c.records[tg.tgid] = &ExitRecord{Done: make(chan struct{})}
	}
	return true
}

// leaveContainerLocked undoes joinContainerLocked for a process that failed
// to start.
func (k *Kernel) leaveContainerLocked(tg *ThreadGroup) {
	c := tg.container
	if c == nil {
		return
	}
	delete(c.members, tg)
	if c.init == tg {
		c.init = nil
	}
	delete(c.records, tg.tgid)
	tg.container = nil
}

// containerReaperLocked returns the process that adopts the orphans of tg:
// the kernel's init, or in a pod the init of tg's container while it lives.
func (k *Kernel) containerReaperLocked(tg *ThreadGroup) *ThreadGroup {
	if k.init != nil {
		return k.init
	}
	if c := tg.container; c != nil && c.init != nil && c.init != tg && !c.init.groupExiting {
		return c.init
	}
	return nil
}

// containerTaskExitedLocked adds the CPU time of an exiting task to its
// container.
func (k *Kernel) containerTaskExitedLocked(t *Task) {
	if c := t.tg.container; c != nil {
		u, s := t.CPUTime()
		c.cpuUserNS += u
		c.cpuSysNS += s
		c.faults += t.PageFaults()
	}
}

// containerProcessExitedLocked records the exit of tg (all its tasks gone):
// its exit record, and for a container's init the container's end, killing
// the rest of the container.
func (k *Kernel) containerProcessExitedLocked(tg *ThreadGroup) {
	c := tg.container
	if c == nil {
		return
	}
	now := time.Now()
	delete(c.members, tg)
	if r := c.records[tg.tgid]; r != nil && !isClosed(r.Done) {
		r.Status = tg.exitStatus
		r.Time = now
		close(r.Done)
	}
	if tg == c.init && !c.initExited {
		c.initExited = true
		c.initStatus = tg.exitStatus
		c.finishedAt = now
		for o := range c.members {
			k.groupExitLocked(o, killedBy(linux.SIGKILL, false))
		}
	}
	if c.initExited && len(c.members) == 0 && !isClosed(c.done) {
		close(c.done)
		k.releaseContainerAccountLocked(c)
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Done is closed when the container's init has exited and every other
// process of the container is gone.
func (c *Container) Done() <-chan struct{} { return c.done }

// Status returns init's exit status and when it exited; ok is false while
// init has not exited.
func (c *Container) Status() (status WaitStatus, finishedAt time.Time, ok bool) {
	c.k.mu.Lock()
	defer c.k.mu.Unlock()
	return c.initStatus, c.finishedAt, c.initExited
}

// Init returns the container's init process (nil before the first
// StartProcess).
func (c *Container) Init() *ThreadGroup {
	c.k.mu.Lock()
	defer c.k.mu.Unlock()
	return c.init
}

// Record returns the exit record of process pid started by StartProcess, or
// nil if there is none (never started here, or already collected).
func (c *Container) Record(pid ThreadID) *ExitRecord {
	c.k.mu.Lock()
	defer c.k.mu.Unlock()
	return c.records[pid]
}

// Collect forgets the exit record of pid once it has been reported (the
// container's init's record is kept: it is the container's status).
func (c *Container) Collect(pid ThreadID, r *ExitRecord) {
	c.k.mu.Lock()
	defer c.k.mu.Unlock()
	if c.records[pid] == r && (c.init == nil || c.init.tgid != pid) {
		delete(c.records, pid)
	}
}

// Processes returns the container's processes that have not exited, by id.
func (c *Container) Processes() []*ThreadGroup {
	c.k.mu.Lock()
	defer c.k.mu.Unlock()
	out := make([]*ThreadGroup, 0, len(c.members))
	for tg := range c.members {
		out = append(out, tg)
	}
	sortGroups(out)
	return out
}

// Signal sends sig to the container's init, or with all to every process of
// the container. It fails with ESRCH when there is nobody to signal.
func (c *Container) Signal(sig linux.Signal, all bool) error {
	k := c.k
	k.mu.Lock()
	defer k.mu.Unlock()
	var targets []*ThreadGroup
	if all {
		for tg := range c.members {
			targets = append(targets, tg)
		}
	} else if c.init != nil && !c.init.zombie {
		targets = append(targets, c.init)
	}
	if len(targets) == 0 {
		return unix.ESRCH
	}
	if sig == 0 {
		return nil
	}
	for _, tg := range targets {
		info := &linux.SignalInfo{Signo: int32(sig), Code: linux.SI_USER}
		if err := k.sendLocked(tg, nil, info); err != nil {
			return err
		}
	}
	return nil
}

// SignalProcess sends sig to process pid of the container and, if pid leads
// a process group (an exec'd process runs in a session of its own), to the
// rest of that group too, so an ExecSync timeout takes the command's
// children with it. It fails with ESRCH when pid is not a live process of
// the container.
func (c *Container) SignalProcess(pid ThreadID, sig linux.Signal) error {
	k := c.k
	k.mu.Lock()
	defer k.mu.Unlock()
	var targets []*ThreadGroup
	for tg := range c.members {
		if tg.zombie {
			continue
		}
		if tg.tgid == pid || (tg.pg != nil && tg.pg.id == pid) {
			targets = append(targets, tg)
		}
	}
	if len(targets) == 0 {
		return unix.ESRCH
	}
	if sig == 0 {
		return nil
	}
	for _, tg := range targets {
		info := &linux.SignalInfo{Signo: int32(sig), Code: linux.SI_USER}
		if err := k.sendLocked(tg, nil, info); err != nil {
			return err
		}
	}
	return nil
}

// KillAll kills every process of the container with SIGKILL.
func (c *Container) KillAll() {
	k := c.k
	k.mu.Lock()
	defer k.mu.Unlock()
	for tg := range c.members {
		k.groupExitLocked(tg, killedBy(linux.SIGKILL, false))
	}
}

// Usage is a container's resource use.
type Usage struct {
	// CPUNanos is the CPU time of all the container's tasks, exited ones
	// included: CPUUserNanos in application code, CPUSystemNanos in the
	// sentry on the tasks' behalf.
	CPUNanos, CPUUserNanos, CPUSystemNanos int64
	// PageFaults counts the page faults of all its tasks, exited ones
	// included.
	PageFaults uint64
	// Threads is the number of live tasks; FileDescriptors the open
	// descriptors of its fd tables (each table counted once) and
	// Sockets those of them that are sockets.
	Threads, FileDescriptors, Sockets int
	// ResidentBytes is the resident memory of the container's address
	// spaces (each counted once).
	ResidentBytes uint64
	// MemoryBytes is the memory charged to the container (its working
	// set, see container_memory.go).
	MemoryBytes uint64
	// Processes is the number of live processes.
	Processes int
}

// socketFile is what every socket's file implementation offers (the
// socket package's Socket has these; the kernel does not import it).
type socketFile interface {
	Family() int
	Type() int
	Protocol() int
}

// Usage returns the container's CPU and memory use.
func (c *Container) Usage() Usage {
	k := c.k
	k.mu.Lock()
	u := Usage{CPUUserNanos: c.cpuUserNS, CPUSystemNanos: c.cpuSysNS, PageFaults: c.faults, Processes: len(c.members)}
	if c.mem != nil {
		u.MemoryBytes = c.mem.Usage()
	}
	var tasks []*Task
	for tg := range c.members {
		for t := range tg.tasks {
			tasks = append(tasks, t)
		}
	}
	k.mu.Unlock()
	u.Threads = len(tasks)
	seen := map[*mm.MemoryManager]bool{}
	tables := map[*vfs.FDTable]bool{}
	for _, t := range tasks {
		us, sy := t.CPUTime()
		u.CPUUserNanos += us
		u.CPUSystemNanos += sy
		u.PageFaults += t.PageFaults()
		if m := t.MemoryManager(); m != nil && !seen[m] {
			seen[m] = true
			u.ResidentBytes += m.ResidentSize()
		}
		if ft := t.FDTable(); ft != nil && !tables[ft] {
			tables[ft] = true
			ft.ForEach(func(_ int32, f *vfs.FileDescription, _ vfs.FDFlags) bool {
				u.FileDescriptors++
				if _, ok := f.Impl().(socketFile); ok {
					u.Sockets++
				}
				return true
			})
		}
	}
	u.CPUNanos = u.CPUUserNanos + u.CPUSystemNanos
	return u
}

// ProcessIDs returns the sorted ids of the container's live processes.
func (c *Container) ProcessIDs() []ThreadID {
	var ids []ThreadID
	for _, tg := range c.Processes() {
		ids = append(ids, tg.tgid)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}
