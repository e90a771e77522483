package pipe_test

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/pipe"
	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

type ctx struct{ creds *auth.Credentials }

func (c ctx) Credentials() *auth.Credentials { return c.creds }

var (
	root = ctx{auth.NewCredentials(0, 0, nil, auth.AllCaps)}
	user = ctx{auth.NewCredentials(1000, 1000, nil, 0)}
)

func b(s string) [][]byte { return [][]byte{[]byte(s)} }

func TestPipeBasics(t *testing.T) {
	v := vfs.New()
	r, w := pipe.NewConnectedFiles(root, v, 0)
	defer r.DecRef(root)
	buf := make([]byte, 10)
	if _, err := r.Read(root, [][]byte{buf}); err != unix.EAGAIN {
		t.Fatalf("read empty: %v", err)
	}
	if r.Readiness(waiter.ReadableEvents) != 0 {
		t.Errorf("empty pipe readable")
	}
	if w.Readiness(waiter.WritableEvents) == 0 {
		t.Errorf("empty pipe not writable")
	}
	if n, err := w.Write(root, [][]byte{[]byte("ab"), []byte("cd")}); n != 4 || err != nil {
		t.Fatalf("write: %d %v", n, err)
	}
	if r.Readiness(waiter.ReadableEvents) == 0 {
		t.Errorf("pipe with data not readable")
	}
	if n, _ := r.Read(root, [][]byte{buf[:1], buf[1:3]}); n != 3 || string(buf[:3]) != "abc" {
		t.Errorf("read = %d %q", n, buf[:n])
	}
	if _, err := r.PRead(root, [][]byte{buf}, 0); err != unix.ESPIPE {
		t.Errorf("pread: %v", err)
	}
	if _, err := r.Seek(root, 0, unix.SEEK_SET); err != unix.ESPIPE {
		t.Errorf("seek: %v", err)
	}
	if _, err := r.Write(root, b("x")); err != unix.EBADF {
		t.Errorf("write to read end: %v", err)
	}
	// Closing the writer: the rest, then EOF and HUP.
	w.DecRef(root)
	if n, _ := r.Read(root, [][]byte{buf}); n != 1 || buf[0] != 'd' {
		t.Errorf("read rest = %d", n)
	}
	if n, err := r.Read(root, [][]byte{buf}); n != 0 || err != nil {
		t.Errorf("EOF read = %d %v", n, err)
	}
	if r.Readiness(waiter.ReadableEvents)&waiter.EventHUp == 0 {
		t.Errorf("no HUP after writer closed")
	}
	st, err := r.Stat(root)
	if err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Errorf("stat = %+v %v", st, err)
	}
	if p, _ := v.PathOf(vfs.VirtualDentry{}, r.VirtualDentry()); len(p) < 6 || p[:6] != "pipe:[" {
		t.Errorf("path = %q", p)
	}
}

func TestPipeFullAndAtomic(t *testing.T) {
	v := vfs.New()
	r, w := pipe.NewConnectedFiles(root, v, unix.O_NONBLOCK)
	defer w.DecRef(root)
	p := pipe.FromFile(w)
	if p.Size() != pipe.DefaultSize {
		t.Errorf("size = %d", p.Size())
	}
	big := make([]byte, pipe.DefaultSize+100)
	n, err := w.Write(root, [][]byte{big})
	if n != pipe.DefaultSize || err != nil {
		t.Fatalf("big write = %d %v", n, err)
	}
	if _, err := w.Write(root, b("x")); err != unix.EAGAIN {
		t.Errorf("write to full pipe: %v", err)
	}
	// Free 100 bytes: a 200-byte write (<= PIPE_BUF) must not be split.
	r.Read(root, [][]byte{make([]byte, 100)})
	if _, err := w.Write(root, [][]byte{make([]byte, 200)}); err != unix.EAGAIN {
		t.Errorf("atomic write into too little room: %v", err)
	}
	if n, _ := w.Write(root, [][]byte{make([]byte, 100)}); n != 100 {
		t.Errorf("fitting write = %d", n)
	}
	if _, err := p.SetSize(root.creds, 4096); err != unix.EBUSY {
		t.Errorf("shrink below contents: %v", err)
	}
	if _, err := p.SetSize(user.creds, 2<<20); err != unix.EPERM {
		t.Errorf("grow beyond max unprivileged: %v", err)
	}
	if n, err := p.SetSize(root.creds, 100000); n != 131072 || err != nil {
		t.Errorf("set size = %d %v", n, err)
	}
	// No readers: EPIPE.
	r.DecRef(root)
	if _, err := w.Write(root, b("x")); err != unix.EPIPE {
		t.Errorf("write without reader: %v", err)
	}
	if w.Readiness(waiter.WritableEvents)&waiter.EventErr == 0 {
		t.Errorf("no ERR without reader")
	}
}

func TestPipeNotify(t *testing.T) {
	v := vfs.New()
	r, w := pipe.NewConnectedFiles(root, v, 0)
	defer r.DecRef(root)
	defer w.DecRef(root)
	e := waiter.NewEntry()
	r.EventRegister(e, waiter.ReadableEvents)
	defer r.EventUnregister(e)
	done := make(chan struct{})
	go func() {
		w.Write(root, b("hi"))
		close(done)
	}()
	<-e.C
	<-done
	buf := make([]byte, 2)
	if n, _ := r.Read(root, [][]byte{buf}); !bytes.Equal(buf[:n], []byte("hi")) {
		t.Errorf("read %q", buf[:n])
	}
}

func TestFIFOOpen(t *testing.T) {
	v := vfs.New()
	p := pipe.New()
	vd := vfs.VirtualDentry{}
	// O_WRONLY|O_NONBLOCK without a reader: ENXIO.
	if _, err := p.Open(root, vd, unix.O_WRONLY|unix.O_NONBLOCK); err != unix.ENXIO {
		t.Errorf("nonblocking writer without reader: %v", err)
	}
	// Nonblocking reader opens at once.
	rimpl, err := p.Open(root, vd, unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	if ready, _ := rimpl.(vfs.OpenWaiter).OpenReady(); !ready {
		t.Errorf("nonblocking reader waits")
	}
	// Blocking reader waits for a writer.
	r2, _ := p.Open(root, vd, unix.O_RDONLY)
	ready, ch := r2.(vfs.OpenWaiter).OpenReady()
	if ready {
		t.Fatalf("blocking reader ready without writer")
	}
	wimpl, err := p.Open(root, vd, unix.O_WRONLY)
	if err != nil {
		t.Fatal(err)
	}
	<-ch
	if ready, _ := r2.(vfs.OpenWaiter).OpenReady(); !ready {
		t.Errorf("reader not ready after writer opened")
	}
	if ready, _ := wimpl.(vfs.OpenWaiter).OpenReady(); !ready {
		t.Errorf("writer not ready with readers")
	}
	rw, _ := p.Open(root, vd, unix.O_RDWR)
	if ready, _ := rw.(vfs.OpenWaiter).OpenReady(); !ready {
		t.Errorf("O_RDWR waits")
	}
	for _, f := range []vfs.FileImpl{rimpl, r2, wimpl, rw} {
		f.Release(nil)
	}
	_ = v
}
