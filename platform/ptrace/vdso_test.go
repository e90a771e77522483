package ptrace

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/platform"
)

// hostHasVDSO reports whether this (test) process has a vDSO: if it does,
// the platform must keep one too.
func hostHasVDSO(t *testing.T) bool {
	ms, err := readVDSOMappings(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, ok := vdsoShape(ms)
	return ok
}

// checkStubVDSO checks that stub pid maps the platform's vDSO where it
// says, and nothing else between MaxUserAddress and the stub page.
func checkStubVDSO(t *testing.T, p *ptracePlatform, pid int) {
	t.Helper()
	v, ok := p.VDSO()
	if !ok {
		return
	}
	ms, err := readVDSOMappings(pid)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ms) != fmt.Sprint(v.Mappings) {
		t.Errorf("stub %d vDSO mappings %v, platform says %v", pid, ms, v.Mappings)
	}
}

func TestVDSO(t *testing.T) {
	for _, fork := range []bool{true, false} {
		t.Run(fmt.Sprintf("fork=%v", fork), func(t *testing.T) {
			e := newEnvMode(t, fork)
			v, ok := e.p.VDSO()
			if !ok {
				if hostHasVDSO(t) {
					t.Fatal("the host has a vDSO but the platform kept none")
				}
				t.Skip("no host vDSO")
			}
			var _ platform.VDSOProvider = e.p
			lo, hi := v.Mappings[0].Start, v.Mappings[len(v.Mappings)-1].End
			if lo < vdsoWindowStart || hi > stubStart || lo >= hi {
				t.Fatalf("vDSO [%#x, %#x) outside the window [%#x, %#x)", lo, hi, vdsoWindowStart, stubStart)
			}
			if v.Base < lo || v.Base >= hi || !isELF(e.p.ctl.master, v.Base) {
				t.Fatalf("base %#x: no ELF image", v.Base)
			}
			if e.p.MaxUserAddress() > lo {
				t.Fatalf("MaxUserAddress %#x above the vDSO at %#x", e.p.MaxUserAddress(), lo)
			}
			checkStubVDSO(t, e.p, e.p.ctl.master)
			as1, as2 := e.newAS(), e.newAS()
			defer as1.Release()
			defer as2.Release()
			checkStubVDSO(t, e.p, as1.pid)
			checkStubVDSO(t, e.p, as2.pid)
		})
	}
}

// vdsoSymbol returns the offset from the vDSO base of the vDSO function
// name, read from this process's own vDSO (the same kernel's image).
func vdsoSymbol(t *testing.T, name string) uintptr {
	t.Helper()
	ms, _ := readVDSOMappings(os.Getpid())
	var img []byte
	for _, m := range ms {
		if m.Name == "[vdso]" {
			f, err := os.Open("/proc/self/mem")
			if err != nil {
				t.Fatal(err)
			}
			img = make([]byte, m.End-m.Start)
			_, err = f.ReadAt(img, int64(m.Start))
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	ef, err := elf.NewFile(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	syms, err := ef.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if s.Name == name {
			return uintptr(s.Value)
		}
	}
	t.Fatalf("no %s in the vDSO", name)
	return 0
}

// TestVDSOClockGettime calls the vDSO's clock_gettime in a stub thread:
// it must return the host's monotonic time without a system call.
func TestVDSOClockGettime(t *testing.T) {
	e := newEnv(t)
	v, ok := e.p.VDSO()
	if !ok {
		t.Skip("no vDSO")
	}
	fn := v.Base + vdsoSymbol(t, "__vdso_clock_gettime")
	as := e.newAS()
	defer as.Release()
	locked(func() {
		c, err := e.p.NewContext()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Release()
		var before, after unix.Timespec
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &before)
		r := regsAt(offCallRax)
		r.Rax, r.Rdi, r.Rsi = uint64(fn), unix.CLOCK_MONOTONIC, dataAddr
		ev, info, err := c.Switch(as, &r)
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &after)
		if err != nil || ev != platform.EventSyscall {
			t.Errorf("Switch = %v %+v %v at rip %#x", ev, info, err, r.Rip)
			return
		}
		if r.Rip != codeAddr+offCallRax+4 {
			if r.Rip >= uint64(v.Base) && r.Rip < uint64(v.Mappings[len(v.Mappings)-1].End) {
				t.Skipf("the host's clocksource has no vDSO support: the vDSO made system call %d", r.OrigRax)
			}
			t.Fatalf("stopped at %#x, want %#x", r.Rip, codeAddr+offCallRax+4)
		}
		if r.OrigRax != 0 { // at a syscall stop, orig_rax is what rax was
			t.Fatalf("__vdso_clock_gettime returned %d", int64(r.OrigRax))
		}
		b := e.mf.Slice(e.data, 16)
		got := int64(binary.LittleEndian.Uint64(b))*1e9 + int64(binary.LittleEndian.Uint64(b[8:]))
		if got < before.Nano() || got > after.Nano() {
			t.Errorf("vDSO monotonic %d not within [%d, %d]", got, before.Nano(), after.Nano())
		}
	})
}

