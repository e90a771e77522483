package kernel

import (
	"sort"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/platform"
	"github.com/runsc-cri/runsc-cri/sentry/arch"
	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/loader"
	"github.com/runsc-cri/runsc-cri/sentry/mm"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// Task is one application thread.
type Task struct {
	k   *Kernel
	tid ThreadID

	// Owned by the task goroutine (no lock).
	regs    arch.Registers
	ctx     platform.Context
	fpInit  arch.FPState // FP state to install before the first Switch (clone)
	restart unix.Errno   // restart error of the last syscall, 0 if none
	// faultAddr, faultTrapno and faultErr describe the last fault for the
	// next signal frame (cr2, trapno, err).
	faultAddr, faultTrapno, faultErr uint64

	// interrupt receives a token whenever something wants the task's
	// attention (a signal, a stop, a kill). Capacity one.
	interrupt chan struct{}

	// mmu guards mm, fdTable, fsc and exe against readers from other tasks
	// (procfs); the task itself changes them only in exec/exit/unshare.
	mmu     sync.Mutex
	mm      *mm.MemoryManager
	fdTable *vfs.FDTable
	fsc     *vfs.FSContext
	exe     loader.File
	exePath string

	creds atomic.Pointer[auth.Credentials]
	// seccomp is the task's seccomp state, nil without one (seccomp.go).
	seccomp atomic.Pointer[seccompState]

	// Protected by k.mu.
	tg          *ThreadGroup
	sigMask     linux.SignalSet
	savedMask   linux.SignalSet // restored after rt_sigsuspend/ppoll's handler
	haveSaved   bool
	pending     sigQueue
	altStack    linux.SignalStack
	exiting     bool // the task is leaving its run loop
	exited      bool
	name        string
	vforkParent *Task
	vforkDone   chan struct{}

	// pendingFlag mirrors "k.mu-protected state may need the task's
	// attention" so the run loop can skip the lock on the fast path.
	pendingFlag atomic.Bool

	clearChildTID uintptr
	robustList    uintptr
	robustLen     uintptr

	// startTime is when the task was created (for /proc stat).
	startTime int64
	// cpu time accounting, nanoseconds.
	userNS, sysNS atomic.Int64
	// faults counts the page faults the task took (handled or not),
	// like Linux's min_flt; none is a major fault here: a page the
	// gofer must read is still counted as minor.
	faults atomic.Uint64
	// blockedNS is time spent blocked in system calls (excluded from sysNS).
	blockedNS atomic.Int64
}

// Kernel returns the task's kernel.
func (t *Task) Kernel() *Kernel { return t.k }

// ThreadID returns the task's id.
func (t *Task) ThreadID() ThreadID { return t.tid }

// ThreadGroup returns the task's thread group.
func (t *Task) ThreadGroup() *ThreadGroup {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.tg
}

// Registers returns the task's registers (only the task goroutine may use them).
func (t *Task) Registers() *arch.Registers { return &t.regs }

// MemoryManager returns the task's address space.
func (t *Task) MemoryManager() *mm.MemoryManager {
	t.mmu.Lock()
	defer t.mmu.Unlock()
	return t.mm
}

// FDTable returns the task's file descriptor table.
func (t *Task) FDTable() *vfs.FDTable {
	t.mmu.Lock()
	defer t.mmu.Unlock()
	return t.fdTable
}

// FSContext returns the task's root, cwd and umask.
func (t *Task) FSContext() *vfs.FSContext {
	t.mmu.Lock()
	defer t.mmu.Unlock()
	return t.fsc
}

// Executable returns the file the task's process runs and its path.
func (t *Task) Executable() (loader.File, string) {
	t.mmu.Lock()
	defer t.mmu.Unlock()
	return t.exe, t.exePath
}

// Credentials returns the task's credentials (immutable; replace with SetCredentials).
func (t *Task) Credentials() *auth.Credentials { return t.creds.Load() }

// SetCredentials installs new credentials.
func (t *Task) SetCredentials(c *auth.Credentials) { t.creds.Store(c) }

// Name returns the task's comm.
func (t *Task) Name() string {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.name
}

// SetName sets the task's comm (truncated to 15 bytes as Linux does).
func (t *Task) SetName(n string) {
	if len(n) > 15 {
		n = n[:15]
	}
	t.k.mu.Lock()
	t.name = n
	t.k.mu.Unlock()
}

// StartTime returns the task's creation time in ns since the kernel booted.
func (t *Task) StartTime() int64 { return t.startTime }

// CPUTime returns the user and system time the task used, in ns.
func (t *Task) CPUTime() (user, sys int64) { return t.userNS.Load(), t.sysNS.Load() }

// PageFaults returns how many page faults the task has taken.
func (t *Task) PageFaults() uint64 { return t.faults.Load() }

// Memory access helpers: every application address goes through mm.

// CopyIn copies len(dst) bytes from application address addr.
func (t *Task) CopyIn(addr uintptr, dst []byte) (int, error) { return t.mm.CopyIn(addr, dst) }

// CopyOut copies src to application address addr.
func (t *Task) CopyOut(addr uintptr, src []byte) (int, error) { return t.mm.CopyOut(addr, src) }

// CopyInString reads a NUL-terminated string of at most maxLen bytes.
func (t *Task) CopyInString(addr uintptr, maxLen int) (string, error) {
	return t.mm.CopyInString(addr, maxLen)
}

// WithBlocks gives fn the sentry's own view of application memory
// [addr, addr+length) for zero-copy I/O.
func (t *Task) WithBlocks(addr, length uintptr, write bool, fn func([][]byte) (int, error)) (int, error) {
	return t.mm.WithBlocks(addr, length, write, fn)
}

// ThreadGroup is a process: the tasks that share a thread-group id.
type ThreadGroup struct {
	k    *Kernel
	tgid ThreadID

	// All fields below are protected by k.mu.
	leader *Task
	tasks  map[*Task]struct{}
	// parent is the parent process (nil for init).
	parent   *ThreadGroup
	children map[*ThreadGroup]struct{}
	pg       *ProcessGroup
	// exitSignal is sent to the parent when the group dies.
	exitSignal linux.Signal

	handlers *SignalHandlers
	pending  sigQueue

	// groupExiting is set by exit_group or a fatal signal.
	groupExiting bool
	exitStatus   WaitStatus
	// zombie: every task has exited; the parent has not reaped it yet.
	zombie bool
	reaped bool
	// execing is the task doing an execve that is killing its siblings.
	execing *Task

	// Group stop (SIGSTOP and friends).
	stopped        bool
	stopSignal     linux.Signal
	stopReported   bool // the parent has seen the stop in wait (WUNTRACED)
	contReported   bool
	continuedEvent bool

	// childEvents is notified when a child changes state (exits, stops,
	// continues): wait4 blocks on it.
	childEvents waitQueue

	rlimits limits

	// itimerReal is the ITIMER_REAL / alarm timer.
	itimers itimerState

	// childUser/childSys accumulate reaped children's CPU time (ns).
	childUserNS, childSysNS int64

	// subreaper is PR_SET_CHILD_SUBREAPER.
	subreaper bool
	// dumpable is PR_SET_DUMPABLE; pdeathSignal is PR_SET_PDEATHSIG (per task in
	// Linux; kept per process here).
	dumpable     bool
	pdeathSignal linux.Signal

	// container is the pod container the process belongs to (nil outside
	// pods); inherited by fork. See container.go.
	container *Container
}

// ID returns the thread-group id (the pid).
func (tg *ThreadGroup) ID() ThreadID { return tg.tgid }

// Leader returns the thread-group leader.
func (tg *ThreadGroup) Leader() *Task {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return tg.leader
}

// Tasks returns the live tasks of the group, by id.
func (tg *ThreadGroup) Tasks() []*Task {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	out := make([]*Task, 0, len(tg.tasks))
	for t := range tg.tasks {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].tid < out[j].tid })
	return out
}

// ParentID returns the parent's id (0 for init).
func (tg *ThreadGroup) ParentID() ThreadID {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	if tg.parent == nil {
		return 0
	}
	return tg.parent.tgid
}

// IDs returns the process group and session ids.
func (tg *ThreadGroup) IDs() (pgid, sid ThreadID) {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return tg.pg.id, tg.pg.session.id
}

// State returns a /proc-style state letter: R, S, T, Z.
func (tg *ThreadGroup) State() byte {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	switch {
	case tg.zombie:
		return 'Z'
	case tg.stopped:
		return 'T'
	}
	return 'S'
}

func sortGroups(gs []*ThreadGroup) {
	sort.Slice(gs, func(i, j int) bool { return gs[i].tgid < gs[j].tgid })
}

// ProcessGroup is a set of processes for job control.
type ProcessGroup struct {
	id      ThreadID
	session *Session
	members int
}

// Session is a set of process groups.
type Session struct {
	id     ThreadID
	groups int
}
