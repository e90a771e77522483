package memmap

import (
	"bytes"
	"io"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/memfile"
)

// memBacking is an in-memory Backing that counts I/O.
type memBacking struct {
	mu            sync.Mutex
	data          []byte
	reads, writes int
}

func (b *memBacking) ReadAt(p []byte, off int64) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reads++
	if off >= int64(len(b.data)) {
		return 0, io.EOF
	}
	n := copy(p, b.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (b *memBacking) WriteAt(p []byte, off int64) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writes++
	if end := int(off) + len(p); end > len(b.data) {
		b.data = append(b.data, make([]byte, end-len(b.data))...)
	}
	return copy(b.data[off:], p), nil
}

func (b *memBacking) Size() (uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return uint64(len(b.data)), nil
}

func newTestCache(t *testing.T, size int) (*Cache, *memBacking, *memfile.File) {
	t.Helper()
	mf, err := memfile.New("cache-test", 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mf.Close() })
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + 1)
	}
	b := &memBacking{data: data}
	return NewCache(mf, b), b, mf
}

func gather(mf *memfile.File, rs []memfile.Range) []byte {
	var out []byte
	for _, r := range rs {
		out = append(out, mf.Slice(r.Start, r.Len())...)
	}
	return out
}

func release(mf *memfile.File, rs []memfile.Range) {
	for _, r := range rs {
		mf.DecRef(r)
	}
}

func TestCacheFill(t *testing.T) {
	size := 3*pageSize + pageSize/2
	c, b, mf := newTestCache(t, size)
	rs, err := c.Translate(0, 8*pageSize, false)
	if err != nil {
		t.Fatal(err)
	}
	got := gather(mf, rs)
	if len(got) != 4*pageSize {
		t.Fatalf("straddling EOF: got %d bytes, want 4 pages", len(got))
	}
	if !bytes.Equal(got[:size], b.data) || !bytes.Equal(got[size:], make([]byte, 4*pageSize-size)) {
		t.Fatal("contents wrong or tail past EOF not zero")
	}
	if len(rs) != 1 || b.reads != 1 {
		t.Fatalf("missing pages not filled in one piece: %d ranges, %d reads", len(rs), b.reads)
	}
	if mf.RefCount(rs[0].Start) != 2 {
		t.Fatal("caller did not get its own reference")
	}
	if _, err := c.Translate(4*pageSize, pageSize, false); err != unix.EFAULT {
		t.Fatalf("beyond EOF: %v", err)
	}
	rs2, _ := c.Translate(pageSize, pageSize, false)
	if b.reads != 1 || rs2[0].Start != rs[0].Start+pageSize {
		t.Fatal("cached page re-read or not the same")
	}
	release(mf, rs)
	release(mf, rs2)
	if !c.HasPages() {
		t.Fatal("HasPages false")
	}
	c.Drop()
	if mf.Used() != 0 {
		t.Fatalf("Used %d after Drop", mf.Used())
	}
}

func TestCacheDirtyWriteback(t *testing.T) {
	c, b, mf := newTestCache(t, 2*pageSize)
	c.AddMapping(0, 2*pageSize, true)
	rs, err := c.Translate(0, pageSize, true)
	if err != nil {
		t.Fatal(err)
	}
	copy(mf.Slice(rs[0].Start, 5), "dirty")
	if err := c.Sync(0, 2*pageSize); err != nil {
		t.Fatal(err)
	}
	if string(b.data[:5]) != "dirty" {
		t.Fatal("Sync did not write back")
	}
	// Still mapped writable: the page stays dirty and is written again.
	copy(mf.Slice(rs[0].Start, 5), "again")
	c.RemoveMapping(0, 2*pageSize, true)
	if string(b.data[:5]) != "again" {
		t.Fatal("RemoveMapping did not write back")
	}
	w := b.writes
	c.Sync(0, 2*pageSize)
	if b.writes != w {
		t.Fatal("clean page written back")
	}
	// A clean translation is never written.
	rs2, _ := c.Translate(pageSize, pageSize, false)
	c.Sync(0, 2*pageSize)
	if b.writes != w {
		t.Fatal("page translated read-only was written back")
	}
	release(mf, rs)
	release(mf, rs2)
	c.Drop()
}

func TestCacheReadWriteCoherence(t *testing.T) {
	c, b, mf := newTestCache(t, 3*pageSize)
	rs, _ := c.Translate(pageSize, pageSize, true)
	page := mf.Slice(rs[0].Start, pageSize)
	// A write through the cache shows in the mapped page and the backing.
	if n, err := c.WriteAt([]byte("hello"), pageSize-2); err != nil || n != 5 {
		t.Fatal(n, err)
	}
	if string(page[:3]) != "llo" || string(b.data[pageSize-2:pageSize+3]) != "hello" {
		t.Fatal("WriteAt not coherent")
	}
	// A store into the mapped page shows in ReadAt.
	copy(page[100:], "mapped")
	buf := make([]byte, 6)
	if n, err := c.ReadAt(buf, pageSize+100); err != nil || n != 6 || string(buf) != "mapped" {
		t.Fatalf("ReadAt through cache: %q %v", buf, err)
	}
	// Uncached part reads from the backing and stays uncached.
	reads := b.reads
	big := make([]byte, 3*pageSize+10)
	n, err := c.ReadAt(big, 0)
	if n != 3*pageSize || err != io.EOF {
		t.Fatalf("ReadAt at EOF: %d %v", n, err)
	}
	if !bytes.Equal(big[:pageSize-2], b.data[:pageSize-2]) || string(big[pageSize+100:pageSize+106]) != "mapped" {
		t.Fatal("ReadAt mixed contents wrong")
	}
	if b.reads == reads {
		t.Fatal("uncached part not read from backing")
	}
	// Extending write grows the size.
	c.WriteAt([]byte("tail"), 4*pageSize)
	if c.Size() != 4*pageSize+4 {
		t.Fatalf("size %d", c.Size())
	}
	release(mf, rs)
	c.Drop()
}

func TestCacheTruncate(t *testing.T) {
	c, b, mf := newTestCache(t, 4*pageSize)
	rs, _ := c.Translate(0, 4*pageSize, false)
	release(mf, rs)
	if mf.Used() != 4*pageSize {
		t.Fatal("expected 4 cached pages")
	}
	b.data = b.data[:pageSize+10] // the caller truncates the backing
	c.Truncate(pageSize + 10)
	if mf.Used() != 2*pageSize {
		t.Fatalf("pages beyond EOF not dropped: used %d", mf.Used())
	}
	if _, err := c.Translate(2*pageSize, pageSize, false); err != unix.EFAULT {
		t.Fatalf("translate beyond truncated EOF: %v", err)
	}
	rs, _ = c.Translate(pageSize, pageSize, false)
	p := mf.Slice(rs[0].Start, pageSize)
	if p[9] == 0 || !bytes.Equal(p[10:], make([]byte, pageSize-10)) {
		t.Fatal("tail of the last page not zeroed")
	}
	release(mf, rs)
	c.Drop()
	if mf.Used() != 0 {
		t.Fatal("leak")
	}
}
