package ptrace

import (
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/platform"
	"github.com/runsc-cri/runsc-cri/sentry/arch"
	"github.com/runsc-cri/runsc-cri/sentry/memfile"
)

// Test code, hand-assembled. Each snippet starts at its offset in the code
// page mapped at codeAddr.
const (
	codeAddr = 0x400000
	dataAddr = 0x500000 // one read-write page
	roAddr   = 0x600000 // one read-only page
	unmapped = 0x700000

	offSyscall2 = 0x000 // syscall; syscall
	offStore    = 0x010 // mov [rdi], eax (89 07); syscall
	offUD2      = 0x020 // ud2 (0F 0B)
	offInt3     = 0x030 // int3 (CC)
	offDiv0     = 0x040 // xor edx,edx (31 D2); xor ecx,ecx (31 C9); div ecx (F7 F1)
	offSpin     = 0x050 // jmp $ (EB FE)
	offXMM      = 0x060 // movq xmm0, rax (66 48 0F 6E C0); syscall
	offFS       = 0x070 // mov rax, fs:[0] (64 48 8B 04 25 00 00 00 00); syscall
	offLoop     = 0x080 // mov [rdi], eax (89 07); syscall; jmp back to the store (EB FA)
	offCallRax  = 0x090 // call rax (FF D0); syscall
)

func testCode() []byte {
	b := make([]byte, pageSize)
	put := func(off int, code ...byte) { copy(b[off:], code) }
	put(offSyscall2, 0x0f, 0x05, 0x0f, 0x05)
	put(offStore, 0x89, 0x07, 0x0f, 0x05)
	put(offUD2, 0x0f, 0x0b)
	put(offInt3, 0xcc)
	put(offDiv0, 0x31, 0xd2, 0x31, 0xc9, 0xf7, 0xf1)
	put(offSpin, 0xeb, 0xfe)
	put(offXMM, 0x66, 0x48, 0x0f, 0x6e, 0xc0, 0x0f, 0x05)
	put(offFS, 0x64, 0x48, 0x8b, 0x04, 0x25, 0, 0, 0, 0, 0x0f, 0x05)
	put(offLoop, 0x89, 0x07, 0x0f, 0x05, 0xeb, 0xfa)
	put(offCallRax, 0xff, 0xd0, 0x0f, 0x05)
	return b
}

type env struct {
	t    testing.TB
	mf   *memfile.File
	p    *ptracePlatform
	code uint64 // file offset of the code page
	data uint64 // file offset of the data page
	ro   uint64
}

func newEnv(t testing.TB) *env { return newEnvMode(t, true) }

func newEnvMode(t testing.TB, fork bool) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for ptrace of stub processes")
	}
	mf, err := memfile.New("ptrace-test", 256<<20)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPlatform(mf.FD(), fork)
	if errors.Is(err, platform.ErrUnavailable) {
		mf.Close()
		t.Skipf("ptrace unavailable: %v", err)
	}
	if err != nil {
		mf.Close()
		t.Fatal(err)
	}
	e := &env{t: t, mf: mf, p: p}
	e.code = e.alloc(testCode())
	e.data = e.alloc(nil)
	e.ro = e.alloc(nil)
	binary.LittleEndian.PutUint64(mf.Slice(e.ro, 8), 0x1122334455667788)
	t.Cleanup(func() {
		p.Close()
		mf.Close()
	})
	return e
}

func (e *env) alloc(content []byte) uint64 {
	r, err := e.mf.Allocate(pageSize)
	if err != nil {
		e.t.Fatal(err)
	}
	copy(e.mf.Slice(r.Start, pageSize), content)
	return r.Start
}

// newAS returns an address space with the code, data and read-only pages.
func (e *env) newAS() *addressSpace {
	e.t.Helper()
	as, err := e.p.NewAddressSpace()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, m := range []struct {
		addr uintptr
		off  uint64
		at   platform.AccessType
	}{
		{codeAddr, e.code, platform.AccessType{Read: true, Execute: true}},
		{dataAddr, e.data, platform.ReadWrite},
		{roAddr, e.ro, platform.Read},
	} {
		if err := as.MapFile(m.addr, m.off, pageSize, m.at); err != nil {
			e.t.Fatalf("MapFile(%#x): %v", m.addr, err)
		}
	}
	return as.(*addressSpace)
}

