// Package kernel is the sentry's process model: the Kernel (one per sandbox),
// thread groups (processes), tasks (threads), the PID namespace, process
// groups and sessions, signals, futexes, timers and the loop that runs an
// application thread on the platform and dispatches its system calls.
//
// The model. Every Task is one goroutine locked to one host OS thread for
// its whole life; that thread owns the task's platform.Context, so a Switch
// into application code never migrates. The goroutine loops: deliver pending
// signals, Switch into the application, then handle what came back (emulate
// the system call, resolve a fault through mm, or turn a trap into a signal).
// A blocking system call blocks the goroutine (Task.Block), and a signal
// aimed at the task wakes it (Task.interrupt) or, if it is in application
// code, interrupts the Switch (Context.Interrupt).
//
// Lock order. Kernel.mu (the "tree lock") guards the process tree (the task
// and thread-group maps, parents and children, process groups and sessions)
// and all signal state (handlers, masks, pending signals, group stop and
// group exit). It is taken before futex bucket locks and waiter queue locks,
// and is never held across a call into mm, vfs, the platform or a blocking
// operation. Fields that only the task's own goroutine touches (registers,
// platform context, the in-progress syscall) need no lock.
package kernel

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runsc-cri/runsc-cri/platform"
	"github.com/runsc-cri/runsc-cri/sentry/arch"
	"github.com/runsc-cri/runsc-cri/sentry/loader"
	"github.com/runsc-cri/runsc-cri/sentry/memfile"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// ThreadID is a task or thread-group id in the sandbox's PID namespace.
type ThreadID int32

// SyscallFunc emulates one system call for t: it returns the value for rax
// or an error (an errno or a restart error).
type SyscallFunc func(t *Task, nr uintptr, args *arch.SyscallArguments) (uintptr, error)

// ExecOpener resolves path (relative to dirfd as execveat does) and opens
// it for execution, checking permissions as task t. It returns the file and
// its absolute path in the sandbox.
type ExecOpener func(t *Task, dirfd int32, path string, flags int) (loader.File, string, error)

// Config is what a Kernel is built from.
type Config struct {
	Platform   platform.Platform
	MemFile    *memfile.File
	VFS        *vfs.VirtualFilesystem
	Syscall    SyscallFunc
	ExecOpener ExecOpener
	Hostname   string
	// MaxTasks bounds the number of live tasks in the sandbox (fork bombs
	// get EAGAIN past it).
	MaxTasks int
	Log      *slog.Logger
}

// Kernel is one sandbox's kernel.
type Kernel struct {
	cfg      Config
	bootTime time.Time
	log      *slog.Logger

	// mu is the tree lock; see the package comment.
	mu sync.Mutex
	// tasks maps live (not yet reaped) task ids to tasks.
	tasks map[ThreadID]*Task
	// groups maps thread-group ids to thread groups, zombies included.
	groups map[ThreadID]*ThreadGroup
	// lastTID is the last id handed out.
	lastTID ThreadID
	// init is the thread group with id 1; its death ends the sandbox.
	init *ThreadGroup
	// pgroups and sessions index process groups and sessions by id.
	pgroups  map[ThreadID]*ProcessGroup
	sessions map[ThreadID]*Session
	// liveTasks counts tasks that have not exited.
	liveTasks int

	// done is closed when the last task has exited after init died.
	done     chan struct{}
	doneOnce sync.Once
	// initStatus is init's wait status once it is a zombie.
	initStatus atomic.Uint32

	futexes futexTable

	hostname atomic.Pointer[string]

	// unimplemented counts ENOSYS returns per syscall number.
	unimplemented sync.Map // uintptr -> *atomic.Uint64
}

