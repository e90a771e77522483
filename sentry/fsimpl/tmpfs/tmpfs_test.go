package tmpfs_test

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/tmpfs"
	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/memfile"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

type ctx struct{}

func (ctx) Credentials() *auth.Credentials { return auth.NewCredentials(0, 0, nil, auth.AllCaps) }

func openFile(t *testing.T) (*vfs.FileDescription, *memfile.File) {
	mf, err := memfile.New("tmpfs-test", 16<<20)
	if err != nil {
		t.Skipf("memfd: %v", err)
	}
	t.Cleanup(func() { mf.Close() })
	v := vfs.New()
	root := v.MountRoot(tmpfs.New(v, mf, tmpfs.Options{}), "none", vfs.MountFlags{})
	pop := &vfs.PathOperation{Root: root, Start: root, Path: "f"}
	fd, err := v.OpenAt(ctx{}, pop, vfs.OpenOptions{Flags: unix.O_RDWR | unix.O_CREAT, Mode: 0o644})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fd.DecRef(nil) })
	return fd, mf
}

func TestMappableSharesPages(t *testing.T) {
	fd, mf := openFile(t)
	data := bytes.Repeat([]byte("abcd"), 2000) // 8000 bytes: two pages
	fd.PWrite(ctx{}, [][]byte{data}, 0)
	m, err := fd.Mappable()
	if err != nil {
		t.Fatal(err)
	}
	rs, err := m.Translate(0, 3*4096, false)
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	for _, r := range rs {
		got = append(got, mf.Slice(r.Start, r.Len())...)
	}
	if len(got) != 8192 || !bytes.Equal(got[:8000], data) {
		t.Fatalf("translated %d bytes, data match %v", len(got), bytes.Equal(got[:8000], data))
	}
	// A write through the "mapping" is seen by read(2).
	copy(mf.Slice(rs[0].Start, 1), "Z")
	buf := make([]byte, 2)
	fd.PRead(ctx{}, [][]byte{buf}, 0)
	if string(buf) != "Zb" {
		t.Errorf("read after mapped write = %q", buf)
	}
	for _, r := range rs {
		mf.DecRef(r)
	}
	if _, err := m.Translate(8192, 4096, false); err != unix.EFAULT {
		t.Errorf("translate past EOF: %v", err)
	}
}

func TestTruncateAndHoles(t *testing.T) {
	fd, mf := openFile(t)
	fd.PWrite(ctx{}, [][]byte{bytes.Repeat([]byte{1}, 10000)}, 0)
	used := mf.Used()
	if err := fd.SetStat(ctx{}, &vfs.SetStatOptions{Mask: linux.STATX_SIZE, Size: 5}); err != nil {
		t.Fatal(err)
	}
	if mf.Used() >= used {
		t.Errorf("truncate did not free pages")
	}
	fd.SetStat(ctx{}, &vfs.SetStatOptions{Mask: linux.STATX_SIZE, Size: 100})
	buf := make([]byte, 100)
	n, _ := fd.PRead(ctx{}, [][]byte{buf}, 0)
	if n != 100 || !bytes.Equal(buf[:5], []byte{1, 1, 1, 1, 1}) || !bytes.Equal(buf[5:], make([]byte, 95)) {
		t.Errorf("after shrink+grow: %d %v", n, buf[:10])
	}
	// Sparse write far away: the hole reads as zeros, size follows.
	fd.PWrite(ctx{}, [][]byte{[]byte("end")}, 1<<20)
	st, _ := fd.Stat(ctx{})
	if st.Size != 1<<20+3 || st.Blocks > 16 {
		t.Errorf("sparse: size %d blocks %d", st.Size, st.Blocks)
	}
	if err := fd.Allocate(ctx{}, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, 3); err != nil {
		t.Fatal(err)
	}
	fd.PRead(ctx{}, [][]byte{buf[:5]}, 0)
	if !bytes.Equal(buf[:5], []byte{0, 0, 0, 1, 1}) {
		t.Errorf("after punch: %v", buf[:5])
	}
	if off, err := fd.Seek(ctx{}, 0, unix.SEEK_END); off != 1<<20+3 || err != nil {
		t.Errorf("SEEK_END = %d %v", off, err)
	}
}

func TestParseOptions(t *testing.T) {
	o, err := tmpfs.ParseOptions("size=65536k,mode=1777,uid=5,nr_inodes=10", 1<<30)
	if err != nil || o.SizeLimit != 64<<20 || o.RootMode != 0o1777 || o.RootUID != 5 {
		t.Errorf("got %+v %v", o, err)
	}
	if o, _ := tmpfs.ParseOptions("size=50%", 1<<30); o.SizeLimit != (1<<30)/100*50 {
		t.Errorf("percent: %d", o.SizeLimit)
	}
	if _, err := tmpfs.ParseOptions("mode=99", 0); err == nil {
		t.Errorf("bad mode accepted")
	}
}
