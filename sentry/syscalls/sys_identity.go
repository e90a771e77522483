package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/arch"
	"github.com/runsc-cri/runsc-cri/sentry/kernel"
	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
)

func init() {
	addFamily(map[uintptr]Entry{
		unix.SYS_GETUID:    {Handler: Getuid, Support: Full},
		unix.SYS_GETEUID:   {Handler: Geteuid, Support: Full},
		unix.SYS_GETGID:    {Handler: Getgid, Support: Full},
		unix.SYS_GETEGID:   {Handler: Getegid, Support: Full},
		unix.SYS_GETRESUID: {Handler: Getresuid, Support: Full},
		unix.SYS_GETRESGID: {Handler: Getresgid, Support: Full},
		unix.SYS_SETUID:    {Handler: Setuid, Support: Full},
		unix.SYS_SETGID:    {Handler: Setgid, Support: Full},
		unix.SYS_SETREUID:  {Handler: Setreuid, Support: Full},
		unix.SYS_SETREGID:  {Handler: Setregid, Support: Full},
		unix.SYS_SETRESUID: {Handler: Setresuid, Support: Full},
		unix.SYS_SETRESGID: {Handler: Setresgid, Support: Full},
		unix.SYS_SETFSUID:  {Handler: Setfsuid, Support: Full},
		unix.SYS_SETFSGID:  {Handler: Setfsgid, Support: Full},
		unix.SYS_GETGROUPS: {Handler: Getgroups, Support: Full},
		unix.SYS_SETGROUPS: {Handler: Setgroups, Support: Full},
		unix.SYS_CAPGET:    {Handler: Capget, Support: Full},
		unix.SYS_CAPSET:    {Handler: Capset, Support: Partial, Note: "file capabilities are not applied at exec"},
	})
}

// Getuid implements Linux syscall getuid(2).
func Getuid(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	return uintptr(t.Credentials().RealUID), nil
}

// Geteuid implements Linux syscall geteuid(2).
func Geteuid(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	return uintptr(t.Credentials().EffectiveUID), nil
}

// Getgid implements Linux syscall getgid(2).
func Getgid(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	return uintptr(t.Credentials().RealGID), nil
}

// Getegid implements Linux syscall getegid(2).
func Getegid(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	return uintptr(t.Credentials().EffectiveGID), nil
}

func putIDs(t *kernel.Task, addrs [3]uintptr, ids [3]uint32) error {
	var b [4]byte
	for i, addr := range addrs {
		binary.LittleEndian.PutUint32(b[:], ids[i])
		if _, err := t.CopyOut(addr, b[:]); err != nil {
			return unix.EFAULT
		}
	}
	return nil
}

// Getresuid implements Linux syscall getresuid(2).
func Getresuid(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	c := t.Credentials()
	return 0, putIDs(t, [3]uintptr{a[0], a[1], a[2]}, [3]uint32{uint32(c.RealUID), uint32(c.EffectiveUID), uint32(c.SavedUID)})
}

// Getresgid implements Linux syscall getresgid(2).
func Getresgid(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	c := t.Credentials()
	return 0, putIDs(t, [3]uintptr{a[0], a[1], a[2]}, [3]uint32{uint32(c.RealGID), uint32(c.EffectiveGID), uint32(c.SavedGID)})
}

// setresuid applies Linux's rules for changing user ids; -1 keeps a value.
func setresuid(t *kernel.Task, r, e, s auth.KUID, setFS bool) error {
	c := t.Credentials()
	priv := c.HasCapability(auth.CapSetuid)
	allowed := func(id auth.KUID) bool {
		return id == auth.NoUID || priv || id == c.RealUID || id == c.EffectiveUID || id == c.SavedUID
	}
	if !allowed(r) || !allowed(e) || !allowed(s) {
		return unix.EPERM
	}
	n := c.Fork()
	if r != auth.NoUID {
		n.RealUID = r
	}
	if e != auth.NoUID {
		n.EffectiveUID = e
	}
	if s != auth.NoUID {
		n.SavedUID = s
	}
	n.FSUID = n.EffectiveUID
	// Leaving uid 0 drops capabilities unless PR_SET_KEEPCAPS.
	wasRoot := c.RealUID == 0 || c.EffectiveUID == 0 || c.SavedUID == 0
	isRoot := n.RealUID == 0 || n.EffectiveUID == 0 || n.SavedUID == 0
	if wasRoot && !isRoot && !n.KeepCaps {
		n.Permitted, n.Effective, n.Ambient = 0, 0, 0
	}
	if c.EffectiveUID == 0 && n.EffectiveUID != 0 {
		n.Effective = 0
	} else if c.EffectiveUID != 0 && n.EffectiveUID == 0 {
		n.Effective = n.Permitted
	}
	t.SetCredentials(n)
	return nil
}

