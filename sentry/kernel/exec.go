package kernel

import (
	"crypto/rand"
	"path"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/arch"
	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/loader"
	"github.com/runsc-cri/runsc-cri/sentry/mm"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// load builds a fresh address space with filename loaded into it.
func (k *Kernel) load(t *Task, dirfd int32, filename string, argv, envv []string, creds *auth.Credentials) (*mm.MemoryManager, loader.Result, error) {
	m, err := mm.New(k.cfg.Platform, k.cfg.MemFile)
	if err != nil {
		return nil, loader.Result{}, err
	}
	k.accountMM(m, t.tg)
	first := true
	res, err := loader.Load(m, loader.Args{
		Filename: filename,
		Argv:     argv,
		Envv:     envv,
		Opener: func(p string) (loader.File, error) {
			fd := int32(linux.AT_FDCWD)
			if first {
				fd, first = dirfd, false
			}
			f, _, err := k.cfg.ExecOpener(t, fd, p, 0)
			return f, err
		},
		UID:    uint32(creds.RealUID),
		EUID:   uint32(creds.EffectiveUID),
		GID:    uint32(creds.RealGID),
		EGID:   uint32(creds.EffectiveGID),
		Random: rand.Reader,
	})
	if err != nil {
		m.DecUsers()
		return nil, loader.Result{}, err
	}
	return m, res, nil
}

// Execve replaces the task's program (execve/execveat). On success the
// registers are set for the new program and ErrRegistersSet is returned.
func (t *Task) Execve(dirfd int32, filename string, argv, envv []string) error {
	k := t.k
	newMM, res, err := k.load(t, dirfd, filename, argv, envv, t.Credentials())
	if err != nil {
		return err
	}

	// Point of no return: the other threads go.
	k.mu.Lock()
	tg := t.tg
	if tg.groupExiting || tg.execing != nil {
		k.mu.Unlock()
		newMM.DecUsers()
		return ERESTARTNOINTR
	}
	if len(tg.tasks) > 1 {
		tg.execing = t
		for o := range tg.tasks {
			if o != t {
				o.wake()
			}
		}
		for len(tg.tasks) > 1 && !tg.groupExiting {
			k.mu.Unlock()
			<-t.interrupt
			k.mu.Lock()
		}
		tg.execing = nil
		if tg.groupExiting {
			k.mu.Unlock()
			newMM.DecUsers()
			return ERESTARTNOINTR
		}
	}
	if t != tg.leader {
		// The exec'ing thread takes over the process id.
		old := tg.leader
		delete(k.tasks, t.tid)
		if old != nil {
			delete(k.tasks, old.tid)
		}
		t.tid = tg.tgid
		k.tasks[t.tid] = t
		tg.leader = t
	}
	tg.handlers = tg.handlers.fork()
	tg.handlers.resetForExec()
	t.altStack = linux.SignalStack{Flags: linux.SS_DISABLE}
	// comm is the basename of the path given to execve (Linux's
	// bprm->filename), not of the file it resolved to.
	t.name = truncComm(path.Base(filename))
	k.mu.Unlock()

	t.mmu.Lock()
	oldMM := t.mm
	t.mm = newMM
	t.exe = res.ExecFile
	if res.ExecFile != nil {
		t.exePath = res.ExecFile.Name()
	}
	oldFDs := t.fdTable
	t.fdTable = oldFDs.Fork()
	t.mmu.Unlock()
	oldFDs.DecRef()
	t.fdTable.CloseOnExec()

	// The old address space goes first: if this was its last user, its
	// stub process is killed with our thread in it and Forget has nothing
	// left to do (no exit to inject into the thread and wait for).
	oldAS := oldMM.AddressSpace()
	oldMM.DecUsers()
	t.ctx.Forget(oldAS)
	t.SetCredentials(execCredentials(t.Credentials(), res.ExecFile))
	t.regs = arch.InitialRegisters(res.Entry, res.StackPointer)
	t.clearChildTID = 0
	t.robustList = 0
	t.releaseVfork()
	return ErrRegistersSet
}

func truncComm(n string) string {
	if len(n) > 15 {
		return n[:15]
	}
	return n
}

// ProcessArgs describes the first process of a sandbox (or of a container).
type ProcessArgs struct {
	Filename    string
	Argv, Envv  []string
	Credentials *auth.Credentials
	FDTable     *vfs.FDTable
	FSContext   *vfs.FSContext
	// Umask of the process.
	Umask uint32
	// Rlimits overrides the defaults (by RLIMIT_* number).
	Rlimits map[int]Rlimit
	// Container, for StartProcess in a pod kernel: the container the
	// process joins (container.go).
	Container *Container
	// Seccomp, if set, is installed before the first instruction (an
	// OCI runtime's seccomp profile).
	Seccomp *SeccompFilter
}

// StartInit creates the sandbox's init process (id 1) and starts it.
func (k *Kernel) StartInit(a ProcessArgs) (*ThreadGroup, error) {
	return k.createProcess(a, true)
}

// createProcess builds a process running a.Filename with no parent.
func (k *Kernel) createProcess(a ProcessArgs, isInit bool) (*ThreadGroup, error) {
	k.mu.Lock()
	tid, ok := k.allocTIDLocked()
	if !ok || k.liveTasks >= k.cfg.MaxTasks {
		k.mu.Unlock()
		return nil, unix.EAGAIN
	}
	t := &Task{
		k:         k,
		tid:       tid,
		interrupt: make(chan struct{}, 1),
		fdTable:   a.FDTable,
		fsc:       a.FSContext,
		startTime: k.nowNS(),
		altStack:  linux.SignalStack{Flags: linux.SS_DISABLE},
	}
	t.creds.Store(a.Credentials)
	tg := &ThreadGroup{
		k:          k,
		tgid:       tid,
		leader:     t,
		tasks:      map[*Task]struct{}{t: {}},
		children:   map[*ThreadGroup]struct{}{},
		exitSignal: linux.SIGCHLD,
		handlers:   &SignalHandlers{},
		rlimits:    defaultLimits(),
		dumpable:   true,
	}
	for r, v := range a.Rlimits {
		tg.rlimits[r] = v
	}
	tg.itimers.init(tg)
	t.tg = tg
	// Reserve the ids while loading (which may take a while).
	k.groups[tid] = tg
	k.tasks[tid] = t
	k.liveTasks++
	k.newSessionLocked(tg)
	if isInit {
		k.init = tg
	}
	if !k.joinContainerLocked(tg, a.Container, true) {
		delete(k.groups, tid)
		delete(k.tasks, tid)
		k.liveTasks--
		k.leaveProcessGroupLocked(tg)
		k.mu.Unlock()
		return nil, unix.ESRCH
	}
	k.mu.Unlock()

	m, res, err := k.load(t, linux.AT_FDCWD, a.Filename, a.Argv, a.Envv, a.Credentials)
	if err != nil {
		k.mu.Lock()
		delete(k.groups, tid)
		delete(k.tasks, tid)
		k.liveTasks--
		k.leaveProcessGroupLocked(tg)
		k.leaveContainerLocked(tg)
		if isInit {
			k.init = nil
		}
		k.mu.Unlock()
		return nil, err
	}
	t.mm = m
	t.exe = res.ExecFile
	if res.ExecFile != nil {
		t.exePath = res.ExecFile.Name()
	}
	t.creds.Store(execCredentials(a.Credentials, res.ExecFile))
	t.name = truncComm(path.Base(a.Filename))
	t.regs = arch.InitialRegisters(res.Entry, res.StackPointer)
	if a.Seccomp != nil {
		t.seccomp.Store(a.Seccomp.initialState())
	}
	if a.FSContext != nil && a.Umask != 0 {
		a.FSContext.SwapUmask(a.Umask)
	}
	t.start()
	return tg, nil
}

// KillAll sends SIGKILL to every process (sandbox shutdown).
func (k *Kernel) KillAll() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, tg := range k.groups {
		if !tg.zombie {
			k.groupExitLocked(tg, killedBy(linux.SIGKILL, false))
		}
	}
}
