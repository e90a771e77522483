package mm

import (
	"bytes"
	"io"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/platform"
	"github.com/runsc-cri/runsc-cri/sentry/memmap"
)

type bufBacking struct {
	mu   sync.Mutex
	data []byte
}

func (b *bufBacking) ReadAt(p []byte, off int64) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if off >= int64(len(b.data)) {
		return 0, io.EOF
	}
	n := copy(p, b.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (b *bufBacking) WriteAt(p []byte, off int64) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if end := int(off) + len(p); end > len(b.data) {
		b.data = append(b.data, make([]byte, end-len(b.data))...)
	}
	return copy(b.data[off:], p), nil
}

func (b *bufBacking) Size() (uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return uint64(len(b.data)), nil
}

func TestFileMappings(t *testing.T) {
	e := newEnv(t)
	m := e.newMM()
	back := &bufBacking{data: bytes.Repeat([]byte{'f'}, 2*pageSize+100)}
	c := memmap.NewCache(e.mf, back)

	priv := mustMap(t, m, MMapOpts{Length: 4 * pageSize, Prot: rw, Flags: unix.MAP_PRIVATE, Mappable: c, Name: "/file"})
	shared := mustMap(t, m, MMapOpts{Length: 3 * pageSize, Prot: rw, Flags: unix.MAP_SHARED, Mappable: c, Name: "/file"})
	if err := appFault(t, m, priv, false); err != nil {
		t.Fatal(err)
	}
	fm, _ := fas(m).mapping(priv)
	if fm.at.Write {
		t.Fatal("private file page mapped writable before a write")
	}
	// Private write: copy, file unchanged.
	if err := appFault(t, m, priv, true); err != nil {
		t.Fatal(err)
	}
	writeByte(t, m, priv, 'P')
	if back.data[0] != 'f' || readByte(t, m, shared) != 'f' {
		t.Fatal("private write reached the file")
	}
	// Shared write: visible through read(), the private mapping's
	// untouched pages and after msync in the file.
	if err := appFault(t, m, shared+pageSize, true); err != nil {
		t.Fatal(err)
	}
	writeByte(t, m, shared+pageSize, 'S')
	buf := make([]byte, 1)
	c.ReadAt(buf, pageSize)
	if buf[0] != 'S' || readByte(t, m, priv+pageSize) != 'S' {
		t.Fatal("shared write not coherent")
	}
	if err := m.MSync(shared, 3*pageSize, unix.MS_SYNC); err != nil {
		t.Fatal(err)
	}
	if back.data[pageSize] != 'S' {
		t.Fatal("msync did not write back")
	}
	// Past EOF within the last page reads zero; beyond it is SIGBUS.
	if readByte(t, m, priv+2*pageSize+100) != 0 || readByte(t, m, priv+2*pageSize+99) != 'f' {
		t.Fatal("last page tail")
	}
	if err := m.HandleFault(priv+3*pageSize, platform.SwitchInfo{}); !isSig(err, SIGBUS, BUS_ADRERR) {
		t.Fatalf("beyond EOF: %v", err)
	}
	if _, err := m.CopyIn(priv+3*pageSize, buf); err != unix.EFAULT {
		t.Fatalf("CopyIn beyond EOF: %v", err)
	}
	// MADV_DONTNEED on a private file mapping brings the file back.
	if err := m.MAdvise(priv, pageSize, unix.MADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	if readByte(t, m, priv) != 'f' {
		t.Fatal("MADV_DONTNEED did not restore file contents")
	}
	// A shared mapping of a read-only file cannot become writable.
	ro := mustMap(t, m, MMapOpts{Length: pageSize, Prot: unix.PROT_READ, Flags: unix.MAP_SHARED, Mappable: c, MaxProt: unix.PROT_READ})
	if err := m.MProtect(ro, pageSize, rw); err != unix.EACCES {
		t.Fatalf("mprotect of read-only shared file: %v", err)
	}
	if _, err := m.MMap(MMapOpts{Length: pageSize, Prot: rw, Flags: unix.MAP_SHARED, Mappable: c, MaxProt: unix.PROT_READ}); err != unix.EACCES {
		t.Fatalf("writable shared mmap of read-only file: %v", err)
	}
	// Fork shares the shared file pages.
	child, err := m.Fork()
	if err != nil {
		t.Fatal(err)
	}
	writeByte(t, child, shared+2*pageSize, 'C')
	if readByte(t, m, shared+2*pageSize) != 'C' {
		t.Fatal("shared file mapping not shared with the child")
	}
	child.DecUsers()
	if back.data[2*pageSize] != 'C' {
		t.Fatal("child's shared write not written back when its mapping went")
	}
	check(t, m)
	m.DecUsers()
	c.Drop()
	if u := e.mf.Used(); u != 0 {
		t.Fatalf("leaked %d bytes", u)
	}
}

// TestConcurrentFaults runs faults, copies and mmap changes from many
// goroutines (run with -race).
func TestConcurrentFaults(t *testing.T) {
	e := newEnv(t)
	m := e.newMM()
	defer m.DecUsers()
	a := mustMap(t, m, anon(0, 256*pageSize, rw, 0))
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				addr := a + uintptr((i*7+g*13)%256)*pageSize
				switch i % 4 {
				case 0:
					m.HandleFault(addr, platform.SwitchInfo{})
				case 1:
					m.CopyOut(addr+8, []byte{byte(g)})
				case 2:
					m.CopyIn(addr, make([]byte, 16))
				case 3:
					x, err := m.MMap(anon(0, pageSize, rw, 0))
					if err == nil {
						m.CopyOut(x, []byte{1})
						m.MUnmap(x, pageSize)
					}
				}
			}
		}(g)
	}
	wg.Wait()
	check(t, m)
}
