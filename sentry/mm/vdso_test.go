package mm

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/platform"
)

// vdsoPlatform is a fakePlatform with a vDSO above MaxUserAddress, laid
// out like the ptrace platform's on Linux 6.18.
type vdsoPlatform struct {
	*fakePlatform
	vdso platform.VDSO
}

const (
	vdsoMax   = 0x7fffe0000000 // MaxUserAddress of vdsoPlatform
	vvarAddr  = 0x7fffe8000000
	vdsoAddr  = vvarAddr + 6*pageSize
	vdsoEnd   = vdsoAddr + 2*pageSize
	vdsoMapsN = 3
)

func (p *vdsoPlatform) MaxUserAddress() uintptr     { return vdsoMax }
func (p *vdsoPlatform) VDSO() (platform.VDSO, bool) { return p.vdso, p.vdso.Base != 0 }

func newVDSOPlatform() *vdsoPlatform {
	return &vdsoPlatform{fakePlatform: &fakePlatform{}, vdso: platform.VDSO{
		Base: vdsoAddr,
		Mappings: []platform.VDSOMapping{
			{Start: vvarAddr, End: vvarAddr + 4*pageSize, Name: "[vvar]", Access: platform.Read},
			{Start: vvarAddr + 4*pageSize, End: vdsoAddr, Name: "[vvar_vclock]", Access: platform.Read},
			{Start: vdsoAddr, End: vdsoEnd, Name: "[vdso]", Access: platform.AccessType{Read: true, Execute: true}},
		},
	}}
}

func newVDSOMM(t *testing.T, p platform.Platform) *MemoryManager {
	t.Helper()
	e := newEnv(t)
	m, err := New(p, e.mf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.DecUsers)
	return m
}

// vdsoLines returns the /proc/self/maps lines of the vDSO.
func vdsoLines(m *MemoryManager) []string {
	var out []string
	for _, l := range strings.Split(string(m.Maps()), "\n") {
		if strings.Contains(l, "[vdso]") || strings.Contains(l, "[vvar") {
			out = append(out, l)
		}
	}
	return out
}

