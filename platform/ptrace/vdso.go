package ptrace

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/platform"
)

// The host vDSO.
//
// Application code reads the clocks (clock_gettime, gettimeofday, time,
// getcpu) through the host kernel's own vDSO: its code ([vdso]) and data
// pages ([vvar], and [vvar_vclock] on Linux >= 6.x) stay mapped in the stub
// processes, so a clock read costs tens of nanoseconds instead of a ptrace
// round trip. The sentry answers the clock system calls from the same host
// clocks, so the application sees nothing it could not learn anyway (see
// VDSO in platform.go; when the host clocksource has no vDSO support the
// vDSO code makes a real syscall, which stops at PTRACE_SYSEMU like any
// other and the sentry emulates it).
//
// Where. Linux puts the vDSO of the exec'd master stub at a random place
// (in the mmap area on recent kernels, next to the stack on older ones),
// right in the middle of what the application may use. layoutStub moves it,
// with mremap (Linux supports moving [vdso] and its data mappings, which
// must keep their relative offsets: the vDSO code reaches vvar
// RIP-relatively), into the window [vdsoWindowStart, stubStart) above
// MaxUserAddress, at a random page chosen once per platform; the forked
// stubs inherit it at that address, exec'd ones (the benchmark's exec mode)
// are moved to the same place. The mm shows these regions in
// /proc/self/maps and refuses to map over, unmap, move or protect them.
// Failing to find or move the vDSO in the master is not an error: the
// platform then runs without one (VDSO answers false) and unmaps
// everything as it did before.

// vdsoTemp is where layoutStub parks the vDSO mappings first when their
// current place overlaps their destination (a host that put the vDSO near
// the top of the address space); nothing else is mapped there in a new
// stub.
const vdsoTemp = 0x100000000000

// vdsoMaxSpan bounds the span of the vDSO mappings we accept (Linux 6.18:
// 4 pages of vvar, 2 of vvar_vclock, 2 of vdso).
const vdsoMaxSpan = 1 << 20

// readVDSOMappings returns the vDSO mappings ([vdso] and [vvar...]) of
// process pid, in address order.
func readVDSOMappings(pid int) ([]platform.VDSOMapping, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		return nil, err
	}
	var ms []platform.VDSOMapping
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[5] != "[vdso]" && !strings.HasPrefix(f[5], "[vvar") {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil || len(f[1]) < 3 {
			return nil, fmt.Errorf("bad maps line %q", line)
		}
		ms = append(ms, platform.VDSOMapping{
			Start:  uintptr(start),
			End:    uintptr(end),
			Name:   f[5],
			Access: platform.AccessType{Read: f[1][0] == 'r', Write: f[1][1] == 'w', Execute: f[1][2] == 'x'},
		})
	}
	return ms, nil
}

// vdsoShape checks the mappings readVDSOMappings found: exactly one
// [vdso], page-aligned, ordered, none writable, spanning at most
// vdsoMaxSpan. It returns the span and the [vdso]'s start.
func vdsoShape(ms []platform.VDSOMapping) (lo, hi, base uintptr, ok bool) {
	if len(ms) == 0 {
		return 0, 0, 0, false
	}
	lo, hi = ms[0].Start, ms[len(ms)-1].End
	prev := lo
	for _, m := range ms {
		if m.Start < prev || m.End <= m.Start || m.Start%pageSize != 0 || m.End%pageSize != 0 || m.Access.Write {
			return 0, 0, 0, false
		}
		prev = m.End
		if m.Name == "[vdso]" {
			if base != 0 {
				return 0, 0, 0, false
			}
			base = m.Start
		}
	}
	if base == 0 || hi-lo > vdsoMaxSpan {
		return 0, 0, 0, false
	}
	return lo, hi, base, true
}

// sameShape reports whether ms (at any address) has the names, sizes and
// relative offsets of want.
func sameShape(ms, want []platform.VDSOMapping) bool {
	if len(ms) != len(want) {
		return false
	}
	for i := range ms {
		if ms[i].Name != want[i].Name || ms[i].Access != want[i].Access ||
			ms[i].End-ms[i].Start != want[i].End-want[i].Start ||
			ms[i].Start-ms[0].Start != want[i].Start-want[0].Start {
			return false
		}
	}
	return true
}

