package mm

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/platform"
)

const rw = unix.PROT_READ | unix.PROT_WRITE
const privAnon = unix.MAP_PRIVATE | unix.MAP_ANONYMOUS

func mustMap(t *testing.T, m *MemoryManager, o MMapOpts) uintptr {
	t.Helper()
	a, err := m.MMap(o)
	if err != nil {
		t.Fatalf("MMap(%+v): %v", o, err)
	}
	return a
}

func anon(addr, length uintptr, prot, flags int) MMapOpts {
	return MMapOpts{Addr: addr, Length: length, Prot: prot, Flags: privAnon | flags}
}

func nvmas(m *MemoryManager) int {
	m.mappingMu.RLock()
	defer m.mappingMu.RUnlock()
	return len(m.vmas)
}

func readByte(t *testing.T, m *MemoryManager, addr uintptr) byte {
	t.Helper()
	var b [1]byte
	if _, err := m.CopyIn(addr, b[:]); err != nil {
		t.Fatalf("CopyIn(%#x): %v", addr, err)
	}
	return b[0]
}

func writeByte(t *testing.T, m *MemoryManager, addr uintptr, v byte) {
	t.Helper()
	if _, err := m.CopyOut(addr, []byte{v}); err != nil {
		t.Fatalf("CopyOut(%#x): %v", addr, err)
	}
}

// appFault simulates the application touching addr through the platform
// (ptrace: access unknown) until the fault resolves; write says what the
// hardware access was.
func appFault(t *testing.T, m *MemoryManager, addr uintptr, write bool) error {
	t.Helper()
	for i := 0; i < 5; i++ {
		fm, ok := fas(m).mapping(addr)
		if ok && fm.at.Read && (!write || fm.at.Write) {
			return nil
		}
		if err := m.HandleFault(addr, platform.SwitchInfo{Addr: addr, Access: platform.Read}); err != nil {
			return err
		}
	}
	t.Fatalf("fault at %#x did not resolve", addr)
	return nil
}

func TestMMapPlacementMergeAndUnmapSplit(t *testing.T) {
	e := newEnv(t)
	m := e.newMM()
	defer m.DecUsers()
	a := mustMap(t, m, anon(0, 3*pageSize, rw, 0))
	if a+3*pageSize != m.MmapBase() {
		t.Fatalf("first mapping at %#x, want just below mmap base %#x", a, m.MmapBase())
	}
	b := mustMap(t, m, anon(0, 2*pageSize, rw, 0))
	if b+2*pageSize != a {
		t.Fatalf("second mapping at %#x, want %#x", b, a-2*pageSize)
	}
	if n := nvmas(m); n != 1 {
		t.Fatalf("adjacent compatible mappings not merged: %d VMAs", n)
	}
	if err := m.MUnmap(b+pageSize, 2*pageSize); err != nil {
		t.Fatal(err)
	}
	if n := nvmas(m); n != 2 {
		t.Fatalf("munmap in the middle: %d VMAs, want 2", n)
	}
	// The hole is reused by a hint.
	c := mustMap(t, m, anon(b+pageSize, 2*pageSize, rw, 0))
	if c != b+pageSize || nvmas(m) != 1 {
		t.Fatalf("hint not honoured/merged: %#x, %d VMAs", c, nvmas(m))
	}
	if err := m.MUnmap(b+1, pageSize); err != unix.EINVAL {
		t.Fatalf("unaligned munmap: %v", err)
	}
	if got := m.VirtualSize(); got != 5*pageSize {
		t.Fatalf("VirtualSize = %d", got)
	}
	// MAP_32BIT
	d := mustMap(t, m, anon(0, pageSize, rw, unix.MAP_32BIT))
	if d >= 0x80000000 || d < 0x40000000 {
		t.Fatalf("MAP_32BIT mapping at %#x", d)
	}
	check(t, m)
}

