package gofer

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	goferserver "github.com/runsc-cri/runsc-cri/gofer"
	"github.com/runsc-cri/runsc-cri/gofer/client"
	"github.com/runsc-cri/runsc-cri/gofer/proto"
	"github.com/runsc-cri/runsc-cri/sentry/memfile"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// counter counts the requests that wait for a reply (every op but close)
// going through a proxy between a client and its gofer.
type counter struct{ n atomic.Int64 }

func (c *counter) get() int64 { return c.n.Load() }

// forward copies messages with their fds from src to dst until src fails;
// if count is set it counts requests.
func forward(src, dst *net.UnixConn, count *counter) {
	buf := make([]byte, proto.MaxMessage)
	oob := make([]byte, proto.OOBSize)
	defer dst.Close()
	for {
		msg, fds, err := proto.Recv(src, buf, oob)
		if err != nil {
			proto.CloseFDs(fds)
			return
		}
		if count != nil {
			if h, err := proto.ParseHeader(msg); err == nil && h.Op != proto.OpClose {
				count.n.Add(1)
			}
		}
		err = proto.Send(dst, msg, fds...)
		proto.CloseFDs(fds)
		if err != nil {
			return
		}
	}
}

// newCountedEnv is newEnvAt with a request-counting proxy in the middle.
func newCountedEnv(t *testing.T, dir string, opts Options) (*env, *counter) {
	clientEnd, proxyA := seqpacketPair(t)
	proxyB, serverEnd := seqpacketPair(t)
	cnt := &counter{}
	go forward(proxyA, proxyB, cnt)
	go forward(proxyB, proxyA, nil)
	done := make(chan error, 1)
	go func() { done <- goferserver.Serve(serverEnd, dir, goferserver.Options{}) }()
	c := client.New(clientEnd)
	mf, err := memfile.New("test", 16<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		<-done
	})
	v := vfs.New()
	fs, err := New(v, c, mf, opts)
	if err != nil {
		t.Fatal(err)
	}
	root := v.MountRoot(fs, "vol", vfs.MountFlags{})
	return &env{t: t, dir: dir, v: v, root: root, mf: mf}, cnt
}

// twoShared returns two shared filesystem instances over one directory.
func twoShared(t *testing.T) (a, b *env) {
	dir := t.TempDir()
	a, _ = newCountedEnv(t, dir, Options{Shared: true})
	b, _ = newCountedEnv(t, dir, Options{Shared: true})
	return a, b
}

func (e *env) stat(path string) (linux.Statx, error) {
	return e.v.StatAt(rootCtx, e.pop(path))
}

func (e *env) mustStat(path string) linux.Statx {
	e.t.Helper()
	st, err := e.stat(path)
	if err != nil {
		e.t.Fatalf("stat %s: %v", path, err)
	}
	return st
}

func (e *env) wantENOENT(path string) {
	e.t.Helper()
	if st, err := e.stat(path); err != unix.ENOENT {
		e.t.Fatalf("stat %s = ino %d size %d, %v; want ENOENT", path, st.Ino, st.Size, err)
	}
}

func (e *env) writeFile(path, data string) {
	e.t.Helper()
	fd, err := e.v.OpenAt(rootCtx, e.pop(path), vfs.OpenOptions{Flags: unix.O_CREAT | unix.O_WRONLY | unix.O_TRUNC, Mode: 0o644})
	if err != nil {
		e.t.Fatalf("create %s: %v", path, err)
	}
	defer fd.DecRef(rootCtx)
	if _, err := fd.Write(rootCtx, [][]byte{[]byte(data)}); err != nil {
		e.t.Fatal(err)
	}
}

// expire makes every cached attribute stale.
func expire() { time.Sleep(2 * sharedAttrValidity) }

func TestSharedCreateAfterNegativeLookup(t *testing.T) {
	a, b := twoShared(t)
	b.wantENOENT("f")
	b.wantENOENT("f") // would be answered by the negative cache
	a.writeFile("f", "hello")
	if st := b.mustStat("f"); st.Size != 5 {
		t.Fatalf("size %d", st.Size)
	}
	if got := readAll(t, b.open("f", unix.O_RDONLY, 0)); got != "hello" {
		t.Fatalf("read %q", got)
	}
	// Directly on the host, in a subdirectory both have looked into.
	a.v.MkdirAt(rootCtx, a.pop("d"), 0o755)
	b.wantENOENT("d/g")
	a.wantENOENT("d/g")
	os.WriteFile(filepath.Join(a.dir, "d", "g"), []byte("x"), 0o644)
	a.mustStat("d/g")
	b.mustStat("d/g")
}

