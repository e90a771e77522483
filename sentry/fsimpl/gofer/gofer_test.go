package gofer

import (
	"bytes"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	goferserver "github.com/runsc-cri/runsc-cri/gofer"
	"github.com/runsc-cri/runsc-cri/gofer/client"
	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/memfile"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

type testCtx struct{ creds *auth.Credentials }

func (c testCtx) Credentials() *auth.Credentials { return c.creds }

var rootCtx = testCtx{auth.NewCredentials(0, 0, nil, auth.AllCaps)}

// env is a vfs whose root is a gofer filesystem serving a temp dir.
type env struct {
	t    *testing.T
	dir  string
	v    *vfs.VirtualFilesystem
	root vfs.VirtualDentry
	mf   *memfile.File
}

func seqpacketPair(t testing.TB) (*net.UnixConn, *net.UnixConn) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "gofer")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c.(*net.UnixConn)
	}
	return conn(fds[0]), conn(fds[1])
}

func newEnv(t testing.TB, opts Options, serverRO bool) *env {
	return newEnvAt(t, t.TempDir(), opts, serverRO)
}

// newEnvAt is newEnv serving dir.
func newEnvAt(t testing.TB, dir string, opts Options, serverRO bool) *env {
	a, b := seqpacketPair(t)
	done := make(chan error, 1)
	go func() { done <- goferserver.Serve(b, dir, goferserver.Options{ReadOnly: serverRO}) }()
	c := client.New(a)
	mf, err := memfile.New("test", 64<<20)
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
	root := v.MountRoot(fs, "rootfs", vfs.MountFlags{ReadOnly: opts.ReadOnly})
	tt, _ := t.(*testing.T)
	return &env{t: tt, dir: dir, v: v, root: root, mf: mf}
}

func (e *env) pop(path string) *vfs.PathOperation {
	return &vfs.PathOperation{Root: e.root, Start: e.root, Path: path, FollowFinalSymlink: true}
}

func (e *env) open(path string, flags, mode uint32) *vfs.FileDescription {
	e.t.Helper()
	fd, err := e.v.OpenAt(rootCtx, e.pop(path), vfs.OpenOptions{Flags: flags, Mode: mode})
	if err != nil {
		e.t.Fatalf("open %s: %v", path, err)
	}
	e.t.Cleanup(func() { fd.DecRef(rootCtx) })
	return fd
}

func readAll(t *testing.T, fd *vfs.FileDescription) string {
	t.Helper()
	var out []byte
	buf := make([]byte, 7)
	for {
		n, err := fd.Read(rootCtx, [][]byte{buf[:3], buf[3:]})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return string(out)
		}
		out = append(out, buf[:n]...)
	}
}