// locked runs fn on a new goroutine locked to its OS thread and waits.
func locked(fn func()) {
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer close(done)
		fn()
	}()
	<-done
}

func regsAt(off int) arch.Registers {
	return arch.InitialRegisters(codeAddr+uintptr(off), dataAddr+pageSize)
}

func mustSwitch(t testing.TB, c platform.Context, as platform.AddressSpace, r *arch.Registers, want platform.Event) platform.SwitchInfo {
	t.Helper()
	ev, info, err := c.Switch(as, r)
	if err != nil {
		t.Fatalf("Switch: %v", err)
	}
	if ev != want {
		t.Fatalf("Switch = %v (%+v) at rip %#x, want %v", ev, info, r.Rip, want)
	}
	return info
}

func TestSyscall(t *testing.T) {
	e := newEnv(t)
	as := e.newAS()
	defer as.Release()
	locked(func() {
		c, _ := e.p.NewContext()
		defer c.Release()
		r := regsAt(offSyscall2)
		r.Rax, r.Rdi, r.Rsi, r.Rdx, r.R10, r.R8, r.R9 = unix.SYS_GETPID, 1, 2, 3, 4, 5, 6
		mustSwitch(t, c, as, &r, platform.EventSyscall)
		if r.SyscallNo() != unix.SYS_GETPID || r.Args() != (arch.SyscallArguments{1, 2, 3, 4, 5, 6}) {
			t.Errorf("syscall %d args %v", r.SyscallNo(), r.Args())
		}
		if r.Rip != codeAddr+offSyscall2+2 {
			t.Errorf("rip %#x, want %#x", r.Rip, codeAddr+offSyscall2+2)
		}
		// The result we set is in rax when the next syscall is made.
		r.SetReturn(1234)
		mustSwitch(t, c, as, &r, platform.EventSyscall)
		if r.OrigRax != 1234 || r.Rip != codeAddr+offSyscall2+4 {
			t.Errorf("second syscall: orig_rax %d rip %#x", r.OrigRax, r.Rip)
		}
	})
}

func TestFaults(t *testing.T) {
	e := newEnv(t)
	as := e.newAS()
	defer as.Release()
	locked(func() {
		c, _ := e.p.NewContext()
		defer c.Release()
		for _, addr := range []uintptr{unmapped + 8, roAddr + 16} {
			r := regsAt(offStore)
			r.Rdi = uint64(addr)
			info := mustSwitch(t, c, as, &r, platform.EventFault)
			if info.Addr != addr || info.Signo != int32(unix.SIGSEGV) || info.AccessKnown || info.Trapno != 14 {
				t.Errorf("fault at %#x: %+v", addr, info)
			}
			if r.Rip != codeAddr+offStore {
				t.Errorf("fault rip %#x", r.Rip)
			}
			// Map the page writable and retry: the store completes.
			if err := as.MapFile(addr&^(pageSize-1), e.alloc(nil), pageSize, platform.ReadWrite); err != nil {
				t.Fatal(err)
			}
			mustSwitch(t, c, as, &r, platform.EventSyscall)
		}
	})
}

func TestSignals(t *testing.T) {
	e := newEnv(t)
	as := e.newAS()
	defer as.Release()
	locked(func() {
		c, _ := e.p.NewContext()
		defer c.Release()
		for _, tc := range []struct {
			off  int
			sig  unix.Signal
			trap uint64
		}{
			{offUD2, unix.SIGILL, 6},
			{offInt3, unix.SIGTRAP, 3},
			{offDiv0, unix.SIGFPE, 0},
		} {
			r := regsAt(tc.off)
			info := mustSwitch(t, c, as, &r, platform.EventSignal)
			if info.Signo != int32(tc.sig) || info.Trapno != tc.trap {
				t.Errorf("code at %#x: %+v, want signal %v", tc.off, info, tc.sig)
			}
		}
	})
}