func setresgid(t *kernel.Task, r, e, s auth.KGID) error {
	c := t.Credentials()
	priv := c.HasCapability(auth.CapSetgid)
	allowed := func(id auth.KGID) bool {
		return id == auth.NoGID || priv || id == c.RealGID || id == c.EffectiveGID || id == c.SavedGID
	}
	if !allowed(r) || !allowed(e) || !allowed(s) {
		return unix.EPERM
	}
	n := c.Fork()
	if r != auth.NoGID {
		n.RealGID = r
	}
	if e != auth.NoGID {
		n.EffectiveGID = e
	}
	if s != auth.NoGID {
		n.SavedGID = s
	}
	n.FSGID = n.EffectiveGID
	t.SetCredentials(n)
	return nil
}

// Setuid implements Linux syscall setuid(2).
func Setuid(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	uid := auth.KUID(a.Uint(0))
	if uid == auth.NoUID {
		return 0, unix.EINVAL
	}
	if t.Credentials().HasCapability(auth.CapSetuid) {
		return 0, setresuid(t, uid, uid, uid, true)
	}
	return 0, setresuid(t, auth.NoUID, uid, auth.NoUID, true)
}

// Setgid implements Linux syscall setgid(2).
func Setgid(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	gid := auth.KGID(a.Uint(0))
	if gid == auth.NoGID {
		return 0, unix.EINVAL
	}
	if t.Credentials().HasCapability(auth.CapSetgid) {
		return 0, setresgid(t, gid, gid, gid)
	}
	return 0, setresgid(t, auth.NoGID, gid, auth.NoGID)
}

// Setreuid implements Linux syscall setreuid(2).
func Setreuid(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	r, e := auth.KUID(a.Uint(0)), auth.KUID(a.Uint(1))
	s := auth.NoUID
	c := t.Credentials()
	if r != auth.NoUID || (e != auth.NoUID && e != c.RealUID) {
		s = e
		if e == auth.NoUID {
			s = c.EffectiveUID
		}
	}
	return 0, setresuid(t, r, e, s, true)
}

// Setregid implements Linux syscall setregid(2).
func Setregid(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	r, e := auth.KGID(a.Uint(0)), auth.KGID(a.Uint(1))
	s := auth.NoGID
	c := t.Credentials()
	if r != auth.NoGID || (e != auth.NoGID && e != c.RealGID) {
		s = e
		if e == auth.NoGID {
			s = c.EffectiveGID
		}
	}
	return 0, setresgid(t, r, e, s)
}

// Setresuid implements Linux syscall setresuid(2).
func Setresuid(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	return 0, setresuid(t, auth.KUID(a.Uint(0)), auth.KUID(a.Uint(1)), auth.KUID(a.Uint(2)), true)
}

// Setresgid implements Linux syscall setresgid(2).
func Setresgid(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	return 0, setresgid(t, auth.KGID(a.Uint(0)), auth.KGID(a.Uint(1)), auth.KGID(a.Uint(2)))
}

// Setfsuid implements Linux syscall setfsuid(2): it returns the old fsuid.
func Setfsuid(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	c := t.Credentials()
	old := c.FSUID
	id := auth.KUID(a.Uint(0))
	if id != auth.NoUID && (c.HasCapability(auth.CapSetuid) || id == c.RealUID || id == c.EffectiveUID || id == c.SavedUID || id == c.FSUID) {
		n := c.Fork()
		n.FSUID = id
		t.SetCredentials(n)
	}
	return uintptr(old), nil
}

// Setfsgid implements Linux syscall setfsgid(2).
func Setfsgid(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	c := t.Credentials()
	old := c.FSGID
	id := auth.KGID(a.Uint(0))
	if id != auth.NoGID && (c.HasCapability(auth.CapSetgid) || id == c.RealGID || id == c.EffectiveGID || id == c.SavedGID || id == c.FSGID) {
		n := c.Fork()
		n.FSGID = id
		t.SetCredentials(n)
	}
	return uintptr(old), nil
}

// Getgroups implements Linux syscall getgroups(2).
func Getgroups(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	g := t.Credentials().Groups
	n := int(a.Int(0))
	if n < 0 {
		return 0, unix.EINVAL
	}
	if n == 0 {
		return uintptr(len(g)), nil
	}
	if n < len(g) {
		return 0, unix.EINVAL
	}
	b := make([]byte, 4*len(g))
	for i, id := range g {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(id))
	}
	if _, err := t.CopyOut(a[1], b); err != nil {
		return 0, unix.EFAULT
	}
	return uintptr(len(g)), nil
}

