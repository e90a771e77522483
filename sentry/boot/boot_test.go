package boot

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	_ "github.com/runsc-cri/runsc-cri/platform/ptrace"
	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/tmpfs"
	"github.com/runsc-cri/runsc-cri/sentry/memfile"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

const busybox = "/bin/busybox"

// tmpfsRoot builds a root with /bin/busybox copied in and the usual
// mount-point directories.
func tmpfsRoot(t *testing.T) rootMaker {
	return func(v *vfs.VirtualFilesystem, mf *memfile.File) (vfs.VirtualDentry, error) {
		data, err := os.ReadFile(busybox)
		if err != nil {
			return vfs.VirtualDentry{}, err
		}
		root := v.MountRoot(tmpfs.New(v, mf, tmpfs.Options{}), "tmpfs", vfs.MountFlags{})
		for _, d := range []string{"/bin", "/dev", "/proc", "/tmp", "/sys"} {
			pop := &vfs.PathOperation{Root: root, Start: root, Path: d}
			if err := v.MkdirAt(rootCtx, pop, 0o755); err != nil {
				return vfs.VirtualDentry{}, err
			}
		}
		pop := &vfs.PathOperation{Root: root, Start: root, Path: "/bin/busybox"}
		f, err := v.OpenAt(rootCtx, pop, vfs.OpenOptions{Flags: unix.O_CREAT | unix.O_WRONLY, Mode: 0o755})
		if err != nil {
			return vfs.VirtualDentry{}, err
		}
		defer f.DecRef(rootCtx)
		if _, err := f.Write(rootCtx, [][]byte{data}); err != nil {
			return vfs.VirtualDentry{}, err
		}
		for _, name := range []string{"sh", "echo", "cat", "ls"} {
			pop := &vfs.PathOperation{Root: root, Start: root, Path: "/bin/" + name}
			if err := v.SymlinkAt(rootCtx, pop, "busybox"); err != nil {
				return vfs.VirtualDentry{}, err
			}
		}
		return root, nil
	}
}

// runInTmpfs runs argv in a sandbox over tmpfsRoot and returns its output
// and status.
func runInTmpfs(t *testing.T, argv ...string) (string, int) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root (ptrace platform stubs and namespaces)")
	}
	if _, err := os.Stat(busybox); err != nil {
		t.Skip("needs /bin/busybox (Debian's busybox-static)")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	null, _ := os.Open(os.DevNull)
	defer null.Close()
	spec := Spec{
		MemoryLimit: 1 << 30,
		Process: Process{
			Argv:  argv,
			Env:   []string{"PATH=/bin"},
			Cwd:   "/",
			Stdio: [3]int{int(null.Fd()), int(w.Fd()), int(w.Fd())},
		},
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := start(spec, log, tmpfsRoot(t))
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&out, r); close(done) }()
	statusCh := make(chan int, 1)
	go func() { statusCh <- s.Wait() }()
	select {
	case status := <-statusCh:
		s.Destroy()
		<-done
		return out.String(), status
	case <-time.After(30 * time.Second):
		s.Destroy()
		t.Fatalf("sandbox did not finish; output so far: %q", out.String())
	}
	return "", 0
}

func TestEcho(t *testing.T) {
	out, status := runInTmpfs(t, "/bin/busybox", "echo", "hello", "sandbox")
	if out != "hello sandbox\n" || status != 0 {
		t.Fatalf("got %q, status %d", out, status)
	}
}

func TestShellPipeline(t *testing.T) {
	out, status := runInTmpfs(t, "/bin/sh", "-c", "echo a; (echo b | cat); x=$(echo c); echo $x; exit 3")
	if out != "a\nb\nc\n" || status != 3 {
		t.Fatalf("got %q, status %d", out, status)
	}
}