func TestInterrupt(t *testing.T) {
	e := newEnv(t)
	as := e.newAS()
	defer as.Release()
	locked(func() {
		c, _ := e.p.NewContext()
		defer c.Release()
		// Before Switch: immediate.
		c.Interrupt()
		r := regsAt(offSpin)
		mustSwitch(t, c, as, &r, platform.EventInterrupt)
		// While spinning.
		for i := 0; i < 20; i++ {
			stop := time.AfterFunc(time.Millisecond, c.Interrupt)
			start := time.Now()
			mustSwitch(t, c, as, &r, platform.EventInterrupt)
			stop.Stop()
			if r.Rip != codeAddr+offSpin {
				t.Fatalf("interrupted at %#x", r.Rip)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("interrupt took %v", d)
			}
		}
		// Stale signals are swallowed: syscalls still work afterwards.
		c.Interrupt()
		mustSwitch(t, c, as, &r, platform.EventInterrupt)
		r = regsAt(offSyscall2)
		mustSwitch(t, c, as, &r, platform.EventSyscall)
		mustSwitch(t, c, as, &r, platform.EventSyscall)
	})
}

func TestTwoContextsOneAddressSpace(t *testing.T) {
	e := newEnv(t)
	as := e.newAS()
	defer as.Release()
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			locked(func() {
				c, _ := e.p.NewContext()
				defer c.Release()
				// Each thread stores its counter in its own word, with a
				// syscall after every store.
				r := regsAt(offLoop)
				r.Rdi = uint64(dataAddr + 8*i)
				for n := 0; n < 200; n++ {
					r.Rax = uint64(n)
					mustSwitch(t, c, as, &r, platform.EventSyscall)
					if r.OrigRax != uint64(n) {
						t.Errorf("thread %d: syscall %d, want %d", i, r.OrigRax, n)
						return
					}
				}
			})
		}()
	}
	wg.Wait()
	d := e.mf.Slice(e.data, 16)
	if a, b := binary.LittleEndian.Uint32(d), binary.LittleEndian.Uint32(d[8:]); a != 199 || b != 199 {
		t.Errorf("counters %d %d", a, b)
	}
}

func TestTwoAddressSpaces(t *testing.T) {
	e := newEnv(t)
	as1, as2 := e.newAS(), e.newAS()
	defer as1.Release()
	defer as2.Release()
	// Different data pages at the same address.
	d2 := e.alloc(nil)
	if err := as2.MapFile(dataAddr, d2, pageSize, platform.ReadWrite); err != nil {
		t.Fatal(err)
	}
	locked(func() {
		c, _ := e.p.NewContext()
		defer c.Release()
		for i, as := range []*addressSpace{as1, as2, as1} {
			r := regsAt(offStore)
			r.Rdi = dataAddr + uint64(8*i)
			r.Rax = uint64(100 + i)
			mustSwitch(t, c, as, &r, platform.EventSyscall)
		}
	})
	d1 := e.mf.Slice(e.data, 24)
	dd := e.mf.Slice(d2, 24)
	if binary.LittleEndian.Uint64(d1) != 100 || binary.LittleEndian.Uint64(d1[16:]) != 102 ||
		binary.LittleEndian.Uint64(dd[8:]) != 101 || binary.LittleEndian.Uint64(d1[8:]) != 0 {
		t.Errorf("data pages: %x / %x", d1, dd)
	}
}

func TestFSBase(t *testing.T) {
	e := newEnv(t)
	as := e.newAS()
	defer as.Release()
	locked(func() {
		c, _ := e.p.NewContext()
		defer c.Release()
		r := regsAt(offFS)
		r.FsBase = roAddr
		mustSwitch(t, c, as, &r, platform.EventSyscall)
		if r.OrigRax != 0x1122334455667788 {
			t.Errorf("fs:[0] read %#x", r.OrigRax)
		}
		if r.FsBase != roAddr || r.Fs != 0 {
			t.Errorf("fs_base %#x fs %#x", r.FsBase, r.Fs)
		}
	})
}