// Setgroups implements Linux syscall setgroups(2).
func Setgroups(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	n := int(a.Int(0))
	if n < 0 || n > 65536 {
		return 0, unix.EINVAL
	}
	c := t.Credentials()
	if !c.HasCapability(auth.CapSetgid) {
		return 0, unix.EPERM
	}
	b := make([]byte, 4*n)
	if n > 0 {
		if _, err := t.CopyIn(a[1], b); err != nil {
			return 0, unix.EFAULT
		}
	}
	nc := c.Fork()
	nc.Groups = make([]auth.KGID, n)
	for i := range nc.Groups {
		nc.Groups[i] = auth.KGID(binary.LittleEndian.Uint32(b[4*i:]))
	}
	t.SetCredentials(nc)
	return 0, nil
}

// Capget implements Linux syscall capget(2).
func Capget(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	var hdr [8]byte
	if _, err := t.CopyIn(a[0], hdr[:]); err != nil {
		return 0, unix.EFAULT
	}
	version := binary.LittleEndian.Uint32(hdr[:])
	const v1, v2, v3 = 0x19980330, 0x20071026, 0x20080522
	words := 2
	switch version {
	case v1:
		words = 1
	case v2, v3:
	default:
		binary.LittleEndian.PutUint32(hdr[:], v3)
		t.CopyOut(a[0], hdr[:4])
		if a[1] == 0 {
			return 0, nil
		}
		return 0, unix.EINVAL
	}
	if a[1] == 0 {
		return 0, nil
	}
	c := t.Credentials()
	if pid := int32(binary.LittleEndian.Uint32(hdr[4:])); pid != 0 {
		o := t.Kernel().TaskByID(kernel.ThreadID(pid))
		if o == nil {
			return 0, unix.ESRCH
		}
		c = o.Credentials()
	}
	out := make([]byte, 12*words)
	for i := 0; i < words; i++ {
		shift := uint(32 * i)
		binary.LittleEndian.PutUint32(out[12*i:], uint32(uint64(c.Effective)>>shift))
		binary.LittleEndian.PutUint32(out[12*i+4:], uint32(uint64(c.Permitted)>>shift))
		binary.LittleEndian.PutUint32(out[12*i+8:], uint32(uint64(c.Inheritable)>>shift))
	}
	if _, err := t.CopyOut(a[1], out); err != nil {
		return 0, unix.EFAULT
	}
	return 0, nil
}

// Capset implements Linux syscall capset(2).
func Capset(t *kernel.Task, a *arch.SyscallArguments) (uintptr, error) {
	var hdr [8]byte
	if _, err := t.CopyIn(a[0], hdr[:]); err != nil {
		return 0, unix.EFAULT
	}
	version := binary.LittleEndian.Uint32(hdr[:])
	words := 2
	switch version {
	case 0x19980330:
		words = 1
	case 0x20071026, 0x20080522:
	default:
		return 0, unix.EINVAL
	}
	if pid := int32(binary.LittleEndian.Uint32(hdr[4:])); pid != 0 && kernel.ThreadID(pid) != t.ThreadID() {
		return 0, unix.EPERM
	}
	in := make([]byte, 12*words)
	if _, err := t.CopyIn(a[1], in); err != nil {
		return 0, unix.EFAULT
	}
	var eff, perm, inh uint64
	for i := 0; i < words; i++ {
		shift := uint(32 * i)
		eff |= uint64(binary.LittleEndian.Uint32(in[12*i:])) << shift
		perm |= uint64(binary.LittleEndian.Uint32(in[12*i+4:])) << shift
		inh |= uint64(binary.LittleEndian.Uint32(in[12*i+8:])) << shift
	}
	c := t.Credentials()
	// No new permitted capabilities; effective within permitted.
	if auth.CapSet(perm)&^c.Permitted != 0 || auth.CapSet(eff)&^auth.CapSet(perm) != 0 {
		return 0, unix.EPERM
	}
	if auth.CapSet(inh)&^(c.Inheritable|c.Permitted) != 0 && !c.HasCapability(auth.CapSetpcap) {
		return 0, unix.EPERM
	}
	n := c.Fork()
	n.Effective, n.Permitted, n.Inheritable = auth.CapSet(eff), auth.CapSet(perm), auth.CapSet(inh)
	t.SetCredentials(n)
	return 0, nil
}
