package gofer_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/gofer"
	"github.com/runsc-cri/runsc-cri/gofer/client"
)

// volumeGofer is a gofer started by Main with --volume connections.
type volumeGofer struct {
	cmd    *exec.Cmd
	root   *client.Client
	vols   []*client.Client
	stderr *bytes.Buffer
	done   chan error
}

// startVolumeGofer runs Main over root with one --volume per entry of
// vols ("ro:/path" or "rw:/path"), born in a new mount namespace
// (direct) or re-executing itself.
func startVolumeGofer(t *testing.T, root string, direct bool, vols ...string) *volumeGofer {
	t.Helper()
	g := &volumeGofer{stderr: new(bytes.Buffer), done: make(chan error, 1)}
	var ours, theirs []*os.File
	for range 1 + len(vols) {
		s, c, err := gofer.SocketPair()
		if err != nil {
			t.Fatal(err)
		}
		ours, theirs = append(ours, s), append(theirs, c)
	}
	args := []string{"--root", root, "--sock-fd", "3"}
	for i, v := range vols {
		args = append(args, "--volume", fmt.Sprintf("%d:%s", 4+i, v))
	}
	g.cmd = exec.Command(os.Args[0], args...)
	g.cmd.Env = append(os.Environ(), "GOFER_TEST_MAIN=1")
	g.cmd.ExtraFiles = theirs
	g.cmd.Stderr = g.stderr
	if direct {
		g.cmd.Args = append(g.cmd.Args, "--mntns")
		g.cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	}
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { g.done <- g.cmd.Wait() }()
	for _, f := range theirs {
		f.Close()
	}
	for i, f := range ours {
		fd, err := unix.Dup(int(f.Fd()))
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		c, err := client.NewFD(fd)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			g.root = c
		} else {
			g.vols = append(g.vols, c)
		}
	}
	t.Cleanup(func() {
		g.root.Close()
		for _, c := range g.vols {
			c.Close()
		}
		select {
		case <-g.done:
		case <-time.After(10 * time.Second):
			g.cmd.Process.Kill()
			<-g.done
			t.Errorf("gofer did not exit; stderr:\n%s", g.stderr.String())
		}
	})
	return g
}

// exited reports whether the gofer has exited within d.
func (g *volumeGofer) exited(d time.Duration) bool {
	select {
	case err := <-g.done:
		g.done <- err
		return true
	case <-time.After(d):
		return false
	}
}