// New builds a kernel. No task runs until StartInit.
func New(cfg Config) *Kernel {
	if cfg.MaxTasks <= 0 {
		cfg.MaxTasks = DefaultMaxTasks
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	k := &Kernel{
		cfg:      cfg,
		bootTime: time.Now(),
		log:      cfg.Log,
		tasks:    map[ThreadID]*Task{},
		groups:   map[ThreadID]*ThreadGroup{},
		pgroups:  map[ThreadID]*ProcessGroup{},
		sessions: map[ThreadID]*Session{},
		done:     make(chan struct{}),
	}
	h := cfg.Hostname
	if h == "" {
		h = "sandbox"
	}
	k.hostname.Store(&h)
	k.futexes.init()
	return k
}

// DefaultMaxTasks is the task limit when the config gives none.
const DefaultMaxTasks = 4096

// Platform returns the platform.
func (k *Kernel) Platform() platform.Platform { return k.cfg.Platform }

// MemFile returns the memory file.
func (k *Kernel) MemFile() *memfile.File { return k.cfg.MemFile }

// VFS returns the virtual filesystem.
func (k *Kernel) VFS() *vfs.VirtualFilesystem { return k.cfg.VFS }

// BootTime returns when the kernel was created.
func (k *Kernel) BootTime() time.Time { return k.bootTime }

// Hostname returns the UTS hostname; SetHostname changes it.
func (k *Kernel) Hostname() string     { return *k.hostname.Load() }
func (k *Kernel) SetHostname(h string) { k.hostname.Store(&h) }

// Log returns the kernel's logger.
func (k *Kernel) Log() *slog.Logger { return k.log }

// Done is closed when the sandbox has ended (init exited and every task is
// gone). InitStatus then returns init's wait status.
func (k *Kernel) Done() <-chan struct{} { return k.done }

// InitStatus returns init's wait status (valid after Done).
func (k *Kernel) InitStatus() WaitStatus { return WaitStatus(k.initStatus.Load()) }

// CountUnimplemented records an ENOSYS answer for nr and reports whether it
// is the first one (so the caller logs it once).
func (k *Kernel) CountUnimplemented(nr uintptr) bool {
	v, loaded := k.unimplemented.LoadOrStore(nr, new(atomic.Uint64))
	v.(*atomic.Uint64).Add(1)
	return !loaded
}

// UnimplementedCounts returns how often each unimplemented syscall was made.
func (k *Kernel) UnimplementedCounts() map[uintptr]uint64 {
	m := map[uintptr]uint64{}
	k.unimplemented.Range(func(key, value any) bool {
		m[key.(uintptr)] = value.(*atomic.Uint64).Load()
		return true
	})
	return m
}

// allocTIDLocked returns a free id. k.mu must be held.
func (k *Kernel) allocTIDLocked() (ThreadID, bool) {
	const maxTID = 1 << 22
	for i := 0; i < maxTID; i++ {
		k.lastTID++
		if k.lastTID >= maxTID {
			k.lastTID = 1
		}
		id := k.lastTID
		if _, ok := k.tasks[id]; ok {
			continue
		}
		if _, ok := k.groups[id]; ok {
			continue
		}
		if _, ok := k.pgroups[id]; ok {
			continue
		}
		if _, ok := k.sessions[id]; ok {
			continue
		}
		return id, true
	}
	return 0, false
}

// TaskByID returns the live task with id, or nil.
func (k *Kernel) TaskByID(id ThreadID) *Task {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.tasks[id]
}

// ThreadGroupByID returns the thread group with id (zombies included), or nil.
func (k *Kernel) ThreadGroupByID(id ThreadID) *ThreadGroup {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.groups[id]
}

// ThreadGroups returns every thread group, sorted by id.
func (k *Kernel) ThreadGroups() []*ThreadGroup {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]*ThreadGroup, 0, len(k.groups))
	for _, tg := range k.groups {
		out = append(out, tg)
	}
	sortGroups(out)
	return out
}

// finishIfIdleLocked closes done once init is dead and no task is left.
func (k *Kernel) finishIfIdleLocked() {
	if k.init != nil && k.init.zombie && k.liveTasks == 0 {
		k.doneOnce.Do(func() { close(k.done) })
	}
}