func TestFPState(t *testing.T) {
	e := newEnv(t)
	as := e.newAS()
	defer as.Release()
	if e.p.FPStateSize() < arch.FXSaveSize {
		t.Fatalf("FPStateSize %d", e.p.FPStateSize())
	}
	locked(func() {
		c, _ := e.p.NewContext()
		defer c.Release()
		r := regsAt(offXMM)
		r.Rax = 0xdeadbeefcafe
		mustSwitch(t, c, as, &r, platform.EventSyscall)
		s := make(arch.FPState, e.p.FPStateSize())
		if err := c.FPState(as, s); err != nil {
			t.Fatal(err)
		}
		if x := binary.LittleEndian.Uint64(s[160:]); x != 0xdeadbeefcafe {
			t.Errorf("xmm0 = %#x", x)
		}
		// Round trip: write xmm0 and read it back.
		binary.LittleEndian.PutUint64(s[160:], 0x1234)
		if err := c.SetFPState(as, s); err != nil {
			t.Fatal(err)
		}
		s2 := make(arch.FPState, e.p.FPStateSize())
		if err := c.FPState(as, s2); err != nil {
			t.Fatal(err)
		}
		if x := binary.LittleEndian.Uint64(s2[160:]); x != 0x1234 {
			t.Errorf("xmm0 after SetFPState = %#x", x)
		}
		// A fresh state (what exec installs) is accepted and takes effect.
		if err := c.SetFPState(as, arch.NewFPState(e.p.FPStateSize())); err != nil {
			t.Fatalf("SetFPState(NewFPState): %v", err)
		}
		if err := c.FPState(as, s2); err != nil {
			t.Fatal(err)
		}
		if x := binary.LittleEndian.Uint64(s2[160:]); x != 0 {
			t.Errorf("xmm0 after SetFPState(NewFPState) = %#x", x)
		}
		if m := binary.LittleEndian.Uint32(s2[24:]); m != arch.DefaultMXCSR {
			t.Errorf("mxcsr = %#x", m)
		}
		// And the application sees it: run the code again, xmm0 changes.
		r = regsAt(offXMM)
		r.Rax = 7
		mustSwitch(t, c, as, &r, platform.EventSyscall)
		if err := c.FPState(as, s2); err != nil {
			t.Fatal(err)
		}
		if x := binary.LittleEndian.Uint64(s2[160:]); x != 7 {
			t.Errorf("xmm0 = %#x", x)
		}
		t.Logf("FPStateSize %d", e.p.FPStateSize())
	})
}

// stubProcs returns the stub processes (their executable is the
// "runsc-stub" memfd) and their thread counts.
func stubProcs(t testing.TB) map[int]int {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	procs := map[int]int{} // pid -> threads
	for _, d := range ents {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink("/proc/" + d.Name() + "/exe")
		if err != nil || !strings.Contains(exe, "runsc-stub") {
			continue
		}
		tasks, _ := os.ReadDir("/proc/" + d.Name() + "/task")
		procs[pid] = len(tasks)
	}
	return procs
}

