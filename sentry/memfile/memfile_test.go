package memfile

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

func TestAllocateRefcountAndReuse(t *testing.T) {
	f, err := New("test", 64*PageSize)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.warmLimit = 0
	a, err := f.Allocate(4 * PageSize)
	if err != nil {
		t.Fatal(err)
	}
	s := f.Slice(a.Start, a.Len())
	for i := range s {
		if s[i] != 0 {
			t.Fatalf("fresh page not zero at %d", i)
		}
	}
	s[0], s[len(s)-1] = 1, 2
	f.IncRef(Range{a.Start, a.Start + PageSize})
	f.DecRef(a)
	if got := f.RefCount(a.Start); got != 1 {
		t.Fatalf("refcount = %d, want 1", got)
	}
	if f.Used() != PageSize {
		t.Fatalf("used = %d, want one page", f.Used())
	}
	b, err := f.Allocate(3 * PageSize)
	if err != nil {
		t.Fatal(err)
	}
	if b.Start != a.Start+PageSize {
		t.Fatalf("freed range not reused: got %#x", b.Start)
	}
	if v := f.Slice(b.Start, b.Len())[b.Len()-1]; v != 0 {
		t.Fatalf("reused page not zeroed: %d", v)
	}
	if f.Slice(a.Start, PageSize)[0] != 1 {
		t.Fatal("still-referenced page lost its data")
	}
}

func TestAllocateFull(t *testing.T) {
	f, err := New("test", 4*PageSize)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Allocate(4 * PageSize); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Allocate(PageSize); !errors.Is(err, unix.ENOMEM) {
		t.Fatalf("allocate past the limit: %v, want ENOMEM", err)
	}
	if _, err := f.Allocate(100); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("unaligned allocate: %v, want EINVAL", err)
	}
}

func TestFreeListCoalesces(t *testing.T) {
	f, err := New("test", 16*PageSize)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.warmLimit = 0 // every free goes to the free list
	var rs []Range
	for i := 0; i < 4; i++ {
		r, err := f.Allocate(PageSize)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	f.DecRef(rs[0])
	f.DecRef(rs[2])
	f.DecRef(rs[1])
	if len(f.free) != 1 || f.free[0] != (Range{rs[0].Start, rs[2].End}) {
		t.Fatalf("free list %v not coalesced", f.free)
	}
}

func TestWarmReuseIsZeroedAndBounded(t *testing.T) {
	f, err := New("test", 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, err := f.Allocate(4 * PageSize)
	if err != nil {
		t.Fatal(err)
	}
	s := f.Slice(a.Start, a.Len())
	for i := range s {
		s[i] = 0xaa
	}
	f.DecRef(a)
	if f.Used() != 0 {
		t.Fatalf("used = %d after freeing everything", f.Used())
	}
	b, err := f.Allocate(2 * PageSize)
	if err != nil {
		t.Fatal(err)
	}
	if b.Start < a.Start || b.End > a.End {
		t.Fatalf("warm pages not reused: got %#x-%#x, freed %#x-%#x", b.Start, b.End, a.Start, a.End)
	}
	for i, v := range f.Slice(b.Start, b.Len()) {
		if v != 0 {
			t.Fatalf("reused warm page not zeroed at byte %d", i)
		}
	}
	// Freeing more than the warm bound punches the rest out.
	big, err := f.Allocate(maxWarm + 4*PageSize)
	if err != nil {
		t.Fatal(err)
	}
	f.DecRef(big)
	if f.warmBytes > maxWarm {
		t.Fatalf("warm list holds %d bytes, bound %d", f.warmBytes, maxWarm)
	}
}

func TestAccountChargeLimitUncharge(t *testing.T) {
	f, err := New("test", 64*PageSize)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, b := f.NewAccount(), f.NewAccount()
	a.SetLimit(4 * PageSize)
	r1, err := f.AllocateFor(3*PageSize, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.AllocateFor(2*PageSize, a); !errors.Is(err, unix.ENOMEM) {
		t.Fatalf("allocation over the limit: err = %v, want ENOMEM", err)
	}
	if a.Usage() != 3*PageSize || a.Failcnt() != 1 {
		t.Fatalf("usage %d failcnt %d, want 3 pages and 1", a.Usage(), a.Failcnt())
	}
	// Another account and unaccounted pages are independent.
	rb, err := f.AllocateFor(8*PageSize, b)
	if err != nil {
		t.Fatal(err)
	}
	rn, err := f.Allocate(PageSize)
	if err != nil {
		t.Fatal(err)
	}
	// A shared page stays charged until its last reference goes, whoever
	// drops it.
	f.IncRef(r1)
	f.DecRef(r1)
	if a.Usage() != 3*PageSize {
		t.Fatalf("usage after dropping one of two refs = %d", a.Usage())
	}
	f.DecRef(Range{r1.Start, r1.Start + PageSize})
	if a.Usage() != 2*PageSize {
		t.Fatalf("usage after freeing a page = %d, want 2 pages", a.Usage())
	}
	// Lowering the limit below the usage refuses new charges only.
	a.SetLimit(PageSize)
	if _, err := f.AllocateFor(PageSize, a); !errors.Is(err, unix.ENOMEM) {
		t.Fatalf("charge under a lowered limit: %v", err)
	}
	if a.Usage() != 2*PageSize {
		t.Fatalf("lowering the limit changed the usage: %d", a.Usage())
	}
	f.DecRef(Range{r1.Start + PageSize, r1.End})
	f.DecRef(rb)
	f.DecRef(rn)
	if a.Usage() != 0 || b.Usage() != 0 || f.Used() != 0 {
		t.Fatalf("after freeing everything: a %d b %d file %d", a.Usage(), b.Usage(), f.Used())
	}
	if a.Peak() != 3*PageSize || b.Peak() != 8*PageSize {
		t.Fatalf("peaks %d %d", a.Peak(), b.Peak())
	}
	// A full file fails the charge without leaving it counted.
	b.SetLimit(0)
	if _, err := f.AllocateFor(65*PageSize, b); !errors.Is(err, unix.ENOMEM) || b.Usage() != 0 {
		t.Fatalf("allocation beyond the file: %v, usage %d", err, b.Usage())
	}
}

func TestAccountIDReuse(t *testing.T) {
	f, err := New("test", 16*PageSize)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a := f.NewAccount()
	r, err := f.AllocateFor(PageSize, a)
	if err != nil {
		t.Fatal(err)
	}
	f.ReleaseAccount(a)
	b := f.NewAccount()
	if b.id == a.id {
		t.Fatal("the id of a released account that still holds pages was reused")
	}
	f.DecRef(r)
	if a.Usage() != 0 {
		t.Fatalf("usage %d after free", a.Usage())
	}
	c := f.NewAccount()
	if c.id == 0 || len(f.accounts) != 2 {
		t.Fatalf("id not reused: c.id %d, %d ids", c.id, len(f.accounts))
	}
	// The released account charges nothing any more.
	r2, err := f.AllocateFor(PageSize, a)
	if err != nil || a.Usage() != 0 {
		t.Fatalf("released account: %v, usage %d", err, a.Usage())
	}
	f.DecRef(r2)
	if c.Usage() != 0 {
		t.Fatalf("a page of the released account was uncharged from its id's new owner: %d", c.Usage())
	}
}
