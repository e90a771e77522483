package mm

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/platform"
	"github.com/runsc-cri/runsc-cri/sentry/memfile"
)

func usagePages(a *memfile.Account) uint64 { return a.Usage() / pageSize }

func TestAccountForkCOWUnmapExit(t *testing.T) {
	defer func(n int) { eagerForkPages = n }(eagerForkPages)
	eagerForkPages = 0 // everything shared copy-on-write
	e := newEnv(t)
	acct := e.mf.NewAccount()
	parent := e.newMM()
	parent.SetAccounting(acct, nil)
	a := mustMap(t, parent, anon(0, 32*pageSize, rw, 0))
	if usagePages(acct) != 0 {
		t.Fatalf("mmap charged %d pages", usagePages(acct))
	}
	for i := uintptr(0); i < 32; i++ {
		writeByte(t, parent, a+i*pageSize, byte(i))
	}
	if got := usagePages(acct); got != 32 {
		t.Fatalf("after touching 32 pages: %d charged", got)
	}
	// Shared anonymous memory is charged to its creator.
	sh := mustMap(t, parent, MMapOpts{Length: 4 * pageSize, Prot: rw, Flags: unix.MAP_SHARED | unix.MAP_ANONYMOUS})
	writeByte(t, parent, sh, 1)
	if got := usagePages(acct); got != 33 && got != 36 {
		t.Fatalf("after touching shared anonymous memory: %d charged, want 33 or 36", got)
	}
	base := usagePages(acct)

	child, err := parent.Fork()
	if err != nil {
		t.Fatal(err)
	}
	if child.Account() != acct {
		t.Fatal("fork child does not inherit the account")
	}
	if got := usagePages(acct); got != base {
		t.Fatalf("fork (copy-on-write) changed the charge: %d -> %d", base, got)
	}
	// The child's writes copy: 8 more pages; the parent's writes to the
	// same pages then take them back (reference count one): no more.
	for i := uintptr(0); i < 8; i++ {
		writeByte(t, child, a+i*pageSize, 0xee)
	}
	if got := usagePages(acct); got != base+8 {
		t.Fatalf("after 8 child copies: %d, want %d", got, base+8)
	}
	for i := uintptr(0); i < 8; i++ {
		writeByte(t, parent, a+i*pageSize, 0xdd)
	}
	if got := usagePages(acct); got != base+8 {
		t.Fatalf("parent writes after the child copied: %d, want %d", got, base+8)
	}
	// A fault that copies is charged as well.
	if err := appFault(t, child, a+20*pageSize, true); err != nil {
		t.Fatal(err)
	}
	if got := usagePages(acct); got != base+9 {
		t.Fatalf("after a COW fault: %d, want %d", got, base+9)
	}
	// munmap in the child frees its own copies only.
	if err := child.MUnmap(a, 32*pageSize); err != nil {
		t.Fatal(err)
	}
	if got := usagePages(acct); got != base {
		t.Fatalf("after the child's munmap: %d, want %d", got, base)
	}
	// Exit of both returns everything.
	child.DecUsers()
	if got := usagePages(acct); got != base {
		t.Fatalf("after the child's exit: %d, want %d", got, base)
	}
	parent.DecUsers()
	if got := acct.Usage(); got != 0 {
		t.Fatalf("after every exit: %d bytes still charged", got)
	}
}

func TestAccountEagerForkCharged(t *testing.T) {
	e := newEnv(t)
	acct := e.mf.NewAccount()
	m := e.newMM()
	m.SetAccounting(acct, nil)
	a := mustMap(t, m, anon(0, 4*pageSize, rw, 0))
	for i := uintptr(0); i < 4; i++ {
		writeByte(t, m, a+i*pageSize, 1)
	}
	c, err := m.Fork()
	if err != nil {
		t.Fatal(err)
	}
	if got := usagePages(acct); got != 8 {
		t.Fatalf("eager fork copies: %d pages charged, want 8", got)
	}
	c.DecUsers()
	m.DecUsers()
	if acct.Usage() != 0 {
		t.Fatalf("%d bytes left", acct.Usage())
	}
}

func TestAccountLimitFaultAndCopy(t *testing.T) {
	e := newEnv(t)
	acct := e.mf.NewAccount()
	acct.SetLimit(16 * pageSize)
	oom := make(chan *MemoryManager, 4)
	m := e.newMM()
	m.SetAccounting(acct, func(m *MemoryManager) { oom <- m })
	a := mustMap(t, m, anon(0, 64*pageSize, rw, 0))
	// read(2) into a fresh buffer: the copy stops at the limit.
	buf := make([]byte, 64*pageSize)
	n, err := m.CopyOut(a, buf)
	if !errors.Is(err, unix.EFAULT) || n != 16*pageSize {
		t.Fatalf("CopyOut over the limit = %d, %v; want %d, EFAULT", n, err, 16*pageSize)
	}
	select {
	case got := <-oom:
		if got != m {
			t.Fatal("OOM handler called with another address space")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OOM handler not called for a failed copy")
	}
	if acct.Usage() != 16*pageSize || acct.Failcnt() == 0 {
		t.Fatalf("usage %d failcnt %d", acct.Usage(), acct.Failcnt())
	}
	// A fault on a further page fails with ENOMEM (the kernel kills).
	err = m.HandleFault(a+40*pageSize, platform.SwitchInfo{Addr: a + 40*pageSize, Access: platform.ReadWrite, AccessKnown: true})
	if !errors.Is(err, unix.ENOMEM) {
		t.Fatalf("fault over the limit: %v, want ENOMEM", err)
	}
	// Reading untouched memory does not allocate here either way; an
	// unaccounted failure (EFAULT on an unmapped page) calls no handler.
	if _, err := m.CopyOut(0x1000, []byte{1}); !errors.Is(err, unix.EFAULT) {
		t.Fatalf("CopyOut to an unmapped page: %v", err)
	}
	// Raising the limit lets the same copy through.
	acct.SetLimit(128 * pageSize)
	if n, err := m.CopyOut(a, buf); err != nil || n != len(buf) {
		t.Fatalf("CopyOut after raising the limit = %d, %v", n, err)
	}
	// Lowering it below the usage frees nothing.
	acct.SetLimit(8 * pageSize)
	if acct.Usage() < 64*pageSize {
		t.Fatalf("lowering the limit reclaimed memory: %d", acct.Usage())
	}
	if err := m.MUnmap(a, 64*pageSize); err != nil {
		t.Fatal(err)
	}
	m.DecUsers()
	if acct.Usage() != 0 {
		t.Fatalf("%d bytes left", acct.Usage())
	}
	select {
	case <-oom:
		t.Fatal("OOM handler called without an allocation failure")
	default:
	}
}
