package mm

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Regression tests for hostile arguments found by test/fuzz.

// TestPopulateHugeRange: mmap(MAP_POPULATE) of 64 TiB used to scan the
// whole range page by page before allocating anything (hours, holding the
// mm's locks, deaf to SIGKILL). It must fail with ENOMEM at the memory
// limit quickly and leave nothing mapped.
func TestPopulateHugeRange(t *testing.T) {
	e := newEnv(t)
	m := e.newMM()
	defer m.DecUsers()
	before := nvmas(m)
	start := time.Now()
	_, err := m.MMap(anon(0, 1<<46, rw, unix.MAP_POPULATE))
	if err != unix.ENOMEM {
		t.Fatalf("MMap(64 TiB, MAP_POPULATE) = %v, want ENOMEM", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %v", d)
	}
	if n := nvmas(m); n != before {
		t.Errorf("%d VMAs after the failed mmap, %d before", n, before)
	}
	// MADV_POPULATE_WRITE over a huge reservation ends the same way.
	a := mustMap(t, m, anon(0, 1<<46, rw, unix.MAP_NORESERVE))
	if err := m.MAdvise(a, 1<<46, unix.MADV_POPULATE_WRITE); err != unix.ENOMEM {
		t.Fatalf("MADV_POPULATE_WRITE over 64 TiB = %v, want ENOMEM", err)
	}
	check(t, m)
}

// TestBrkHugeAddress: brk(-1) once rounded up to 0, looked like a shrink and
// unmapped everything below the heap. It must change nothing.
func TestBrkHugeAddress(t *testing.T) {
	e := newEnv(t)
	m := e.newMM()
	defer m.DecUsers()
	text := mustMap(t, m, anon(0x400000, 4*pageSize, rw, unix.MAP_FIXED))
	m.SetBrkStart(0x500000)
	start, _ := m.Brk(0)
	for _, addr := range []uintptr{^uintptr(0), ^uintptr(0) - 100, 1 << 63, 1 << 47} {
		if got, _ := m.Brk(addr); got != start {
			t.Errorf("Brk(%#x) = %#x, want the unchanged break %#x", addr, got, start)
		}
	}
	writeByte(t, m, text, 7)
	if got := readByte(t, m, text); got != 7 {
		t.Fatalf("the mapping below the heap is gone")
	}
	check(t, m)
}
