package ptrace

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/runsc-cri/runsc-cri/platform"
)

// BenchmarkSyscallRoundTrip measures one application system call: Switch
// returns EventSyscall, the result is set, Switch is entered again.
func BenchmarkSyscallRoundTrip(b *testing.B) {
	e := newEnv(b)
	as := e.newAS()
	defer as.Release()
	locked(func() {
		c, _ := e.p.NewContext()
		defer c.Release()
		r := regsAt(offLoop)
		r.Rdi = dataAddr
		mustSwitch(b, c, as, &r, platform.EventSyscall)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			r.Rax = 39
			if ev, _, err := c.Switch(as, &r); err != nil || ev != platform.EventSyscall {
				b.Fatalf("Switch: %v %v", ev, err)
			}
		}
	})
}

func benchNewAS(b *testing.B, fork bool) {
	e := newEnvMode(b, fork)
	locked(func() {
		c, _ := e.p.NewContext()
		defer c.Release()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			as, err := e.p.NewAddressSpace()
			if err != nil {
				b.Fatal(err)
			}
			if err := as.MapFile(codeAddr, e.code, pageSize, platform.AnyAccess); err != nil {
				b.Fatal(err)
			}
			r := regsAt(offSyscall2)
			mustSwitch(b, c, as, &r, platform.EventSyscall)
			c.Forget(as)
			as.Release()
		}
	})
}

// BenchmarkNewAddressSpace: NewAddressSpace, one MapFile, the first Switch
// (which creates the context's thread), Forget and Release.
func BenchmarkNewAddressSpaceFork(b *testing.B) { benchNewAS(b, true) }
func BenchmarkNewAddressSpaceExec(b *testing.B) { benchNewAS(b, false) }

// BenchmarkMapUnmap64M maps and unmaps 64 MiB of the memory file from a
// goroutine that traces no stub thread (through the controller).
func BenchmarkMapUnmap64M(b *testing.B) {
	e := newEnv(b)
	as := e.newAS()
	defer as.Release()
	const size = 64 << 20
	r, err := e.mf.Allocate(size)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		if err := as.MapFile(0x10000000, r.Start, size, platform.ReadWrite); err != nil {
			b.Fatal(err)
		}
		as.Unmap(0x10000000, size)
	}
}

// BenchmarkMapUnmap64MOwnThread does the same from a context goroutine
// that has a thread in the address space (direct injection).
func BenchmarkMapUnmap64MOwnThread(b *testing.B) {
	e := newEnv(b)
	as := e.newAS()
	defer as.Release()
	const size = 64 << 20
	mr, err := e.mf.Allocate(size)
	if err != nil {
		b.Fatal(err)
	}
	locked(func() {
		c, _ := e.p.NewContext()
		defer c.Release()
		r := regsAt(offSyscall2)
		mustSwitch(b, c, as, &r, platform.EventSyscall)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := as.MapFile(0x10000000, mr.Start, size, platform.ReadWrite); err != nil {
				b.Fatal(err)
			}
			as.Unmap(0x10000000, size)
		}
	})
}

func TestStubMaps(t *testing.T) {
	e := newEnv(t)
	as := e.newAS()
	defer as.Release()
	// The mappings are made when the first context enters the stub.
	locked(func() {
		c, _ := e.p.NewContext()
		defer c.Release()
		r := regsAt(offSyscall2)
		mustSwitch(t, c, as, &r, platform.EventSyscall)
	})
	maps, err := os.ReadFile("/proc/" + strconv.Itoa(as.pid) + "/maps")
	if err != nil {
		t.Fatal(err)
	}
	var starts []string
	for _, l := range strings.Split(strings.TrimSpace(string(maps)), "\n") {
		if strings.Contains(l, "[vsyscall]") || strings.Contains(l, "[vdso]") || strings.Contains(l, "[vvar") {
			continue // the vDSO: see TestVDSO
		}
		starts = append(starts, strings.SplitN(l, "-", 2)[0])
	}
	want := []string{"00400000", "00500000", "00600000", "7fffffff0000", "7fffffff1000"}
	if strings.Join(starts, " ") != strings.Join(want, " ") {
		t.Errorf("stub maps:\n%s", maps)
	}
}