func TestCreateWriteReadStat(t *testing.T) {
	e := newEnv(t, Options{}, false)
	fd := e.open("a.txt", unix.O_CREAT|unix.O_RDWR|unix.O_EXCL, 0o640)
	if n, err := fd.Write(rootCtx, [][]byte{[]byte("hello "), []byte("world")}); n != 11 || err != nil {
		t.Fatalf("write = %d, %v", n, err)
	}
	st, err := e.v.StatAt(rootCtx, e.pop("a.txt"))
	if err != nil || st.Size != 11 || st.Mode != linux.S_IFREG|0o640 {
		t.Fatalf("stat = size %d mode %#o, %v", st.Size, st.Mode, err)
	}
	buf := make([]byte, 5)
	if n, err := fd.PRead(rootCtx, [][]byte{buf}, 6); n != 5 || string(buf) != "world" || err != nil {
		t.Fatalf("pread = %q, %v", buf[:n], err)
	}
	got, _ := os.ReadFile(filepath.Join(e.dir, "a.txt"))
	if string(got) != "hello world" {
		t.Fatalf("host file = %q", got)
	}
	hst, _ := os.Stat(filepath.Join(e.dir, "a.txt"))
	if hst.Mode().Perm() != 0o640 {
		t.Fatalf("host mode %v", hst.Mode())
	}
	// A second open reads the data from the start.
	if s := readAll(t, e.open("a.txt", unix.O_RDONLY, 0)); s != "hello world" {
		t.Fatalf("read = %q", s)
	}
	// O_TRUNC empties it; O_APPEND appends.
	fd2 := e.open("a.txt", unix.O_WRONLY|unix.O_TRUNC|unix.O_APPEND, 0)
	fd2.Write(rootCtx, [][]byte{[]byte("one")})
	fd2.PWrite(rootCtx, [][]byte{[]byte("two")}, 0)
	if got, _ := os.ReadFile(filepath.Join(e.dir, "a.txt")); string(got) != "onetwo" {
		t.Fatalf("after trunc+append: %q", got)
	}
	if off, _ := fd2.Seek(rootCtx, 0, unix.SEEK_CUR); off != 3 {
		t.Fatalf("offset after append write = %d", off)
	}
	if off, err := fd.Seek(rootCtx, 0, unix.SEEK_END); off != 6 || err != nil {
		t.Fatalf("seek end = %d, %v", off, err)
	}
	if _, err := e.v.OpenAt(rootCtx, e.pop("a.txt"), vfs.OpenOptions{Flags: unix.O_CREAT | unix.O_EXCL | unix.O_RDWR}); err != unix.EEXIST {
		t.Fatalf("O_EXCL on existing: %v", err)
	}
}