// gone waits up to a second for process pid to disappear (reaping is
// asynchronous).
func gone(pid int) bool {
	for i := 0; i < 100; i++ {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

func TestNoLeftovers(t *testing.T) {
	before := stubProcs(t)
	e := newEnv(t)
	as1, as2 := e.newAS(), e.newAS()
	locked(func() {
		c1, _ := e.p.NewContext()
		for _, as := range []*addressSpace{as1, as2} {
			r := regsAt(offSyscall2)
			mustSwitch(t, c1, as, &r, platform.EventSyscall)
		}
		if n := stubProcs(t)[as1.pid]; n != 2 {
			t.Errorf("as1 has %d threads, want 2", n)
		}
		c1.Forget(as1)
		if n := stubProcs(t)[as1.pid]; n != 1 {
			t.Errorf("as1 has %d threads after Forget, want 1", n)
		}
		c1.Release()
		if n := stubProcs(t)[as2.pid]; n != 1 {
			t.Errorf("as2 has %d threads after Release, want 1", n)
		}
		// A context still in an address space when it is released.
		c2, _ := e.p.NewContext()
		r := regsAt(offSyscall2)
		mustSwitch(t, c2, as1, &r, platform.EventSyscall)
		as1.Release()
		if _, _, err := c2.Switch(as1, &r); err == nil {
			t.Errorf("Switch into a released address space succeeded")
		}
		c2.Release()
	})
	as2.Release()
	for _, pid := range []int{as1.pid, as2.pid} {
		if !gone(pid) {
			t.Errorf("stub %d still exists", pid)
		}
	}
	master := e.p.ctl.master
	e.p.Close()
	if !gone(master) {
		t.Errorf("master stub %d still exists", master)
	}
	after := stubProcs(t)
	for pid := range after {
		// Killed stubs (the pool's too) may take a moment to vanish.
		if _, ok := before[pid]; !ok && !gone(pid) {
			t.Errorf("stub process %d left behind", pid)
		}
	}
}

func TestMapFileUnlockedDuringSwitch(t *testing.T) {
	e := newEnv(t)
	as := e.newAS()
	defer as.Release()
	running := make(chan struct{})
	result := make(chan error, 1)
	var c platform.Context
	go locked(func() {
		c, _ = e.p.NewContext()
		defer c.Release()
		r := regsAt(offSyscall2)
		mustSwitch(t, c, as, &r, platform.EventSyscall) // thread exists now
		r = regsAt(offSpin)
		close(running)
		ev, _, err := c.Switch(as, &r)
		if err == nil && ev != platform.EventInterrupt {
			err = errors.New("not interrupted: " + ev.String())
		}
		if err == nil {
			// The mapping made meanwhile is visible.
			r = regsAt(offStore)
			r.Rdi, r.Rax = unmapped, 77
			_, _, err = c.Switch(as, &r)
		}
		result <- err
	})
	<-running
	time.Sleep(time.Millisecond)
	page := e.alloc(nil)
	if err := as.MapFile(unmapped, page, pageSize, platform.ReadWrite); err != nil {
		t.Fatal(err)
	}
	as.Unmap(unmapped+pageSize, pageSize)
	c.Interrupt()
	if err := <-result; err != nil {
		t.Fatal(err)
	}
	if v := binary.LittleEndian.Uint32(e.mf.Slice(page, 4)); v != 77 {
		t.Errorf("store through new mapping: %d", v)
	}
}

func TestExecMode(t *testing.T) {
	e := newEnvMode(t, false)
	as := e.newAS()
	locked(func() {
		c, _ := e.p.NewContext()
		defer c.Release()
		r := regsAt(offSyscall2)
		mustSwitch(t, c, as, &r, platform.EventSyscall)
	})
	as.Release()
	if !gone(as.pid) {
		t.Errorf("exec'd stub %d still exists", as.pid)
	}
}

func TestRegistered(t *testing.T) {
	found := false
	for _, n := range platform.Names() {
		found = found || n == "ptrace"
	}
	if !found {
		t.Fatal("ptrace not registered")
	}
}

func TestStubKilled(t *testing.T) {
	e := newEnv(t)
	as := e.newAS()
	locked(func() {
		c, _ := e.p.NewContext()
		defer c.Release()
		r := regsAt(offSyscall2)
		mustSwitch(t, c, as, &r, platform.EventSyscall)
		unix.Kill(as.pid, unix.SIGKILL)
		r = regsAt(offSpin)
		if _, _, err := c.Switch(as, &r); err == nil {
			t.Error("Switch in a killed stub succeeded")
		}
		if err := as.MapFile(unmapped, e.data, pageSize, platform.Read); err == nil {
			t.Error("MapFile in a killed stub succeeded")
		}
		c.Forget(as)
	})
	as.Release()
	if !gone(as.pid) {
		t.Errorf("killed stub %d not reaped", as.pid)
	}
	// The platform still works.
	as2 := e.newAS()
	defer as2.Release()
	locked(func() {
		c, _ := e.p.NewContext()
		defer c.Release()
		r := regsAt(offSyscall2)
		mustSwitch(t, c, as2, &r, platform.EventSyscall)
	})
}

func TestMapFileBounds(t *testing.T) {
	e := newEnv(t)
	as := e.newAS()
	defer as.Release()
	for _, tc := range []struct{ addr, length uintptr }{
		{vdsoWindowStart - pageSize, 2 * pageSize},
		{stubStart - pageSize, 2 * pageSize},
		{stubStart, pageSize},
		{0, pageSize},
		{0x123, pageSize},
	} {
		if err := as.MapFile(tc.addr, e.data, tc.length, platform.Read); err == nil {
			t.Errorf("MapFile(%#x, %#x) succeeded", tc.addr, tc.length)
		}
	}
	as.Unmap(stubStart-pageSize, 2*pageSize)             // must not remove the stub
	as.Unmap(vdsoWindowStart, stubStart-vdsoWindowStart) // nor the vDSO
	checkStubVDSO(t, e.p, as.pid)
	locked(func() {
		c, _ := e.p.NewContext()
		defer c.Release()
		r := regsAt(offSyscall2)
		mustSwitch(t, c, as, &r, platform.EventSyscall)
	})
}

// TestStress runs several contexts in one address space while others
// interrupt them and map and unmap memory from unlocked goroutines.
func TestStress(t *testing.T) {
	e := newEnv(t)
	as := e.newAS()
	defer as.Release()
	const workers = 4
	ctxs := make(chan platform.Context, workers)
	var interrupts atomic.Int64
	stop := make(chan struct{})
	var wg, bg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			locked(func() {
				c, _ := e.p.NewContext()
				defer c.Release()
				ctxs <- c
				r := regsAt(offLoop)
				r.Rdi = uint64(dataAddr + 8*i)
				// At least 2000 calls, and on until some interrupt
				// arrived (the calls can outrun the interrupter).
				for n := 0; n < 2000 || interrupts.Load() == 0 && n < 1000000; {
					r.Rax = uint64(n)
					ev, _, err := c.Switch(as, &r)
					if err != nil {
						t.Errorf("worker %d: %v", i, err)
						return
					}
					switch ev {
					case platform.EventInterrupt:
						interrupts.Add(1)
						// Rax may or may not have been consumed: restart
						// the iteration at the store.
						r.Rip = codeAddr + offLoop
					case platform.EventSyscall:
						if r.OrigRax != uint64(n) {
							t.Errorf("worker %d: syscall %d, want %d", i, r.OrigRax, n)
							return
						}
						n++
					default:
						t.Errorf("worker %d: event %v", i, ev)
						return
					}
				}
				c.Forget(as)
			})
		}()
	}
	var all []platform.Context
	for i := 0; i < workers; i++ {
		all = append(all, <-ctxs)
	}
	bg.Add(2)
	go func() {
		defer bg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			all[i%workers].Interrupt()
			time.Sleep(50 * time.Microsecond)
		}
	}()
	go func() {
		defer bg.Done()
		page := e.alloc(nil)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := as.MapFile(unmapped, page, pageSize, platform.ReadWrite); err != nil {
				t.Error(err)
				return
			}
			as.Unmap(unmapped, pageSize)
		}
	}()
	wg.Wait()
	close(stop)
	bg.Wait()
	t.Logf("%d interrupts", interrupts.Load())
	if interrupts.Load() == 0 {
		t.Error("no interrupt was reported")
	}
	if n := stubProcs(t)[as.pid]; n != 1 { // the control thread
		t.Errorf("stub has %d threads after all contexts left, want 1", n)
	}
}