func TestSharedUnlinkSeenByOther(t *testing.T) {
	a, b := twoShared(t)
	a.writeFile("f", "data")
	b.mustStat("f")
	if err := a.v.UnlinkAt(rootCtx, a.pop("f")); err != nil {
		t.Fatal(err)
	}
	b.wantENOENT("f")
	if _, err := b.v.OpenAt(rootCtx, b.pop("f"), vfs.OpenOptions{Flags: unix.O_RDONLY}); err != unix.ENOENT {
		t.Fatalf("open after unlink: %v", err)
	}
	// A file replaced by a directory of the same name.
	a.writeFile("x", "1")
	b.mustStat("x")
	os.Remove(filepath.Join(a.dir, "x"))
	os.Mkdir(filepath.Join(a.dir, "x"), 0o755)
	if st := b.mustStat("x"); st.Mode&linux.S_IFMT != linux.S_IFDIR {
		t.Fatalf("mode %#o after the file became a directory", st.Mode)
	}
	// And a directory that goes, with a cached child.
	os.WriteFile(filepath.Join(a.dir, "x", "c"), nil, 0o644)
	b.mustStat("x/c")
	os.RemoveAll(filepath.Join(a.dir, "x"))
	b.wantENOENT("x/c")
	b.wantENOENT("x")
}

