package kernel

import (
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/memfile"
	"github.com/runsc-cri/runsc-cri/sentry/mm"
)

// Container memory limits and the OOM killer.
//
// Every container has a memfile.Account, like a memory cgroup: each
// address space of a container's processes charges the pages it allocates
// to it (sentry/mm account.go says which: anonymous memory, private copies,
// shared anonymous memory; not page cache or tmpfs, which count only
// against the pod's memory file). An address space belongs to the
// container of the process that loaded it (StartProcess, execve) and fork
// children inherit it, so a container's account covers its processes
// only. Usage is 0 again once they have all exited.
//
// The limit (SetMemoryLimit, 0 for none) is checked at each charge. When a
// charge fails — the container's limit, or the pod's memory file is full —
// the process whose address space was charging is killed with SIGKILL
// (every process sharing that address space, in fact: normally one) and
// the container counts an OOM kill (MemoryStats.OOMKills, OOMKilled).
// Linux's cgroup OOM killer picks the largest process of the cgroup
// instead; the charging process is usually that one (the one allocating),
// and choosing it needs no scan of the other address spaces. At fault
// time the kill is immediate (the faulting task never returns to the
// application); for a sentry access (read(2) into a fresh buffer) the
// access stops short at the limit and the kill follows from another
// goroutine, so the application may see a short read before it dies.
// Lowering the limit below the usage reclaims nothing: new charges fail
// until enough is freed.
//
// Locking: oomKills is guarded by Kernel.mu; the account is immutable
// after NewContainer (its figures are atomics).

// MemoryStats are a container's memory figures.
type MemoryStats struct {
	// UsageBytes is the memory charged to the container now, PeakBytes
	// the most it ever was; LimitBytes its limit (0: none).
	UsageBytes, PeakBytes, LimitBytes uint64
	// Failcnt counts charges refused because of the limit; OOMKills the
	// processes killed for lack of memory.
	Failcnt  uint64
	OOMKills int
}

// newContainerAccount returns the memory account of a new container (nil
// if the kernel has no memory file).
func (k *Kernel) newContainerAccount() *memfile.Account {
	if k.cfg.MemFile == nil {
		return nil
	}
	return k.cfg.MemFile.NewAccount()
}

// releaseContainerAccountLocked tells the memory file that c is gone (its
// account id can be reused once its last page is freed).
func (k *Kernel) releaseContainerAccountLocked(c *Container) {
	if k.cfg.MemFile != nil && c.mem != nil {
		k.cfg.MemFile.ReleaseAccount(c.mem)
	}
}

// SetMemoryLimit sets the container's memory limit in bytes (0: none). A
// limit below the current usage frees nothing; it only refuses new
// charges.
func (c *Container) SetMemoryLimit(bytes uint64) {
	if c.mem != nil {
		c.mem.SetLimit(bytes)
	}
}

// MemoryStats returns the container's memory figures.
func (c *Container) MemoryStats() MemoryStats {
	c.k.mu.Lock()
	s := MemoryStats{OOMKills: c.oomKills}
	c.k.mu.Unlock()
	if a := c.mem; a != nil {
		s.UsageBytes, s.PeakBytes, s.LimitBytes, s.Failcnt = a.Usage(), a.Peak(), a.Limit(), a.Failcnt()
	}
	return s
}

// OOMKilled reports whether a process of the container was killed for
// lack of memory.
func (c *Container) OOMKilled() bool {
	c.k.mu.Lock()
	defer c.k.mu.Unlock()
	return c.oomKills > 0
}

// accountMM makes m, a fresh address space of tg, charge tg's container
// and kill with the OOM killer when a charge fails.
func (k *Kernel) accountMM(m *mm.MemoryManager, tg *ThreadGroup) {
	var acct *memfile.Account
	if tg != nil {
		k.mu.Lock()
		if c := tg.container; c != nil {
			acct = c.mem
		}
		k.mu.Unlock()
	}
	m.SetAccounting(acct, k.outOfMemory)
}

// outOfMemory is the OOM handler of every address space: an allocation for
// a sentry access to m failed. The processes using m are killed.
func (k *Kernel) outOfMemory(m *mm.MemoryManager) {
	k.mu.Lock()
	tasks := make([]*Task, 0, len(k.tasks))
	for _, t := range k.tasks {
		tasks = append(tasks, t)
	}
	k.mu.Unlock()
	var victims []*ThreadGroup
	for _, t := range tasks {
		if t.MemoryManager() == m {
			victims = append(victims, t.tg)
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, tg := range victims {
		k.oomKillLocked(tg)
	}
}

// oomKillLocked kills tg with SIGKILL for lack of memory and counts it
// against its container.
func (k *Kernel) oomKillLocked(tg *ThreadGroup) {
	if tg.groupExiting {
		return
	}
	var id string
	var limit, usage uint64
	if c := tg.container; c != nil {
		c.oomKills++
		id = c.id
		if c.mem != nil {
			limit, usage = c.mem.Limit(), c.mem.Usage()
		}
	}
	var fileSize, fileUsed uint64
	if mf := k.cfg.MemFile; mf != nil {
		fileSize, fileUsed = mf.Size(), mf.Used()
	}
	k.log.Warn("out of memory: killing process", "pid", tg.tgid, "container", id,
		"limit", limit, "usage", usage, "podLimit", fileSize, "podUsed", fileUsed)
	k.groupExitLocked(tg, killedBy(linux.SIGKILL, false))
}
