package kernel

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

func newChildWaiter() *waiter.Entry { return waiter.NewEntry() }

// joinProcessGroupLocked puts tg in pg.
func (k *Kernel) joinProcessGroupLocked(tg *ThreadGroup, pg *ProcessGroup) {
	if tg.pg == pg {
		return
	}
	k.leaveProcessGroupLocked(tg)
	tg.pg = pg
	pg.members++
}

// leaveProcessGroupLocked removes tg from its group, dropping empty groups
// and sessions.
func (k *Kernel) leaveProcessGroupLocked(tg *ThreadGroup) {
	pg := tg.pg
	if pg == nil {
		return
	}
	tg.pg = nil
	pg.members--
	if pg.members > 0 {
		return
	}
	delete(k.pgroups, pg.id)
	s := pg.session
	s.groups--
	if s.groups == 0 {
		delete(k.sessions, s.id)
	}
}

// newSessionLocked makes tg the leader of a new session and process group.
func (k *Kernel) newSessionLocked(tg *ThreadGroup) {
	s := &Session{id: tg.tgid, groups: 1}
	k.sessions[s.id] = s
	pg := &ProcessGroup{id: tg.tgid, session: s}
	k.pgroups[pg.id] = pg
	k.joinProcessGroupLocked(tg, pg)
}

// SetSID implements setsid(2).
func (t *Task) SetSID() (ThreadID, error) {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	tg := t.tg
	if _, ok := k.pgroups[tg.tgid]; ok {
		return 0, unix.EPERM
	}
	k.newSessionLocked(tg)
	return tg.tgid, nil
}

// GetSID implements getsid(2).
func (t *Task) GetSID(pid ThreadID) (ThreadID, error) {
	pg, err := t.processGroupOf(pid)
	if err != nil {
		return 0, err
	}
	return pg.session.id, nil
}

// GetPGID implements getpgid(2).
func (t *Task) GetPGID(pid ThreadID) (ThreadID, error) {
	pg, err := t.processGroupOf(pid)
	if err != nil {
		return 0, err
	}
	return pg.id, nil
}

// processGroupOf returns the process group of process pid (0: the caller's).
func (t *Task) processGroupOf(pid ThreadID) (*ProcessGroup, error) {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	tg := t.tg
	if pid != 0 {
		tg = k.groups[pid]
	}
	if tg == nil || tg.pg == nil {
		return nil, unix.ESRCH
	}
	return tg.pg, nil
}

// SetPGID implements setpgid(2).
func (t *Task) SetPGID(pid, pgid ThreadID) error {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if pgid < 0 {
		return unix.EINVAL
	}
	self := t.tg
	target := self
	if pid != 0 && pid != self.tgid {
		target = k.groups[pid]
		if target == nil || target.parent != self || target.zombie {
			return unix.ESRCH
		}
		if target.pg.session != self.pg.session {
			return unix.EPERM
		}
	}
	if pgid == 0 {
		pgid = target.tgid
	}
	// A session leader cannot move.
	if target.pg.session.id == target.tgid {
		return unix.EPERM
	}
	pg := k.pgroups[pgid]
	if pg == nil {
		if pgid != target.tgid {
			return unix.EPERM
		}
		pg = &ProcessGroup{id: pgid, session: target.pg.session}
		k.pgroups[pgid] = pg
		pg.session.groups++
	} else if pg.session != target.pg.session {
		return unix.EPERM
	}
	k.joinProcessGroupLocked(target, pg)
	return nil
}

// ProcessGroupMembers returns the live processes of process group pgid.
func (k *Kernel) processGroupMembersLocked(pgid ThreadID) []*ThreadGroup {
	var out []*ThreadGroup
	for _, tg := range k.groups {
		if tg.pg != nil && tg.pg.id == pgid && !tg.zombie {
			out = append(out, tg)
		}
	}
	return out
}
