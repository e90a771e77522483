package host

import (
	"encoding/binary"
	"fmt"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
	"github.com/runsc-cri/runsc-cri/sentry/waiter"
)

// testCtx is a vfs.IoctlContext over a plain byte slice "memory".
type testCtx struct {
	mem []byte
	pg  int32
}

func (c *testCtx) Credentials() *auth.Credentials {
	return auth.NewCredentials(0, 0, nil, auth.AllCaps)
}
func (c *testCtx) CopyIn(addr uintptr, dst []byte) (int, error) {
	if int(addr)+len(dst) > len(c.mem) {
		return 0, unix.EFAULT
	}
	return copy(dst, c.mem[addr:]), nil
}
func (c *testCtx) CopyOut(addr uintptr, src []byte) (int, error) {
	if int(addr)+len(src) > len(c.mem) {
		return 0, unix.EFAULT
	}
	return copy(c.mem[addr:], src), nil
}
func (c *testCtx) ProcessGroupID() int32 { return c.pg }

func pipe(t *testing.T) (r, w int) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	return p[0], p[1]
}

func TestPipeReadWouldBlockThenNotify(t *testing.T) {
	v := vfs.New()
	ctx := &testCtx{}
	r, w := pipe(t)
	defer unix.Close(w)
	fd, err := NewFile(v, r, unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.DecRef(ctx)
	buf := make([]byte, 16)
	if _, err := fd.Read(ctx, [][]byte{buf}); err != unix.EAGAIN {
		t.Fatalf("read of empty pipe: %v, want EAGAIN", err)
	}
	if got := fd.Readiness(waiter.ReadableEvents); got != 0 {
		t.Fatalf("readiness of empty pipe = %#x", got)
	}
	e := waiter.NewEntry()
	fd.EventRegister(e, waiter.ReadableEvents)
	defer fd.EventUnregister(e)
	unix.Write(w, []byte("hello"))
	select {
	case <-e.C:
	case <-time.After(5 * time.Second):
		t.Fatal("no notification after the write")
	}
	if got := fd.Readiness(waiter.ReadableEvents); got&waiter.EventIn == 0 {
		t.Fatalf("readiness = %#x, want EventIn", got)
	}
	n, err := fd.Read(ctx, [][]byte{buf[:2], buf[2:]})
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read = %q, %v", buf[:n], err)
	}
	st, err := fd.Stat(ctx)
	if err != nil || st.Mode&linux.S_IFMT != linux.S_IFIFO {
		t.Fatalf("stat mode %#o, %v", st.Mode, err)
	}
	want := fmt.Sprintf("pipe:[%d]", st.Ino)
	if got, _ := v.PathOf(vfs.VirtualDentry{}, fd.VirtualDentry()); got != want {
		t.Fatalf("name %q, want %q", got, want)
	}
	// EOF after the writer closes.
	unix.Close(w)
	w = -1
	if n, err := fd.Read(ctx, [][]byte{buf}); n != 0 || err != nil {
		t.Fatalf("read at EOF = %d, %v", n, err)
	}
}

