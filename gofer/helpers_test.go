package gofer_test

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/runsc-cri/runsc-cri/gofer"
	"github.com/runsc-cri/runsc-cri/gofer/client"
	"golang.org/x/sys/unix"
)

// socketPair returns two connected SEQPACKET unix sockets.
func socketPair(t testing.TB) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fdConn(t, fds[0]), fdConn(t, fds[1])
}

func fdConn(t testing.TB, fd int) *net.UnixConn {
	t.Helper()
	f := os.NewFile(uintptr(fd), "sock")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		t.Fatal(err)
	}
	return c.(*net.UnixConn)
}

// serve runs gofer.Serve on root in this process and returns a client for
// it. The server must stop cleanly when the client closes.
func serve(t testing.TB, root string, opts gofer.Options) *client.Client {
	t.Helper()
	sc, cc := socketPair(t)
	done := make(chan error, 1)
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	go func() { done <- gofer.Serve(sc, root, opts) }()
	c := client.New(cc)
	t.Cleanup(func() {
		c.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return c
}

// root returns the root handle of c.
func root(t testing.TB, c *client.Client) *client.File {
	t.Helper()
	f, st, err := c.Root()
	if err != nil {
		t.Fatalf("Root: %v", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		t.Fatalf("root mode %o", st.Mode)
	}
	return f
}

// walk1 walks one component and fails the test on error.
func walk1(t testing.TB, d *client.File, name string) (*client.File, client.Stat) {
	t.Helper()
	fs, sts, err := d.Walk(name)
	if err != nil {
		t.Fatalf("Walk(%q): %v", name, err)
	}
	return fs[0], sts[0]
}

// wantErr fails unless err is one of want.
func wantErr(t testing.TB, what string, err error, want ...unix.Errno) {
	t.Helper()
	for _, w := range want {
		if err == w {
			return
		}
	}
	t.Errorf("%s: got error %v, want one of %v", what, err, want)
}

func writeFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFD(t testing.TB, fd int) string {
	t.Helper()
	buf := make([]byte, 4096)
	n, err := unix.Pread(fd, buf, 0)
	if err != nil {
		t.Fatalf("pread: %v", err)
	}
	return string(buf[:n])
}

func lstat(t testing.TB, path string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func fstat(t testing.TB, fd int) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func needRoot(t testing.TB) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (chown to other ids, mount namespaces)")
	}
}