// TestWrongThread: using a context from another OS thread fails cleanly.
func TestWrongThread(t *testing.T) {
	e := newEnv(t)
	as := e.newAS()
	defer as.Release()
	cc := make(chan platform.Context)
	done := make(chan struct{})
	go locked(func() {
		c, _ := e.p.NewContext()
		r := regsAt(offSyscall2)
		mustSwitch(t, c, as, &r, platform.EventSyscall)
		cc <- c
		<-done
		c.Release()
	})
	c := <-cc
	locked(func() {
		r := regsAt(offSyscall2)
		if _, _, err := c.Switch(as, &r); err == nil {
			t.Error("Switch from a foreign thread succeeded")
		}
		as2 := e.newAS()
		defer as2.Release()
		if _, _, err := c.Switch(as2, &r); err == nil {
			t.Error("Switch from a foreign thread into a new address space succeeded")
		}
	})
	close(done)
}

// TestSyscallResultWithPendingStop checks the result of a call reaches the
// application unchanged when a stop signal is pending on the way back, for
// results written with PTRACE_POKEUSER and for -ERESTART* results (written
// with PTRACE_SETREGS, so that the host kernel does not restart the call).
func TestSyscallResultWithPendingStop(t *testing.T) {
	e := newEnv(t)
	as := e.newAS()
	defer as.Release()
	for _, result := range []uint64{1234, ^uint64(512 - 1), ^uint64(516 - 1), ^uint64(38 - 1)} {
		locked(func() {
			c, _ := e.p.NewContext()
			defer c.Release()
			r := regsAt(offSyscall2)
			r.Rax = unix.SYS_GETPID
			mustSwitch(t, c, as, &r, platform.EventSyscall)
			th := c.(*context).threads[as]
			r.Rax = result
			tgkill(as.pid, th.tid, unix.SIGSTOP) // stale: Switch swallows it
			mustSwitch(t, c, as, &r, platform.EventSyscall)
			if r.OrigRax != result || r.Rip != codeAddr+offSyscall2+4 {
				t.Errorf("result %#x: next syscall orig_rax %#x rip %#x, want %#x %#x",
					result, r.OrigRax, r.Rip, result, codeAddr+offSyscall2+4)
			}
		})
	}
}