// TestVDSOShape checks the parsing and validation of vDSO mappings.
func TestVDSOShape(t *testing.T) {
	rx := platform.AccessType{Read: true, Execute: true}
	good := []platform.VDSOMapping{
		{Start: 0x10000, End: 0x14000, Name: "[vvar]", Access: platform.Read},
		{Start: 0x14000, End: 0x16000, Name: "[vvar_vclock]", Access: platform.Read},
		{Start: 0x16000, End: 0x18000, Name: "[vdso]", Access: rx},
	}
	if lo, hi, base, ok := vdsoShape(good); !ok || lo != 0x10000 || hi != 0x18000 || base != 0x16000 {
		t.Errorf("vdsoShape(good) = %#x %#x %#x %v", lo, hi, base, ok)
	}
	for name, ms := range map[string][]platform.VDSOMapping{
		"empty":    nil,
		"no vdso":  good[:2],
		"two vdso": append(append([]platform.VDSOMapping(nil), good...), platform.VDSOMapping{Start: 0x18000, End: 0x19000, Name: "[vdso]", Access: rx}),
		"writable": {{Start: 0x10000, End: 0x11000, Name: "[vdso]", Access: platform.ReadWrite}},
		"huge":     {{Start: 0x10000, End: 0x10000 + 2*vdsoMaxSpan, Name: "[vdso]", Access: rx}},
		"unsorted": {good[2], good[0]},
	} {
		if _, _, _, ok := vdsoShape(ms); ok {
			t.Errorf("vdsoShape(%s) accepted %v", name, ms)
		}
	}
	moved := append([]platform.VDSOMapping(nil), good...)
	for i := range moved {
		moved[i].Start += 0x100000
		moved[i].End += 0x100000
	}
	if !sameShape(moved, good) || sameShape(good[1:], good[:2]) {
		t.Error("sameShape")
	}
	if _, err := readVDSOMappings(1 << 30); err == nil {
		t.Error("readVDSOMappings of no process succeeded")
	}
}

// TestVDSOMoveOverlapping moves a stub's vDSO by one page, so that source
// and destination overlap (the path through vdsoTemp), and back.
func TestVDSOMoveOverlapping(t *testing.T) {
	e := newEnv(t)
	v, ok := e.p.VDSO()
	if !ok {
		t.Skip("no vDSO")
	}
	as := e.newAS()
	defer as.Release()
	lo, hi := v.Mappings[0].Start, v.Mappings[len(v.Mappings)-1].End
	dest := lo - pageSize
	if dest < vdsoWindowStart {
		dest = lo + pageSize
	}
	var err error
	e.p.ctl.do(func() { err = moveMappings(as.pid, v.Mappings, lo, hi, dest) })
	if err != nil {
		t.Fatal(err)
	}
	ms, err := readVDSOMappings(as.pid)
	if err != nil {
		t.Fatal(err)
	}
	if !sameShape(ms, v.Mappings) || ms[0].Start != dest {
		t.Fatalf("after the move: %v, want %v at %#x", ms, v.Mappings, dest)
	}
	e.p.ctl.do(func() { err = moveMappings(as.pid, ms, dest, dest+(hi-lo), lo) })
	if err != nil {
		t.Fatal(err)
	}
	checkStubVDSO(t, e.p, as.pid)
}