// layoutStub runs on the controller for a freshly exec'd stub pid, stopped
// at its ready trap: it moves the host vDSO into the window (for the
// master: to a random place, which the platform then reports; for later
// exec'd stubs: to the master's place) and unmaps everything else outside
// the stub page (the ELF's other mappings, the initial stack).
func (c *controller) layoutStub(pid int) error {
	master := c.master == 0
	ms, err := readVDSOMappings(pid)
	lo, hi, base, ok := vdsoShape(ms)
	ok = ok && err == nil
	var dest uintptr // where ms[0] goes; 0: drop the vDSO
	switch {
	case master && ok:
		n := (stubStart-vdsoWindowStart-(hi-lo))/pageSize + 1
		dest = vdsoWindowStart + uintptr(rand.N(uint64(n)))*pageSize
	case !master && c.vdsoOK:
		if !ok || !sameShape(ms, c.vdso.Mappings) {
			return fmt.Errorf("ptrace: exec'd stub's vDSO %v differs from the master's %v", ms, c.vdso.Mappings)
		}
		dest = c.vdso.Mappings[0].Start
	}
	if dest != 0 {
		if err := moveMappings(pid, ms, lo, hi, dest); err != nil {
			if !master {
				return err
			}
			dest = 0
		} else if master && !isELF(pid, base-lo+dest) {
			dest = 0
		}
	}
	keepLo, keepHi := uintptr(stubStart), uintptr(stubStart)
	if dest != 0 {
		keepLo, keepHi = dest, dest+(hi-lo)
	}
	unmaps := [][2]uintptr{{0, keepLo}, {stubEnd, taskSize - stubEnd}}
	if keepHi < stubStart {
		unmaps = append(unmaps, [2]uintptr{keepHi, stubStart - keepHi})
	}
	for _, u := range unmaps {
		if _, err := injectSyscall(pid, unix.SYS_MUNMAP, u[0], u[1]); err != nil {
			return fmt.Errorf("ptrace: munmap(%#x, %#x) in new stub: %w", u[0], u[1], err)
		}
	}
	if master && dest != 0 {
		v := platform.VDSO{Base: base - lo + dest}
		for _, m := range ms {
			m.Start, m.End = m.Start-lo+dest, m.End-lo+dest
			v.Mappings = append(v.Mappings, m)
		}
		c.vdso, c.vdsoOK = v, true
	}
	return nil
}

// moveMappings moves the mappings ms, spanning [lo, hi), rigidly so that
// lo lands at dest, by mremap injected into pid. Overlapping source and
// destination go through vdsoTemp.
func moveMappings(pid int, ms []platform.VDSOMapping, lo, hi, dest uintptr) error {
	if dest == lo {
		return nil
	}
	// move moves the mappings from where ms[0] is at from to where it is
	// at to (ms keep their original addresses).
	move := func(from, to uintptr) error {
		for _, m := range ms {
			n, off := m.End-m.Start, m.Start-lo
			if _, err := injectSyscall(pid, unix.SYS_MREMAP, from+off, n, n,
				unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, to+off); err != nil {
				return fmt.Errorf("ptrace: mremap of %s in new stub: %w", m.Name, err)
			}
		}
		return nil
	}
	from := lo
	if dest < hi && lo < dest+(hi-lo) {
		if err := move(from, vdsoTemp); err != nil {
			return err
		}
		from = vdsoTemp
	}
	return move(from, dest)
}

// isELF reports whether the memory of pid at addr starts with an ELF
// magic number.
func isELF(pid int, addr uintptr) bool {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/mem")
	if err != nil {
		return false
	}
	defer f.Close()
	var b [4]byte
	if _, err := f.ReadAt(b[:], int64(addr)); err != nil {
		return false
	}
	return bytes.Equal(b[:], []byte("\x7fELF"))
}

// VDSO implements platform.VDSOProvider: the host vDSO as the master stub
// kept it (every stub has it at the same addresses).
func (p *ptracePlatform) VDSO() (platform.VDSO, bool) {
	v := p.ctl.vdso
	v.Mappings = append([]platform.VDSOMapping(nil), v.Mappings...)
	return v, p.ctl.vdsoOK
}