// TestQueuedMappings: mappings made before any context entered the stub
// are queued and applied in order when the first one does.
func TestQueuedMappings(t *testing.T) {
	e := newEnv(t)
	as := e.newAS() // code, data and read-only pages: queued
	defer as.Release()
	page := e.alloc(nil)
	if err := as.MapFile(unmapped, page, pageSize, platform.ReadWrite); err != nil {
		t.Fatal(err)
	}
	as.Unmap(unmapped, pageSize) // queued after the map: the page ends unmapped
	if n := len(as.pending); n != 5 {
		t.Errorf("%d queued calls, want 5", n)
	}
	locked(func() {
		c, _ := e.p.NewContext()
		defer c.Release()
		r := regsAt(offStore)
		r.Rdi, r.Rax = dataAddr, 7
		mustSwitch(t, c, as, &r, platform.EventSyscall)
		if got := e.mf.Slice(e.data, 1)[0]; got != 7 {
			t.Errorf("store through a queued mapping: data page holds %d", got)
		}
		r = regsAt(offStore)
		r.Rdi = unmapped
		if info := mustSwitch(t, c, as, &r, platform.EventFault); info.Addr != unmapped {
			t.Errorf("fault at %#x, want %#x", info.Addr, uintptr(unmapped))
		}
	})
	if len(as.pending) != 0 || !as.attached {
		t.Error("queue not flushed")
	}
}

// TestBatchFailure: a queued call that fails is reported by the first
// Switch (the batch stops there) and the address space is not entered.
func TestBatchFailure(t *testing.T) {
	e := newEnv(t)
	as := e.newAS()
	defer as.Release()
	if as.slot < 0 {
		t.Skip("no batch page")
	}
	as.pending = append(as.pending, stubCall{nr: unix.SYS_MUNMAP, args: [6]uintptr{1, pageSize}}) // EINVAL
	locked(func() {
		c, _ := e.p.NewContext()
		defer c.Release()
		r := regsAt(offSyscall2)
		if _, _, err := c.Switch(as, &r); !errors.Is(err, unix.EINVAL) {
			t.Errorf("Switch after a failed queued call: %v, want EINVAL", err)
		}
	})
}