func TestMProtectSplitMerge(t *testing.T) {
	e := newEnv(t)
	m := e.newMM()
	defer m.DecUsers()
	a := mustMap(t, m, anon(0, 4*pageSize, rw, 0))
	for i := uintptr(0); i < 4; i++ {
		if err := appFault(t, m, a+i*pageSize, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.MProtect(a+pageSize, pageSize, unix.PROT_READ); err != nil {
		t.Fatal(err)
	}
	if n := nvmas(m); n != 3 {
		t.Fatalf("%d VMAs after mprotect of the middle, want 3", n)
	}
	if fm, ok := fas(m).mapping(a + pageSize); ok && fm.at.Write {
		t.Fatal("page still writable in the host after mprotect(PROT_READ)")
	}
	check(t, m)
	if err := appFault(t, m, a+pageSize, true); !isSig(err, SIGSEGV, SEGV_ACCERR) {
		t.Fatalf("write to read-only page: %v", err)
	}
	if err := m.MProtect(a+pageSize, pageSize, rw); err != nil {
		t.Fatal(err)
	}
	if n := nvmas(m); n != 1 {
		t.Fatalf("%d VMAs after restoring protection, want 1", n)
	}
	if err := m.MProtect(a, 8*pageSize, rw); err != unix.ENOMEM {
		t.Fatalf("mprotect over a hole: %v", err)
	}
	if err := m.MProtect(a, pageSize, 0x100); err != unix.EINVAL {
		t.Fatalf("mprotect with a bad bit: %v", err)
	}
	check(t, m)
}

func isSig(err error, signo, code int32) bool {
	var fe *FaultError
	return errors.As(err, &fe) && fe.Signo == signo && fe.Code == code
}

func TestMapFixedReplaceAndNoReplace(t *testing.T) {
	e := newEnv(t)
	m := e.newMM()
	defer m.DecUsers()
	a := mustMap(t, m, anon(0, 4*pageSize, rw, 0))
	writeByte(t, m, a+pageSize, 42)
	if err := appFault(t, m, a+pageSize, true); err != nil {
		t.Fatal(err)
	}
	b := mustMap(t, m, anon(a+pageSize, pageSize, unix.PROT_READ, unix.MAP_FIXED))
	if b != a+pageSize {
		t.Fatalf("MAP_FIXED at %#x", b)
	}
	if _, ok := fas(m).mapping(a + pageSize); ok {
		t.Fatal("replaced page still mapped in the host")
	}
	if got := readByte(t, m, a+pageSize); got != 0 {
		t.Fatalf("replaced page reads %d", got)
	}
	if nvmas(m) != 3 {
		t.Fatalf("%d VMAs, want 3", nvmas(m))
	}
	if _, err := m.MMap(anon(a, pageSize, rw, unix.MAP_FIXED_NOREPLACE)); err != unix.EEXIST {
		t.Fatalf("MAP_FIXED_NOREPLACE over a mapping: %v", err)
	}
	if _, err := m.MMap(anon(a+1, pageSize, rw, unix.MAP_FIXED)); err != unix.EINVAL {
		t.Fatalf("unaligned MAP_FIXED: %v", err)
	}
	if _, err := m.MMap(anon(0, 0, rw, 0)); err != unix.EINVAL {
		t.Fatalf("zero length: %v", err)
	}
	check(t, m)
}

func TestBrk(t *testing.T) {
	e := newEnv(t)
	m := e.newMM()
	defer m.DecUsers()
	m.SetBrkStart(0x500123)
	start, _ := m.Brk(0)
	if start != 0x501000 {
		t.Fatalf("brk start %#x", start)
	}
	if got, _ := m.Brk(start + 3*pageSize + 10); got != start+3*pageSize+10 {
		t.Fatalf("grow: %#x", got)
	}
	writeByte(t, m, start+3*pageSize+5, 7)
	if !strings.Contains(string(m.Maps()), "[heap]") {
		t.Fatalf("no [heap] in maps:\n%s", m.Maps())
	}
	if got, _ := m.Brk(start + pageSize); got != start+pageSize {
		t.Fatalf("shrink: %#x", got)
	}
	if _, err := m.CopyIn(start+3*pageSize+5, make([]byte, 1)); err != unix.EFAULT {
		t.Fatalf("access beyond shrunk brk: %v", err)
	}
	m.Brk(start + 4*pageSize)
	if got := readByte(t, m, start+3*pageSize+5); got != 0 {
		t.Fatalf("regrown heap not zero: %d", got)
	}
	if got, _ := m.Brk(start - pageSize); got != start+4*pageSize {
		t.Fatalf("brk below start changed the break: %#x", got)
	}
	// Growth into another mapping fails and leaves the break.
	mustMap(t, m, anon(start+8*pageSize, pageSize, rw, unix.MAP_FIXED))
	if got, _ := m.Brk(start + 10*pageSize); got != start+4*pageSize {
		t.Fatalf("brk over a mapping: %#x", got)
	}
	check(t, m)
}

func TestMRemap(t *testing.T) {
	e := newEnv(t)
	m := e.newMM()
	defer m.DecUsers()
	a := mustMap(t, m, anon(0, 2*pageSize, rw, 0))
	writeByte(t, m, a, 1)
	writeByte(t, m, a+pageSize, 2)
	appFault(t, m, a, true)
	// Something right after, so growing must move.
	mustMap(t, m, anon(a+2*pageSize, pageSize, unix.PROT_READ, unix.MAP_FIXED))
	if _, err := m.MRemap(a, 2*pageSize, 4*pageSize, 0, 0); err != unix.ENOMEM {
		t.Fatalf("grow without MAYMOVE: %v", err)
	}
	b, err := m.MRemap(a, 2*pageSize, 4*pageSize, unix.MREMAP_MAYMOVE, 0)
	if err != nil || b == a {
		t.Fatalf("move: %#x %v", b, err)
	}
	if readByte(t, m, b) != 1 || readByte(t, m, b+pageSize) != 2 || readByte(t, m, b+3*pageSize) != 0 {
		t.Fatal("contents not moved")
	}
	if _, ok := fas(m).mapping(a); ok {
		t.Fatal("old address still mapped in host")
	}
	if _, err := m.CopyIn(a, make([]byte, 1)); err != unix.EFAULT {
		t.Fatal("old range still accessible")
	}
	// Grow in place at the end.
	c, err := m.MRemap(b, 4*pageSize, 6*pageSize, 0, 0)
	if err != nil || c != b {
		t.Fatalf("grow in place: %#x %v (b=%#x) maps:\n%s", c, err, b, m.Maps())
	}
	// Shrink.
	if d, err := m.MRemap(b, 6*pageSize, pageSize, 0, 0); err != nil || d != b {
		t.Fatalf("shrink: %#x %v", d, err)
	}
	if _, err := m.CopyIn(b+pageSize, make([]byte, 1)); err != unix.EFAULT {
		t.Fatal("shrunk part still accessible")
	}
	// Fixed move.
	dst := uintptr(0x10000000)
	if d, err := m.MRemap(b, pageSize, pageSize, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, dst); err != nil || d != dst {
		t.Fatalf("fixed: %#x %v", d, err)
	}
	if readByte(t, m, dst) != 1 {
		t.Fatal("fixed move lost contents")
	}
	if _, err := m.MRemap(dst, 2*pageSize, pageSize, 0, 0); err != unix.EFAULT {
		t.Fatalf("old range beyond the VMA: %v", err)
	}
	check(t, m)
}

func TestForkCOW(t *testing.T) {
	defer func(n int) { eagerForkPages = n }(eagerForkPages)
	eagerForkPages = 0 // no eager copies: everything copy-on-write
	e := newEnv(t)
	parent := e.newMM()
	a := mustMap(t, parent, anon(0, 8*pageSize, rw, 0))
	shared := mustMap(t, parent, MMapOpts{Length: pageSize, Prot: rw, Flags: unix.MAP_SHARED | unix.MAP_ANONYMOUS})
	for i := uintptr(0); i < 8; i++ {
		if err := appFault(t, parent, a+i*pageSize, true); err != nil {
			t.Fatal(err)
		}
		writeByte(t, parent, a+i*pageSize, byte(10+i))
	}
	writeByte(t, parent, shared, 99)
	dontfork := mustMap(t, parent, anon(0, pageSize, rw, 0))
	if err := parent.MAdvise(dontfork, pageSize, unix.MADV_DONTFORK); err != nil {
		t.Fatal(err)
	}
	child, err := parent.Fork()
	if err != nil {
		t.Fatal(err)
	}
	if fm, ok := fas(parent).mapping(a); !ok || fm.at.Write {
		t.Fatalf("parent page not write-protected after fork: %+v %v", fm, ok)
	}
	check(t, parent)
	check(t, child)
	if _, err := child.CopyIn(dontfork, make([]byte, 1)); err != unix.EFAULT {
		t.Fatal("MADV_DONTFORK area present in the child")
	}
	// Child writes through a fault (ptrace: access inferred).
	if err := appFault(t, child, a, true); err != nil {
		t.Fatal(err)
	}
	cm, _ := fas(child).mapping(a)
	pm, _ := fas(parent).mapping(a)
	if cm.off == pm.off {
		t.Fatal("child write fault did not copy the page")
	}
	writeByte(t, child, a, 1)
	writeByte(t, parent, a+pageSize, 2)
	if readByte(t, parent, a) != 10 || readByte(t, child, a) != 1 {
		t.Fatal("child write visible in parent")
	}
	if readByte(t, child, a+pageSize) != 11 || readByte(t, parent, a+pageSize) != 2 {
		t.Fatal("parent write visible in child")
	}
	// Shared anonymous memory stays shared.
	writeByte(t, child, shared, 77)
	if readByte(t, parent, shared) != 77 {
		t.Fatal("shared anonymous mapping not shared after fork")
	}
	// A page the other side has copied away is taken without copying.
	pOff := pm.off
	if err := appFault(t, parent, a, true); err != nil {
		t.Fatal(err)
	}
	if fm, _ := fas(parent).mapping(a); fm.off != pOff || !fm.at.Write {
		t.Fatalf("sole owner copied instead of taking the page: %+v (was %#x)", fm, pOff)
	}
	check(t, parent)
	check(t, child)
	grand, err := child.Fork()
	if err != nil {
		t.Fatal(err)
	}
	child.DecUsers()
	if readByte(t, grand, a) != 1 || readByte(t, grand, shared) != 77 {
		t.Fatal("grandchild lost contents")
	}
	grand.DecUsers()
	parent.IncUsers()
	parent.DecUsers()
	if readByte(t, parent, a+2*pageSize) != 12 {
		t.Fatal("parent contents lost")
	}
	parent.DecUsers()
	if !fas(parent).released {
		t.Fatal("address space not released")
	}
	if u := e.mf.Used(); u != 0 {
		t.Fatalf("memfile.Used() = %d after all users gone", u)
	}
}

// TestForkEagerCopy: a small address space's writable private pages are
// copied at fork; the parent keeps its mappings writable and neither side
// sees the other's writes. Pages already copy-on-write stay shared.
func TestForkEagerCopy(t *testing.T) {
	e := newEnv(t)
	parent := e.newMM()
	a := mustMap(t, parent, anon(0, 8*pageSize, rw, 0))
	for i := uintptr(0); i < 8; i++ {
		if err := appFault(t, parent, a+i*pageSize, true); err != nil {
			t.Fatal(err)
		}
		writeByte(t, parent, a+i*pageSize, byte(10+i))
	}
	child, err := parent.Fork()
	if err != nil {
		t.Fatal(err)
	}
	pm, ok := fas(parent).mapping(a)
	if !ok || !pm.at.Write {
		t.Fatalf("parent page lost write access in an eager fork: %+v %v", pm, ok)
	}
	check(t, parent)
	check(t, child)
	// The child's first fault maps its own copy writable at once.
	if err := appFault(t, child, a, true); err != nil {
		t.Fatal(err)
	}
	cm, _ := fas(child).mapping(a)
	if cm.off == pm.off || !cm.at.Write {
		t.Fatalf("child page %+v, parent %+v: not a writable copy", cm, pm)
	}
	writeByte(t, child, a, 1)
	writeByte(t, parent, a+pageSize, 2)
	if readByte(t, parent, a) != 10 || readByte(t, child, a) != 1 ||
		readByte(t, child, a+pageSize) != 11 || readByte(t, parent, a+pageSize) != 2 {
		t.Fatal("writes crossed between parent and child")
	}
	// A grandchild forked from the child while the parent's pages are COW
	// elsewhere: still copies.
	grand, err := child.Fork()
	if err != nil {
		t.Fatal(err)
	}
	child.DecUsers()
	if readByte(t, grand, a) != 1 || readByte(t, grand, a+7*pageSize) != 17 {
		t.Fatal("grandchild lost contents")
	}
	grand.DecUsers()
	parent.DecUsers()
	if u := e.mf.Used(); u != 0 {
		t.Fatalf("memfile.Used() = %d after all users gone", u)
	}
}

func TestCopyAcrossVMAsAndEFAULT(t *testing.T) {
	e := newEnv(t)
	m := e.newMM()
	defer m.DecUsers()
	a := mustMap(t, m, anon(0x20000000, 2*pageSize, rw, unix.MAP_FIXED))
	mustMap(t, m, anon(a+2*pageSize, 2*pageSize, rw|unix.PROT_EXEC, unix.MAP_FIXED))
	if nvmas(m) != 2 {
		t.Fatal("expected two VMAs")
	}
	src := bytes.Repeat([]byte("0123456789abcdef"), pageSize/4) // 4 pages
	if n, err := m.CopyOut(a+100, src[:3*pageSize]); err != nil || n != 3*pageSize {
		t.Fatalf("CopyOut across VMAs: %d %v", n, err)
	}
	got := make([]byte, 3*pageSize)
	if n, err := m.CopyIn(a+100, got); err != nil || n != len(got) || !bytes.Equal(got, src[:3*pageSize]) {
		t.Fatalf("CopyIn across VMAs: %d %v", n, err)
	}
	// Running off the end copies the valid prefix.
	n, err := m.CopyOut(a+4*pageSize-10, src[:100])
	if err != unix.EFAULT || n != 10 {
		t.Fatalf("CopyOut past end: %d %v", n, err)
	}
	if _, err := m.CopyIn(0x1000, got[:1]); err != unix.EFAULT {
		t.Fatalf("CopyIn below min: %v", err)
	}
	if _, err := m.CopyIn(^uintptr(0)-3, got[:10]); err != unix.EFAULT {
		t.Fatalf("CopyIn wrapping: %v", err)
	}
	// Read-only memory cannot be written by CopyOut.
	ro := mustMap(t, m, anon(0, pageSize, unix.PROT_READ, 0))
	if _, err := m.CopyOut(ro, []byte{1}); err != unix.EFAULT {
		t.Fatalf("CopyOut to read-only: %v", err)
	}
	if n, err := m.ZeroOut(a, 2*pageSize); err != nil || n != 2*pageSize || readByte(t, m, a+100) != 0 {
		t.Fatalf("ZeroOut: %d %v", n, err)
	}
	// Strings.
	m.CopyOut(a+pageSize-3, []byte("hello\x00"))
	if s, err := m.CopyInString(a+pageSize-3, 100); err != nil || s != "hello" {
		t.Fatalf("CopyInString: %q %v", s, err)
	}
	if _, err := m.CopyInString(a+pageSize-3, 4); err != unix.ENAMETOOLONG {
		t.Fatalf("CopyInString too long: %v", err)
	}
	if s, err := m.CopyInString(a+pageSize-3, 5); err != nil || s != "hello" {
		t.Fatalf("CopyInString exact: %q %v", s, err)
	}
	m.CopyOut(a+4*pageSize-3, []byte("abc"))
	if _, err := m.CopyInString(a+4*pageSize-3, 100); err != unix.EFAULT {
		t.Fatalf("CopyInString off the end: %v", err)
	}
	check(t, m)
}

func TestWithBlocks(t *testing.T) {
	e := newEnv(t)
	m := e.newMM()
	defer m.DecUsers()
	a := mustMap(t, m, anon(0x30000000, 3*pageSize, rw, unix.MAP_FIXED))
	n, err := m.WithBlocks(a+10, 5*pageSize, true, func(blocks [][]byte) (int, error) {
		total := 0
		for _, b := range blocks {
			for i := range b {
				b[i] = 'x'
			}
			total += len(b)
		}
		return total, nil
	})
	if err != nil || n != 3*pageSize-10 {
		t.Fatalf("WithBlocks partial: %d %v", n, err)
	}
	if readByte(t, m, a+10) != 'x' || readByte(t, m, a+9) != 0 || readByte(t, m, a+3*pageSize-1) != 'x' {
		t.Fatal("WithBlocks wrote the wrong bytes")
	}
	if _, err := m.WithBlocks(0x40000000, 10, false, func([][]byte) (int, error) { return 0, nil }); err != unix.EFAULT {
		t.Fatalf("WithBlocks on nothing: %v", err)
	}
}

func TestFaultErrorsAndInference(t *testing.T) {
	e := newEnv(t)
	m := e.newMM()
	defer m.DecUsers()
	if err := m.HandleFault(0x50000000, platform.SwitchInfo{}); !isSig(err, SIGSEGV, SEGV_MAPERR) {
		t.Fatalf("unmapped: %v", err)
	}
	none := mustMap(t, m, anon(0, pageSize, unix.PROT_NONE, 0))
	if err := m.HandleFault(none, platform.SwitchInfo{}); !isSig(err, SIGSEGV, SEGV_ACCERR) {
		t.Fatalf("PROT_NONE: %v", err)
	}
	ro := mustMap(t, m, anon(0, pageSize, unix.PROT_READ, 0))
	if err := m.HandleFault(ro, platform.SwitchInfo{Access: platform.ReadWrite, AccessKnown: true}); !isSig(err, SIGSEGV, SEGV_ACCERR) {
		t.Fatalf("known write to read-only: %v", err)
	}
	// Unknown access: first fault maps the page readable; a second one is
	// retried once and then reported.
	if err := m.HandleFault(ro, platform.SwitchInfo{}); err != nil {
		t.Fatal(err)
	}
	if err := m.HandleFault(ro, platform.SwitchInfo{}); err != nil {
		t.Fatalf("first suspicious fault should be retried: %v", err)
	}
	if err := m.HandleFault(ro+8, platform.SwitchInfo{}); !isSig(err, SIGSEGV, SEGV_ACCERR) {
		t.Fatalf("repeated fault on readable page of read-only VMA: %v", err)
	}
	// Fault-around maps a window with one MapFile.
	big := mustMap(t, m, anon(0x60000000, 1<<20, rw, unix.MAP_FIXED))
	calls := fas(m).mapCalls
	if err := m.HandleFault(big+5*pageSize, platform.SwitchInfo{}); err != nil {
		t.Fatal(err)
	}
	if fas(m).mapCalls != calls+1 {
		t.Fatalf("fault-around took %d MapFile calls", fas(m).mapCalls-calls)
	}
	for i := uintptr(0); i < faultAround/pageSize; i++ {
		if _, ok := fas(m).mapping(big + i*pageSize); !ok {
			t.Fatalf("page %d of the window not mapped", i)
		}
	}
	if m.ResidentSize() < faultAround {
		t.Fatalf("ResidentSize %d", m.ResidentSize())
	}
	// MAP_POPULATE prefaults and maps.
	pop := mustMap(t, m, anon(0, 16*pageSize, rw, unix.MAP_POPULATE))
	if _, ok := fas(m).mapping(pop + 15*pageSize); !ok {
		t.Fatal("MAP_POPULATE did not map")
	}
	mc, err := m.MinCore(pop, 16*pageSize)
	if err != nil || !bytes.Equal(mc, bytes.Repeat([]byte{1}, 16)) {
		t.Fatalf("mincore %v %v", mc, err)
	}
	check(t, m)
}

func TestMAdviseDontNeed(t *testing.T) {
	e := newEnv(t)
	m := e.newMM()
	defer m.DecUsers()
	a := mustMap(t, m, anon(0, 2*pageSize, rw, 0))
	writeByte(t, m, a, 5)
	appFault(t, m, a, true)
	if err := m.MAdvise(a, 2*pageSize, unix.MADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	if _, ok := fas(m).mapping(a); ok {
		t.Fatal("still mapped in the host")
	}
	if readByte(t, m, a) != 0 {
		t.Fatal("MADV_DONTNEED did not zero anonymous memory")
	}
	if err := m.MAdvise(a, 4*pageSize, unix.MADV_DONTNEED); err != unix.ENOMEM {
		t.Fatalf("over a hole: %v", err)
	}
	if err := m.MAdvise(a, pageSize, 12345); err != unix.EINVAL {
		t.Fatalf("bad advice: %v", err)
	}
	if err := m.MLock(a, pageSize); err != nil {
		t.Fatal(err)
	}
	if err := m.MSync(a, pageSize, unix.MS_SYNC|unix.MS_ASYNC); err != unix.EINVAL {
		t.Fatalf("msync flags: %v", err)
	}
	check(t, m)
}

func TestMapsFormat(t *testing.T) {
	e := newEnv(t)
	m := e.newMM()
	defer m.DecUsers()
	mustMap(t, m, anon(0x400000, pageSize, unix.PROT_READ|unix.PROT_EXEC, unix.MAP_FIXED))
	m.mappingMu.Lock()
	m.vmas[0].name, m.vmas[0].dev, m.vmas[0].ino = "/usr/bin/head", unix.Mkdev(0xfe, 0), 247278
	m.mappingMu.Unlock()
	mustMap(t, m, anon(0x7ffff7ff0000, 2*pageSize, rw, unix.MAP_FIXED))
	want := "00400000-00401000 r-xp 00000000 fe:00 247278                             /usr/bin/head\n" +
		"7ffff7ff0000-7ffff7ff2000 rw-p 00000000 00:00 0 \n"
	if got := string(m.Maps()); got != want {
		t.Fatalf("maps:\n%q\nwant\n%q", got, want)
	}
	// The name column matches the host's.
	host, err := readHostMapsLine()
	if err != nil {
		t.Skip(err)
	}
	if col := strings.Index(host, "/"); col != mapsNameColumn {
		t.Fatalf("host name column %d in %q, we use %d", col, host, mapsNameColumn)
	}
}