func listDir(t *testing.T, e *env, path string) []string {
	t.Helper()
	fd := e.open(path, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	var names []string
	buf := make([]byte, 64)
	for {
		n, err := fd.Getdents(rootCtx, buf, false)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		for off := 0; off < n; {
			reclen := int(binary.LittleEndian.Uint16(buf[off+16:]))
			name := buf[off+19 : off+reclen]
			names = append(names, string(name[:bytes.IndexByte(name, 0)]))
			off += reclen
		}
	}
	sort.Strings(names)
	return names
}

func TestDirsSymlinksReaddir(t *testing.T) {
	e := newEnv(t, Options{}, false)
	os.WriteFile(filepath.Join(e.dir, "f"), []byte("data"), 0o644)
	if err := e.v.MkdirAt(rootCtx, e.pop("d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := e.v.SymlinkAt(rootCtx, e.pop("d/link"), "../f"); err != nil {
		t.Fatal(err)
	}
	if tgt, err := e.v.ReadlinkAt(rootCtx, e.pop("d/link")); tgt != "../f" || err != nil {
		t.Fatalf("readlink = %q, %v", tgt, err)
	}
	if tgt, _ := os.Readlink(filepath.Join(e.dir, "d/link")); tgt != "../f" {
		t.Fatalf("host readlink = %q", tgt)
	}
	if s := readAll(t, e.open("d/link", unix.O_RDONLY, 0)); s != "data" {
		t.Fatalf("read through symlink = %q", s)
	}
	// A symlink pointing outside the root resolves inside the sandbox.
	os.Symlink("/../../f", filepath.Join(e.dir, "escape"))
	if s := readAll(t, e.open("escape", unix.O_RDONLY, 0)); s != "data" {
		t.Fatalf("absolute symlink = %q", s)
	}
	for i := 0; i < 40; i++ {
		os.WriteFile(filepath.Join(e.dir, "d", "file"+string(rune('a'+i%26))+string(rune('a'+i/26))), nil, 0o644)
	}
	names := listDir(t, e, "d")
	if len(names) != 2+1+40 || names[0] != "." || names[1] != ".." {
		t.Fatalf("readdir: %d names %v", len(names), names)
	}
	if err := e.v.MknodAt(rootCtx, e.pop("fifo"), linux.S_IFIFO|0o600, 0, 0); err != nil {
		t.Fatal(err)
	}
	if st, err := e.v.StatAt(rootCtx, e.pop("fifo")); err != nil || st.Mode&linux.S_IFMT != linux.S_IFIFO {
		t.Fatalf("fifo stat %#o %v", st.Mode, err)
	}
	if err := e.v.RmdirAt(rootCtx, e.pop("d")); err != unix.ENOTEMPTY {
		t.Fatalf("rmdir non-empty: %v", err)
	}
}

func TestRenameUnlinkLink(t *testing.T) {
	e := newEnv(t, Options{}, false)
	fd := e.open("a", unix.O_CREAT|unix.O_WRONLY, 0o644)
	fd.Write(rootCtx, [][]byte{[]byte("x")})
	e.v.MkdirAt(rootCtx, e.pop("d"), 0o755)
	if err := e.v.RenameAt(rootCtx, e.pop("a"), e.pop("d/b"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.v.StatAt(rootCtx, e.pop("a")); err != unix.ENOENT {
		t.Fatalf("old name: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "d/b")); err != nil {
		t.Fatal(err)
	}
	if err := e.v.LinkAt(rootCtx, e.pop("d/b"), e.pop("c")); err != nil {
		t.Fatal(err)
	}
	st, err := e.v.StatAt(rootCtx, e.pop("c"))
	if err != nil || st.Nlink != 2 {
		t.Fatalf("nlink after link = %d, %v", st.Nlink, err)
	}
	// Both names share one inode.
	f1 := e.open("c", unix.O_RDONLY, 0)
	f2 := e.open("d/b", unix.O_RDONLY, 0)
	if f1.Inode() != f2.Inode() {
		t.Fatal("hard links have different inodes")
	}
	if err := e.v.UnlinkAt(rootCtx, e.pop("d/b")); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.v.StatAt(rootCtx, e.pop("c")); st.Nlink != 1 {
		t.Fatalf("nlink after unlink = %d", st.Nlink)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "d/b")); !os.IsNotExist(err) {
		t.Fatalf("host file still there: %v", err)
	}
	// The open file still reads.
	if s := readAll(t, f2); s != "x" {
		t.Fatalf("read of unlinked file = %q", s)
	}
	// Negative lookups are cached, and our own creation clears them.
	if _, err := e.v.StatAt(rootCtx, e.pop("d/new")); err != unix.ENOENT {
		t.Fatal(err)
	}
	e.open("d/new", unix.O_CREAT|unix.O_WRONLY, 0o600)
	if _, err := e.v.StatAt(rootCtx, e.pop("d/new")); err != nil {
		t.Fatalf("stat after create: %v", err)
	}
	// chmod and truncate by path.
	if err := e.v.SetStatAt(rootCtx, e.pop("c"), &vfs.SetStatOptions{Mask: linux.STATX_MODE | linux.STATX_SIZE, Mode: 0o600, Size: 5}); err != nil {
		t.Fatal(err)
	}
	hst, _ := os.Stat(filepath.Join(e.dir, "c"))
	if hst.Mode().Perm() != 0o600 || hst.Size() != 5 {
		t.Fatalf("host after setattr: %v %d", hst.Mode(), hst.Size())
	}
	sfs, err := e.v.StatfsAt(rootCtx, e.pop("c"))
	if err != nil || sfs.BlockSize == 0 {
		t.Fatalf("statfs %+v %v", sfs, err)
	}
}

func TestReadOnly(t *testing.T) {
	e := newEnv(t, Options{ReadOnly: true}, true)
	os.WriteFile(filepath.Join(e.dir, "f"), []byte("ro"), 0o644)
	if s := readAll(t, e.open("f", unix.O_RDONLY, 0)); s != "ro" {
		t.Fatalf("read %q", s)
	}
	if _, err := e.v.OpenAt(rootCtx, e.pop("f"), vfs.OpenOptions{Flags: unix.O_RDWR}); err != unix.EROFS {
		t.Fatalf("open rw on ro: %v", err)
	}
	if err := e.v.MkdirAt(rootCtx, e.pop("d"), 0o755); err != unix.EROFS {
		t.Fatalf("mkdir on ro: %v", err)
	}
	fd := e.open("f", unix.O_RDONLY, 0)
	m, err := fd.Mappable()
	if err != nil {
		t.Fatal(err)
	}
	rs, err := m.Translate(0, 4096, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.mf.Slice(rs[0].Start, 2); string(got) != "ro" {
		t.Fatalf("mapped %q", got)
	}
	e.mf.DecRef(rs[0])
}

func TestMmapCoherence(t *testing.T) {
	e := newEnv(t, Options{}, false)
	fd := e.open("m", unix.O_CREAT|unix.O_RDWR, 0o644)
	data := bytes.Repeat([]byte("abcdefgh"), 1024) // two pages
	fd.Write(rootCtx, [][]byte{data})
	m, err := fd.Mappable()
	if err != nil {
		t.Fatal(err)
	}
	fd2 := e.open("m", unix.O_RDWR, 0)
	m2, _ := fd2.Mappable()
	if m != m2 {
		t.Fatal("two opens of a file have different page caches")
	}
	m.AddMapping(0, 8192, true)
	rs, err := m.Translate(0, 8192, true)
	if err != nil || len(rs) == 0 {
		t.Fatalf("translate: %v %v", rs, err)
	}
	page := e.mf.Slice(rs[0].Start, 4096)
	if !bytes.Equal(page, data[:4096]) {
		t.Fatal("mapped page differs from the file")
	}
	// write(2) is seen by the mapping.
	fd2.PWrite(rootCtx, [][]byte{[]byte("XYZ")}, 10)
	if string(page[10:13]) != "XYZ" {
		t.Fatalf("mapping after write: %q", page[8:16])
	}
	// A store through the mapping is seen by read(2).
	copy(page[100:], "mapped!")
	buf := make([]byte, 7)
	if n, _ := fd.PRead(rootCtx, [][]byte{buf}, 100); string(buf[:n]) != "mapped!" {
		t.Fatalf("read after store: %q", buf[:n])
	}
	// fsync writes it back to the host.
	if err := fd.Sync(rootCtx); err != nil {
		t.Fatal(err)
	}
	host, _ := os.ReadFile(filepath.Join(e.dir, "m"))
	if string(host[100:107]) != "mapped!" || string(host[10:13]) != "XYZ" {
		t.Fatalf("host after sync: %q %q", host[100:107], host[10:13])
	}
	// Truncation: a translate beyond EOF fails.
	if err := fd.SetStat(rootCtx, &vfs.SetStatOptions{Mask: linux.STATX_SIZE, Size: 100}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Translate(4096, 4096, false); err != unix.EFAULT {
		t.Fatalf("translate past EOF: %v", err)
	}
	for _, r := range rs {
		e.mf.DecRef(r)
	}
	m.RemoveMapping(0, 8192, true)
}

// BenchmarkRead reads a 256 MiB file through the filesystem in 1 MiB
// reads, beside the same reads made natively.
func BenchmarkRead(b *testing.B) {
	const size = 256 << 20
	e := newEnv(b, Options{}, false)
	p := filepath.Join(e.dir, "big")
	f, _ := os.Create(p)
	f.Truncate(size)
	f.Close()
	buf := make([]byte, 1<<20)
	b.Run("sandbox", func(b *testing.B) {
		b.SetBytes(size)
		for i := 0; i < b.N; i++ {
			fd, err := e.v.OpenAt(rootCtx, e.pop("big"), vfs.OpenOptions{Flags: unix.O_RDONLY})
			if err != nil {
				b.Fatal(err)
			}
			for {
				n, err := fd.Read(rootCtx, [][]byte{buf})
				if err != nil {
					b.Fatal(err)
				}
				if n == 0 {
					break
				}
			}
			fd.DecRef(rootCtx)
		}
	})
	b.Run("native", func(b *testing.B) {
		b.SetBytes(size)
		for i := 0; i < b.N; i++ {
			fd, _ := unix.Open(p, unix.O_RDONLY, 0)
			for {
				n, _ := unix.Read(fd, buf)
				if n <= 0 {
					break
				}
			}
			unix.Close(fd)
		}
	})
}