func TestVDSOMaps(t *testing.T) {
	m := newVDSOMM(t, newVDSOPlatform())
	if m.VDSOBase() != vdsoAddr {
		t.Errorf("VDSOBase = %#x", m.VDSOBase())
	}
	lines := vdsoLines(m)
	want := []string{
		"7fffe8000000-7fffe8004000 r--p 00000000 00:00 0                          [vvar]",
		"7fffe8004000-7fffe8006000 r--p 00000000 00:00 0                          [vvar_vclock]",
		"7fffe8006000-7fffe8008000 r-xp 00000000 00:00 0                          [vdso]",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("maps:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if lo, hi := m.Bounds(); hi != vdsoMax || lo >= hi {
		t.Errorf("Bounds = %#x, %#x", lo, hi)
	}
}

// TestVDSOReserved: the application cannot map over, unmap, move, protect
// or drop the vDSO, and nothing is ever placed there.
func TestVDSOReserved(t *testing.T) {
	m := newVDSOMM(t, newVDSOPlatform())
	before := vdsoLines(m)
	// Top-down placement never goes above MaxUserAddress, even when
	// asked for with a hint.
	for i := 0; i < 4; i++ {
		a := mustMap(t, m, anon(vvarAddr, 1<<30, rw, 0))
		if a+1<<30 > vdsoMax {
			t.Fatalf("mmap placed [%#x, %#x) above MaxUserAddress", a, a+1<<30)
		}
	}
	fixed := []struct {
		flags int
		want  error
	}{{unix.MAP_FIXED, unix.ENOMEM}, {unix.MAP_FIXED_NOREPLACE, unix.ENOMEM}}
	for _, f := range fixed {
		if _, err := m.MMap(anon(vvarAddr, pageSize, rw, f.flags)); err != f.want {
			t.Errorf("mmap flags %#x over the vDSO: %v, want %v", f.flags, err, f.want)
		}
	}
	if err := m.MUnmap(vvarAddr, vdsoEnd-vvarAddr); err != unix.EINVAL {
		t.Errorf("munmap of the vDSO: %v", err)
	}
	if err := m.MProtect(vdsoAddr, pageSize, rw); err != unix.ENOMEM {
		t.Errorf("mprotect of the vDSO: %v", err)
	}
	if _, err := m.MRemap(vdsoAddr, 2*pageSize, 2*pageSize, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, 0x100000); err != unix.EINVAL {
		t.Errorf("mremap fixed of the vDSO: %v", err)
	}
	if _, err := m.MRemap(vdsoAddr, 2*pageSize, 4*pageSize, unix.MREMAP_MAYMOVE, 0); err != unix.EINVAL {
		t.Errorf("mremap of the vDSO: %v", err)
	}
	for _, adv := range []int{unix.MADV_DONTNEED, unix.MADV_DONTFORK, unix.MADV_WIPEONFORK, unix.MADV_POPULATE_READ} {
		if err := m.MAdvise(vdsoAddr, pageSize, adv); err != unix.EINVAL {
			t.Errorf("madvise(%d) of the vDSO: %v", adv, err)
		}
	}
	if err := m.MAdvise(vdsoAddr, pageSize, unix.MADV_WILLNEED); err != nil {
		t.Errorf("madvise(WILLNEED) of the vDSO: %v", err)
	}
	if err := m.MLock(vvarAddr, vdsoEnd-vvarAddr); err != nil {
		t.Errorf("mlock of the vDSO: %v", err)
	}
	// The sentry never reads or writes it through the memory file.
	if _, err := m.CopyIn(vdsoAddr, make([]byte, 8)); err != unix.EFAULT {
		t.Errorf("CopyIn from the vDSO: %v", err)
	}
	if err := m.Prefault(vvarAddr, vdsoEnd-vvarAddr, false); err != nil {
		t.Errorf("Prefault: %v", err)
	}
	var fe *FaultError
	if err := m.HandleFault(vdsoAddr+8, platform.SwitchInfo{Access: platform.ReadWrite, AccessKnown: true}); !errors.As(err, &fe) || fe.Code != SEGV_ACCERR {
		t.Errorf("fault in the vDSO: %v", err)
	}
	if err := m.HandleFault(vdsoEnd, platform.SwitchInfo{}); !errors.As(err, &fe) || fe.Code != SEGV_MAPERR {
		t.Errorf("fault above the vDSO: %v", err)
	}
	if got := vdsoLines(m); strings.Join(got, "\n") != strings.Join(before, "\n") {
		t.Errorf("vDSO changed:\n%s", strings.Join(got, "\n"))
	}
	if n := len(fas(m).pages); n != 0 {
		for a := range fas(m).pages {
			if a >= vdsoMax {
				t.Errorf("host mapping at %#x", a)
			}
		}
	}
	if m.ResidentSize() != 0 {
		t.Errorf("resident %d after the vDSO calls", m.ResidentSize())
	}
}

func TestVDSOFork(t *testing.T) {
	m := newVDSOMM(t, newVDSOPlatform())
	a := mustMap(t, m, anon(0, pageSize, rw, 0))
	writeByte(t, m, a, 7)
	c, err := m.Fork()
	if err != nil {
		t.Fatal(err)
	}
	defer c.DecUsers()
	if got, want := string(c.Maps()), string(m.Maps()); got != want {
		t.Errorf("child maps:\n%s\nparent:\n%s", got, want)
	}
	if n := len(vdsoLines(c)); n != vdsoMapsN {
		t.Errorf("child has %d vDSO lines", n)
	}
	if c.VDSOBase() != vdsoAddr {
		t.Errorf("child VDSOBase = %#x", c.VDSOBase())
	}
	g, err := c.Fork()
	if err != nil {
		t.Fatal(err)
	}
	defer g.DecUsers()
	if string(g.Maps()) != string(m.Maps()) {
		t.Errorf("grandchild maps:\n%s", g.Maps())
	}
	check(t, c)
}

// TestVDSORejected: a vDSO a platform reports inside the user range, or
// malformed, is ignored.
func TestVDSORejected(t *testing.T) {
	for name, change := range map[string]func(*platform.VDSO){
		"inside":   func(v *platform.VDSO) { v.Mappings[0].Start = vdsoMax - pageSize },
		"writable": func(v *platform.VDSO) { v.Mappings[2].Access.Write = true },
		"base":     func(v *platform.VDSO) { v.Base = vdsoEnd },
		"overlap":  func(v *platform.VDSO) { v.Mappings[1].Start = vvarAddr },
		"unaligned": func(v *platform.VDSO) {
			v.Mappings[2].End--
		},
	} {
		p := newVDSOPlatform()
		change(&p.vdso)
		m := newVDSOMM(t, p)
		if m.VDSOBase() != 0 || len(vdsoLines(m)) != 0 || nvmas(m) != 0 {
			t.Errorf("%s: vDSO kept: base %#x\n%s", name, m.VDSOBase(), m.Maps())
		}
	}
	// No provider (the fake platform) or ok=false: no vDSO.
	p := newVDSOPlatform()
	p.vdso.Base = 0
	if m := newVDSOMM(t, p); m.VDSOBase() != 0 || nvmas(m) != 0 {
		t.Errorf("ok=false: %s", m.Maps())
	}
}