// TestMainVolumes: each --volume connection serves the tree of its mount
// point inside the root and nothing else (not the rootfs, not a sibling
// volume: ".." refused, the mount point's own parent unreachable); "ro"
// refuses changes; a volume whose path crosses a symlink (or is not a
// directory) makes the gofer fail; the gofer ends when every connection
// is closed, not at the first.
func TestMainVolumes(t *testing.T) {
	needRoot(t)
	for _, direct := range []bool{true, false} {
		t.Run(fmt.Sprintf("direct=%v", direct), func(t *testing.T) {
			tmp := t.TempDir()
			rootDir := tmp + "/root"
			writeFile(t, rootDir+"/marker", "rootfs")
			writeFile(t, rootDir+"/a/b/placeholder", "under the bind")
			os.MkdirAll(rootDir+"/ro", 0o755)
			src := tmp + "/src"
			writeFile(t, src+"/data", "volume")
			os.Symlink("../../marker", src+"/up")
			writeFile(t, tmp+"/rosrc/f", "ro")
			// The daemon's shape: binds inside the root, made before
			// the gofer starts (the gofer's namespace copies them).
			for _, b := range [][2]string{{src, rootDir + "/a/b"}, {tmp + "/rosrc", rootDir + "/ro"}} {
				if err := unix.Mount(b[0], b[1], "", unix.MS_BIND, ""); err != nil {
					t.Fatal(err)
				}
				defer unix.Unmount(b[1], unix.MNT_DETACH)
			}
			g := startVolumeGofer(t, rootDir, direct, "rw:/a/b", "ro:/ro")
			v, ro := g.vols[0], g.vols[1]

			r, st, err := v.Root()
			if err != nil {
				t.Fatalf("volume root: %v; stderr:\n%s", err, g.stderr)
			}
			if hs := lstat(t, src); st.Ino != hs.Ino || st.Dev != hs.Dev {
				t.Errorf("volume root is not the bind's source")
			}
			if f, _ := walk1(t, r, "data"); f != nil {
				fd, err := f.Open(unix.O_RDONLY)
				if err != nil {
					t.Fatal(err)
				}
				if s := readFD(t, fd); s != "volume" {
					t.Errorf("data: %q", s)
				}
				unix.Close(fd)
			}
			_, fd, _, err := r.Create("new", unix.O_RDWR|unix.O_EXCL, 0o644, 0, 0)
			if err != nil {
				t.Fatalf("create in a rw volume: %v", err)
			}
			unix.Close(fd)
			if _, err := os.Stat(src + "/new"); err != nil {
				t.Errorf("created file not on the host: %v", err)
			}
			// Confinement.
			for _, p := range []string{"..", "../marker", "../../marker", "/../marker"} {
				_, _, err := v.Attach(p)
				wantErr(t, "attach "+p, err, unix.EINVAL)
			}
			_, _, err = v.Attach("marker")
			wantErr(t, "attach marker (the rootfs's)", err, unix.ENOENT)
			_, _, err = r.Walk("..")
			wantErr(t, "walk ..", err, unix.EINVAL)
			up, _ := walk1(t, r, "up")
			_, err = up.Open(unix.O_RDONLY)
			wantErr(t, "open of a symlink", err, unix.ELOOP)
			_, _, err = v.Attach("up/x")
			wantErr(t, "attach through a symlink", err, unix.ELOOP, unix.ENOTDIR, unix.EXDEV)

			rr, _, err := ro.Root()
			if err != nil {
				t.Fatal(err)
			}
			_, _, _, err = rr.Create("new", unix.O_RDWR, 0o644, 0, 0)
			wantErr(t, "create in a ro volume", err, unix.EROFS)
			f, _ := walk1(t, rr, "f")
			_, err = f.Open(unix.O_RDWR)
			wantErr(t, "open rw in a ro volume", err, unix.EROFS)

			// The root connection still serves the whole root.
			rt, _, err := g.root.Root()
			if err != nil {
				t.Fatal(err)
			}
			walk1(t, rt, "marker")

			// Closing the root connection leaves the volumes served.
			g.root.Close()
			if g.exited(200 * time.Millisecond) {
				t.Fatalf("the gofer exited with a volume connection open; stderr:\n%s", g.stderr)
			}
			if _, _, err := v.Root(); err != nil {
				t.Errorf("volume after the root connection closed: %v", err)
			}
			v.Close()
			ro.Close()
			if !g.exited(5 * time.Second) {
				t.Errorf("the gofer did not exit when every connection was closed")
			}
		})
	}
}

// TestMainVolumeBadPath: a volume path with a symlink on the way, a file,
// a missing directory, the root itself or a ".." make the gofer exit
// with an error before serving anything.
func TestMainVolumeBadPath(t *testing.T) {
	needRoot(t)
	tmp := t.TempDir()
	rootDir := tmp + "/root"
	os.MkdirAll(rootDir+"/dir/sub", 0o755)
	writeFile(t, rootDir+"/file", "x")
	os.Symlink("dir", rootDir+"/link")
	os.Symlink("/", rootDir+"/abs")
	for _, p := range []string{"/link/sub", "/link", "/abs", "/file", "/missing", "/", "/dir/../dir"} {
		g := startVolumeGofer(t, rootDir, true, "rw:"+p)
		_, _, err := g.root.Root()
		if err == nil {
			t.Errorf("volume %q: the gofer serves", p)
			continue
		}
		if !g.exited(5 * time.Second) {
			t.Errorf("volume %q: the gofer did not exit", p)
		}
	}
	// A good one next to them works.
	g := startVolumeGofer(t, rootDir, true, "rw:"+filepath.Join("/dir", "sub"))
	if _, _, err := g.vols[0].Root(); err != nil {
		t.Errorf("volume /dir/sub: %v; stderr:\n%s", err, g.stderr)
	}
}
