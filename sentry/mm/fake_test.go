package mm

import (
	"fmt"
	"sync"
	"testing"

	"github.com/runsc-cri/runsc-cri/platform"
	"github.com/runsc-cri/runsc-cri/sentry/memfile"
)

// fakePlatform creates fakeAddressSpaces; it cannot run code.
type fakePlatform struct {
	mu  sync.Mutex
	ass []*fakeAS
}

func (p *fakePlatform) Name() string            { return "fake" }
func (p *fakePlatform) MinUserAddress() uintptr { return 0x10000 }
func (p *fakePlatform) MaxUserAddress() uintptr { return 0x7ffffffff000 }
func (p *fakePlatform) NewAddressSpace() (platform.AddressSpace, error) {
	as := &fakeAS{pages: map[uintptr]fakeMapping{}}
	p.mu.Lock()
	p.ass = append(p.ass, as)
	p.mu.Unlock()
	return as, nil
}
func (p *fakePlatform) NewContext() (platform.Context, error) { return nil, platform.ErrUnavailable }
func (p *fakePlatform) FPStateSize() int                      { return 512 }
func (p *fakePlatform) Close()                                {}

type fakeMapping struct {
	off uint64
	at  platform.AccessType
}

// fakeAS records MapFile/Unmap calls and what is mapped per page.
type fakeAS struct {
	mu       sync.Mutex
	pages    map[uintptr]fakeMapping
	mapCalls int
	unmaps   int
	released bool
}

func (a *fakeAS) MapFile(addr uintptr, offset uint64, length uintptr, at platform.AccessType) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if addr&pageMask != 0 || offset&pageMask != 0 || length&pageMask != 0 || length == 0 {
		panic(fmt.Sprintf("unaligned MapFile(%#x, %#x, %#x)", addr, offset, length))
	}
	a.mapCalls++
	for i := uintptr(0); i < length; i += pageSize {
		a.pages[addr+i] = fakeMapping{offset + uint64(i), at}
	}
	return nil
}

func (a *fakeAS) Unmap(addr, length uintptr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.unmaps++
	for i := uintptr(0); i < length; i += pageSize {
		delete(a.pages, addr+i)
	}
}

func (a *fakeAS) Release() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.released = true
	clear(a.pages)
}

func (a *fakeAS) mapping(addr uintptr) (fakeMapping, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f, ok := a.pages[pageRoundDown(addr)]
	return f, ok
}

type env struct {
	t  *testing.T
	p  *fakePlatform
	mf *memfile.File
}

func newEnv(t *testing.T) *env {
	t.Helper()
	mf, err := memfile.New("mm-test", 256<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mf.Close() })
	return &env{t: t, p: &fakePlatform{}, mf: mf}
}

func (e *env) newMM() *MemoryManager {
	e.t.Helper()
	m, err := New(e.p, e.mf)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

func fas(m *MemoryManager) *fakeAS { return m.as.(*fakeAS) }

// check verifies that the host mirror matches the page table: every page
// the fake address space maps is present in the page table at the same
// offset with the recorded permissions, never writable where COW, and
// referenced.
func check(t *testing.T, m *MemoryManager) {
	t.Helper()
	a := fas(m)
	a.mu.Lock()
	defer a.mu.Unlock()
	m.mappingMu.RLock()
	defer m.mappingMu.RUnlock()
	m.activeMu.Lock()
	defer m.activeMu.Unlock()
	for addr, fm := range a.pages {
		e := m.pt.get(addr)
		if !e.present() || e.off() != fm.off {
			t.Fatalf("host maps %#x -> %#x but page table has %#x", addr, fm.off, e)
		}
		if e.mapped() != fm.at {
			t.Fatalf("host maps %#x with %v, page table says %v", addr, fm.at, e.mapped())
		}
		if e&pteCOW != 0 && fm.at.Write {
			t.Fatalf("COW page %#x mapped writable", addr)
		}
		if m.mf.RefCount(fm.off) == 0 {
			t.Fatalf("host maps freed page %#x at %#x", fm.off, addr)
		}
		v := m.find(addr)
		if v == nil {
			t.Fatalf("host maps %#x outside any VMA", addr)
		}
		if fm.at.Write && !v.perms.Write || fm.at.Execute && !v.perms.Execute {
			t.Fatalf("host maps %#x with %v beyond VMA perms %v", addr, fm.at, v.perms)
		}
	}
	m.pt.walk(m.minAddr, m.maxAddr, func(addr uintptr, e pte) pte {
		if m.find(addr) == nil {
			t.Fatalf("page %#x present outside any VMA", addr)
		}
		if e&pteMapMask != 0 {
			if _, ok := a.pages[addr]; !ok {
				t.Fatalf("page %#x marked mapped but host has nothing", addr)
			}
		}
		return e
	})
	for i := 1; i < len(m.vmas); i++ {
		if m.vmas[i-1].end > m.vmas[i].start || m.vmas[i].start >= m.vmas[i].end {
			t.Fatalf("VMAs out of order: %v", m.vmas)
		}
	}
}