func TestSharedHostSizeChange(t *testing.T) {
	a, b := twoShared(t)
	a.writeFile("f", "12")
	if st := b.mustStat("f"); st.Size != 2 {
		t.Fatalf("size %d", st.Size)
	}
	fd := b.open("f", unix.O_RDWR, 0)
	host := filepath.Join(a.dir, "f")
	os.WriteFile(host, []byte("123456"), 0o644)
	if st := b.mustStat("f"); st.Size != 6 {
		t.Fatalf("stat after the host grew it: size %d", st.Size)
	}
	f, _ := os.OpenFile(host, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("789")
	f.Close()
	expire()
	if st, err := fd.Stat(rootCtx); err != nil || st.Size != 9 {
		t.Fatalf("fstat after the host grew it: size %d, %v", st.Size, err)
	}
	// lseek(SEEK_END) and O_APPEND writes use the host's size.
	os.WriteFile(host, []byte("0123456789ab"), 0o644)
	if off, err := fd.Seek(rootCtx, 0, unix.SEEK_END); err != nil || off != 12 {
		t.Fatalf("SEEK_END = %d, %v", off, err)
	}
	afd := b.open("f", unix.O_WRONLY|unix.O_APPEND, 0)
	os.WriteFile(host, []byte("abc"), 0o644)
	if _, err := afd.Write(rootCtx, [][]byte{[]byte("Z")}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(host); string(got) != "abcZ" {
		t.Fatalf("append after the host truncated: %q", got)
	}
	// The other instance sees a truncation made by this one.
	if err := b.v.SetStatAt(rootCtx, b.pop("f"), &vfs.SetStatOptions{Mask: linux.STATX_SIZE, Size: 1}); err != nil {
		t.Fatal(err)
	}
	if st := a.mustStat("f"); st.Size != 1 {
		t.Fatalf("size %d after the other side truncated", st.Size)
	}
}

func TestSharedRenameByOther(t *testing.T) {
	a, b := twoShared(t)
	a.writeFile("old", "x")
	ino := b.mustStat("old").Ino
	b.wantENOENT("new")
	if err := a.v.RenameAt(rootCtx, a.pop("old"), a.pop("new"), 0); err != nil {
		t.Fatal(err)
	}
	b.wantENOENT("old")
	if st := b.mustStat("new"); st.Ino != ino {
		t.Fatalf("ino %d, want %d", st.Ino, ino)
	}
	// Rename over a file the other side has cached and open.
	a.writeFile("victim", "victim")
	vfd := b.open("victim", unix.O_RDONLY, 0)
	vino := b.mustStat("victim").Ino
	os.Rename(filepath.Join(a.dir, "new"), filepath.Join(a.dir, "victim"))
	if st := b.mustStat("victim"); st.Ino != ino || st.Size != 1 {
		t.Fatalf("victim: ino %d size %d, want ino %d (not %d) size 1", st.Ino, st.Size, ino, vino)
	}
	if got := readAll(t, vfd); got != "victim" {
		t.Fatalf("the open file reads %q", got)
	}
	// A directory moved by the host, with cached children.
	os.MkdirAll(filepath.Join(a.dir, "d1", "sub"), 0o755)
	os.WriteFile(filepath.Join(a.dir, "d1", "sub", "f"), []byte("f"), 0o644)
	b.mustStat("d1/sub/f")
	os.Rename(filepath.Join(a.dir, "d1"), filepath.Join(a.dir, "d2"))
	b.wantENOENT("d1/sub/f")
	b.mustStat("d2/sub/f")
}

func TestSharedReaddir(t *testing.T) {
	a, b := twoShared(t)
	a.writeFile("one", "")
	if got := listDir(t, b, "."); !equal(got, []string{".", "..", "one"}) {
		t.Fatalf("list %v", got)
	}
	os.WriteFile(filepath.Join(a.dir, "two"), nil, 0o644)
	a.writeFile("three", "")
	os.Remove(filepath.Join(a.dir, "one"))
	got := listDir(t, b, ".")
	if want := []string{".", "..", "three", "two"}; !equal(got, want) {
		t.Fatalf("list %v, want %v", got, want)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A mapped file's page cache is dropped when the host changed the file,
// and kept when we changed it ourselves.
func TestSharedPageCacheInvalidation(t *testing.T) {
	a, b := twoShared(t)
	data := bytes.Repeat([]byte("a"), 8192)
	a.writeFile("m", string(data))
	fd := b.open("m", unix.O_RDWR, 0)
	m, err := fd.Mappable()
	if err != nil {
		t.Fatal(err)
	}
	rs, err := m.Translate(0, 8192, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		b.mf.DecRef(r)
	}
	sh := fd.Impl().(*regularFile).r.sh
	// Our own write keeps the cache.
	fd.PWrite(rootCtx, [][]byte{[]byte("bb")}, 0)
	expire()
	b.mustStat("m")
	if n := sh.invalidations.Load(); n != 0 {
		t.Fatalf("%d invalidations after our own write", n)
	}
	buf := make([]byte, 4)
	if n, _ := fd.PRead(rootCtx, [][]byte{buf}, 0); string(buf[:n]) != "bbaa" {
		t.Fatalf("read %q", buf[:n])
	}
	// The host rewrites it (same size, new mtime) and shrinks it.
	time.Sleep(10 * time.Millisecond) // a distinct mtime
	os.WriteFile(filepath.Join(a.dir, "m"), bytes.Repeat([]byte("c"), 5000), 0o644)
	expire()
	if st := b.mustStat("m"); st.Size != 5000 {
		t.Fatalf("size %d", st.Size)
	}
	if n := sh.invalidations.Load(); n != 1 {
		t.Fatalf("%d invalidations after the host's change, want 1", n)
	}
	if n, _ := fd.PRead(rootCtx, [][]byte{buf}, 4096); string(buf[:n]) != "cccc" {
		t.Fatalf("read after the host's change %q", buf[:n])
	}
	rs, err = m.Translate(0, 4096, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.mf.Slice(rs[0].Start, 4); string(got) != "cccc" {
		t.Fatalf("page after the host's change %q", got)
	}
	b.mf.DecRef(rs[0])
	// Another open (close-to-open) notices without a stat.
	time.Sleep(10 * time.Millisecond)
	os.WriteFile(filepath.Join(a.dir, "m"), bytes.Repeat([]byte("d"), 5000), 0o644)
	b.open("m", unix.O_RDONLY, 0)
	if n, _ := fd.PRead(rootCtx, [][]byte{buf}, 0); string(buf[:n]) != "dddd" {
		t.Fatalf("read after reopen %q", buf[:n])
	}
}

// Round trips: a shared filesystem asks once per lookup; the default mode
// answers repeated lookups, stats and negative lookups from its caches.
func TestSharedRoundTrips(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(dir, "a", "b", "f"), []byte("x"), 0o644)
	// Attributes stay fresh within an operation however slow the machine.
	old := sharedAttrValidity
	sharedAttrValidity = time.Hour
	t.Cleanup(func() { sharedAttrValidity = old })
	for _, shared := range []bool{false, true} {
		e, cnt := newCountedEnv(t, dir, Options{Shared: shared})
		e.mustStat("a/b/f")
		e.wantENOENT("a/b/missing")
		if shared {
			e.impl().root.invalidate() // as if a while had passed
		}
		before := cnt.get()
		e.mustStat("a/b/f")
		hit := cnt.get() - before
		before = cnt.get()
		e.wantENOENT("a/b/missing")
		miss := cnt.get() - before
		t.Logf("shared=%v: round trips for a cached 3-component stat %d, a repeated missing name %d", shared, hit, miss)
		if !shared {
			if hit != 0 || miss != 0 {
				t.Errorf("default mode made round trips: hit %d, miss %d", hit, miss)
			}
			continue
		}
		// The mount root's stale attributes (1), then one walk per
		// component (3), whose attributes serve the permission checks
		// and the stat; the missing name: 2 revalidations and the
		// failed lookup.
		if hit != 4 || miss != 3 {
			t.Errorf("shared mode: hit %d round trips (want 4), miss %d (want 3)", hit, miss)
		}
	}
}

// Concurrent lookups and host changes do not crash or deadlock.
func TestSharedConcurrent(t *testing.T) {
	a, b := twoShared(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 200; i++ {
			os.WriteFile(filepath.Join(a.dir, "c"), []byte("x"), 0o644)
			os.Remove(filepath.Join(a.dir, "c"))
		}
	}()
	for i := 0; i < 200; i++ {
		b.stat("c")
		a.stat("c")
	}
	<-done
	b.wantENOENT("c")
}
