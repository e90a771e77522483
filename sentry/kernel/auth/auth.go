// Package auth holds the credentials of a task: user and group ids (real,
// effective, saved, filesystem), supplementary groups and capabilities, with
// the permission checks the rest of the sentry makes against them.
//
// Credentials are immutable once published: a change (setuid, setgroups)
// builds a copy and installs it, so readers need no lock.
package auth

// KUID and KGID are user and group ids inside the sandbox (there is one user
// namespace, the sandbox's own).
type (
	KUID uint32
	KGID uint32
)

// NoID is the "no change" / overflow id (-1 as unsigned).
const (
	NoUID KUID = ^KUID(0)
	NoGID KGID = ^KGID(0)
)

// Capability numbers used by the sentry's checks (Linux values).
const (
	CapChown          = 0
	CapDacOverride    = 1
	CapDacReadSearch  = 2
	CapFowner         = 3
	CapFsetid         = 4
	CapKill           = 5
	CapSetgid         = 6
	CapSetuid         = 7
	CapSetpcap        = 8
	CapNetBindService = 10
	CapNetRaw         = 13
	CapIpcLock        = 14
	CapSysChroot      = 18
	CapSysPtrace      = 19
	CapSysAdmin       = 21
	CapSysNice        = 23
	CapSysResource    = 24
	CapMknod          = 27
	CapAuditWrite     = 29
	CapSetfcap        = 31
	CapLast           = 40
)

// CapSet is a bit set of capabilities.
type CapSet uint64

// Has reports whether cp is in the set.
func (s CapSet) Has(cp int) bool { return s&(1<<uint(cp)) != 0 }

// AllCaps is every capability.
const AllCaps = CapSet(1<<(CapLast+1) - 1)

// DefaultContainerCaps are the capabilities a container's root gets by
// default (the OCI/Docker default set).
const DefaultContainerCaps = CapSet(1<<CapChown | 1<<CapDacOverride | 1<<CapFowner | 1<<CapFsetid |
	1<<CapKill | 1<<CapSetgid | 1<<CapSetuid | 1<<CapSetpcap | 1<<CapNetBindService |
	1<<CapNetRaw | 1<<CapSysChroot | 1<<CapMknod | 1<<CapAuditWrite | 1<<CapSetfcap)

// Credentials of a task.
type Credentials struct {
	RealUID, EffectiveUID, SavedUID, FSUID KUID
	RealGID, EffectiveGID, SavedGID, FSGID KGID
	Groups                                 []KGID

	Permitted, Effective, Inheritable, Bounding, Ambient CapSet
	// KeepCaps is PR_SET_KEEPCAPS.
	KeepCaps bool
	// NoNewPrivs is the task's no_new_privs bit (PR_SET_NO_NEW_PRIVS; it
	// is inherited and never cleared): execve grants nothing.
	NoNewPrivs bool
}

// NewCredentials returns credentials for uid/gid with groups; root gets caps.
func NewCredentials(uid KUID, gid KGID, groups []KGID, caps CapSet) *Credentials {
	c := &Credentials{
		RealUID: uid, EffectiveUID: uid, SavedUID: uid, FSUID: uid,
		RealGID: gid, EffectiveGID: gid, SavedGID: gid, FSGID: gid,
		Groups:   append([]KGID(nil), groups...),
		Bounding: caps,
	}
	if uid == 0 {
		c.Permitted, c.Effective = caps, caps
	}
	return c
}

// Fork returns a copy that may be changed.
func (c *Credentials) Fork() *Credentials {
	n := *c
	n.Groups = append([]KGID(nil), c.Groups...)
	return &n
}

// HasCapability reports whether cp is effective.
func (c *Credentials) HasCapability(cp int) bool { return c.Effective.Has(cp) }

// InGroup reports whether gid is the fs gid or a supplementary group.
func (c *Credentials) InGroup(gid KGID) bool {
	if c.FSGID == gid {
		return true
	}
	for _, g := range c.Groups {
		if g == gid {
			return true
		}
	}
	return false
}

// Access bits for CanAccess (MAY_* in Linux).
const (
	MayExec  = 1
	MayWrite = 2
	MayRead  = 4
)

// CanAccess applies the Unix permission check for access (a MayX set) to a
// file with mode bits perm (the low 9 bits), owner uid and group gid, as
// generic_permission does, including CAP_DAC_OVERRIDE and
// CAP_DAC_READ_SEARCH. isDir changes the override rules for exec.
func (c *Credentials) CanAccess(access int, perm uint32, uid KUID, gid KGID, isDir bool) bool {
	var bits uint32
	switch {
	case c.FSUID == uid:
		bits = (perm >> 6) & 7
	case c.InGroup(gid):
		bits = (perm >> 3) & 7
	default:
		bits = perm & 7
	}
	if uint32(access)&^bits == 0 {
		return true
	}
	if c.HasCapability(CapDacOverride) {
		// Exec needs at least one x bit on non-directories.
		if access&MayExec == 0 || isDir || perm&0o111 != 0 {
			return true
		}
	}
	if c.HasCapability(CapDacReadSearch) {
		if access&MayWrite == 0 && (access&MayExec == 0 || isDir) {
			return true
		}
	}
	return false
}

// ForExec returns the credentials after an execve by a task with c of a
// file whose set-user-ID bit grants uid (setuid) and whose set-group-ID
// bit grants gid (setgid), as Linux computes them for a file without file
// capabilities:
//
//   - the set-ID bits are ignored under no_new_privs; the saved and fs
//     ids become the effective ones;
//   - if the real or the new effective uid is 0 the file counts as having
//     every capability: permitted becomes inheritable|bounding|ambient,
//     effective the same when the effective uid is 0 (else ambient);
//     otherwise both become ambient;
//   - ambient is cleared when the exec changed an id; under no_new_privs
//     permitted cannot grow beyond the old one.
func (c *Credentials) ForExec(uid KUID, setuid bool, gid KGID, setgid bool) *Credentials {
	n := c.Fork()
	if !c.NoNewPrivs {
		if setuid {
			n.EffectiveUID = uid
		}
		if setgid {
			n.EffectiveGID = gid
		}
	}
	n.SavedUID, n.FSUID = n.EffectiveUID, n.EffectiveUID
	n.SavedGID, n.FSGID = n.EffectiveGID, n.EffectiveGID
	if n.EffectiveUID != c.EffectiveUID || n.EffectiveGID != c.EffectiveGID {
		n.Ambient = 0
	}
	if n.RealUID == 0 || n.EffectiveUID == 0 {
		n.Permitted = (c.Inheritable | c.Bounding | n.Ambient) & AllCaps
		if n.EffectiveUID == 0 {
			n.Effective = n.Permitted
		} else {
			n.Effective = n.Ambient
		}
	} else {
		n.Permitted, n.Effective = n.Ambient, n.Ambient
	}
	if c.NoNewPrivs {
		n.Permitted &= c.Permitted
		n.Effective &= n.Permitted
	}
	return n
}