func TestPipeWriteFull(t *testing.T) {
	v := vfs.New()
	ctx := &testCtx{}
	r, w := pipe(t)
	defer unix.Close(r)
	fd, err := NewFile(v, w, unix.O_WRONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.DecRef(ctx)
	big := make([]byte, 1<<20)
	n, err := fd.Write(ctx, [][]byte{big})
	if err != nil || n <= 0 || n == int64(len(big)) {
		t.Fatalf("first write = %d, %v (want a short write)", n, err)
	}
	if _, err := fd.Write(ctx, [][]byte{big}); err != unix.EAGAIN {
		t.Fatalf("write to full pipe: %v, want EAGAIN", err)
	}
	e := waiter.NewEntry()
	fd.EventRegister(e, waiter.WritableEvents)
	defer fd.EventUnregister(e)
	unix.Read(r, make([]byte, 1<<17))
	select {
	case <-e.C:
	case <-time.After(5 * time.Second):
		t.Fatal("no notification after draining")
	}
	if n, err := fd.Write(ctx, [][]byte{big[:10]}); n != 10 || err != nil {
		t.Fatalf("write after drain = %d, %v", n, err)
	}
	if _, err := fd.PWrite(ctx, [][]byte{big[:1]}, 0); err != unix.ESPIPE {
		t.Fatalf("pwrite on a pipe: %v", err)
	}
}

func TestRegularFile(t *testing.T) {
	v := vfs.New()
	ctx := &testCtx{}
	p := t.TempDir() + "/f"
	os.WriteFile(p, []byte("0123456789"), 0o644)
	hfd, err := unix.Open(p, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.Seek(hfd, 4, unix.SEEK_SET)
	fd, err := NewFile(v, hfd, unix.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.DecRef(ctx)
	buf := make([]byte, 3)
	if n, err := fd.Read(ctx, [][]byte{buf}); n != 3 || string(buf) != "456" || err != nil {
		t.Fatalf("read = %q %v (offset should start at the host's)", buf[:n], err)
	}
	if off, err := fd.Seek(ctx, 0, unix.SEEK_END); off != 10 || err != nil {
		t.Fatalf("seek end = %d, %v", off, err)
	}
	if n, err := fd.Write(ctx, [][]byte{[]byte("ab"), []byte("c")}); n != 3 || err != nil {
		t.Fatalf("write = %d, %v", n, err)
	}
	got, _ := os.ReadFile(p)
	if string(got) != "0123456789abc" {
		t.Fatalf("file = %q", got)
	}
	if fd.Readiness(waiter.ReadableEvents) == 0 {
		t.Fatal("regular file not ready")
	}
	if _, err := fd.Ioctl(ctx, unix.TCGETS, 0); err != unix.ENOTTY {
		t.Fatalf("TCGETS on a file: %v", err)
	}
}

func TestFIONREAD(t *testing.T) {
	v := vfs.New()
	ctx := &testCtx{mem: make([]byte, 64)}
	r, w := pipe(t)
	defer unix.Close(w)
	fd, err := NewFile(v, r, unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.DecRef(ctx)
	unix.Write(w, []byte("abcde"))
	if _, err := fd.Ioctl(ctx, unix.TIOCINQ, 8); err != nil {
		t.Fatal(err)
	}
	if n := binary.LittleEndian.Uint32(ctx.mem[8:]); n != 5 {
		t.Fatalf("FIONREAD = %d", n)
	}
	if _, err := fd.Ioctl(ctx, unix.TIOCINQ, 62); err != unix.EFAULT {
		t.Fatalf("FIONREAD to a bad address: %v", err)
	}
}

// openPTY returns a master and slave pty pair, or skips.
func openPTY(t *testing.T) (master, slave int) {
	m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no /dev/ptmx: %v", err)
	}
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(m, unix.TIOCGPTN)
	if err != nil {
		t.Skipf("ptsname: %v", err)
	}
	s, err := unix.Open(fmt.Sprintf("/dev/pts/%d", n), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("open pts: %v", err)
	}
	return m, s
}

func TestTTY(t *testing.T) {
	m, s := openPTY(t)
	defer unix.Close(m)
	v := vfs.New()
	ctx := &testCtx{mem: make([]byte, 128), pg: 7}
	fd, err := NewFile(v, s, unix.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.DecRef(ctx)
	if !fd.IsStream() {
		t.Fatal("tty is not a stream")
	}
	name, _ := v.PathOf(vfs.VirtualDentry{}, fd.VirtualDentry())
	if len(name) < 9 || name[:9] != "/dev/pts/" {
		t.Fatalf("tty name %q", name)
	}
	// Nothing typed: EAGAIN, without touching O_NONBLOCK of the host fd.
	if _, err := fd.Read(ctx, [][]byte{make([]byte, 8)}); err != unix.EAGAIN {
		t.Fatalf("read of idle tty: %v", err)
	}
	fl, _ := unix.FcntlInt(uintptr(s), unix.F_GETFL, 0)
	if fl&unix.O_NONBLOCK != 0 {
		t.Fatal("host tty was made non-blocking")
	}
	unix.Write(m, []byte("line\n"))
	deadline := time.Now().Add(5 * time.Second)
	var got []byte
	for time.Now().Before(deadline) {
		buf := make([]byte, 16)
		n, err := fd.Read(ctx, [][]byte{buf})
		if err == unix.EAGAIN {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got = buf[:n]
		break
	}
	if string(got) != "line\n" {
		t.Fatalf("tty read %q", got)
	}

	// Window size round trip.
	binary.LittleEndian.PutUint16(ctx.mem[0:], 40)
	binary.LittleEndian.PutUint16(ctx.mem[2:], 132)
	if _, err := fd.Ioctl(ctx, unix.TIOCSWINSZ, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := fd.Ioctl(ctx, unix.TIOCGWINSZ, 16); err != nil {
		t.Fatal(err)
	}
	if r, c := binary.LittleEndian.Uint16(ctx.mem[16:]), binary.LittleEndian.Uint16(ctx.mem[18:]); r != 40 || c != 132 {
		t.Fatalf("winsize %dx%d", r, c)
	}
	if _, err := fd.Ioctl(ctx, unix.TIOCGWINSZ, 124); err != unix.EFAULT {
		t.Fatalf("TIOCGWINSZ to a short buffer: %v", err)
	}
	// termios: clear ECHO and read it back.
	if _, err := fd.Ioctl(ctx, unix.TCGETS, 32); err != nil {
		t.Fatal(err)
	}
	lflag := binary.LittleEndian.Uint32(ctx.mem[32+12:])
	binary.LittleEndian.PutUint32(ctx.mem[32+12:], lflag&^unix.ECHO)
	if _, err := fd.Ioctl(ctx, unix.TCSETS, 32); err != nil {
		t.Fatal(err)
	}
	tm, _ := unix.IoctlGetTermios(s, unix.TCGETS)
	if tm.Lflag&unix.ECHO != 0 {
		t.Fatal("ECHO still set on the host tty")
	}
	// Foreground process group stays in the sandbox.
	if _, err := fd.Ioctl(ctx, unix.TIOCGPGRP, 80); err != nil {
		t.Fatal(err)
	}
	if pg := binary.LittleEndian.Uint32(ctx.mem[80:]); pg != 7 {
		t.Fatalf("TIOCGPGRP = %d, want the caller's 7", pg)
	}
	binary.LittleEndian.PutUint32(ctx.mem[80:], 9)
	if _, err := fd.Ioctl(ctx, unix.TIOCSPGRP, 80); err != nil {
		t.Fatal(err)
	}
	fd.Ioctl(ctx, unix.TIOCGPGRP, 84)
	if pg := binary.LittleEndian.Uint32(ctx.mem[84:]); pg != 9 {
		t.Fatalf("TIOCGPGRP after set = %d", pg)
	}
}
