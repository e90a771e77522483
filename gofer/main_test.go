package gofer_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runsc-cri/runsc-cri/gofer"
	"github.com/runsc-cri/runsc-cri/gofer/client"
	"golang.org/x/sys/unix"
)

// TestMain lets the test binary act as `runsc-cri gofer` when re-executed
// by the Main tests.
func TestMain(m *testing.M) {
	if os.Getenv("GOFER_TEST_MAIN") == "1" {
		os.Exit(gofer.Main(os.Args[1:]))
	}
	os.Exit(m.Run())
}

type mainChild struct {
	cmd    *exec.Cmd
	c      *client.Client
	stderr *bytes.Buffer
	pid    int // the serving gofer (the grandchild when Main re-executes)
}

// startMain runs Main in a child process. direct starts it the way the
// daemon should (born in a new mount namespace, --mntns); otherwise Main
// re-executes itself.
func startMain(t *testing.T, root string, ro, direct bool) *mainChild {
	t.Helper()
	sentryEnd, childSock, err := gofer.SocketPair()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--root", root, "--sock-fd", "3"}
	if ro {
		args = append(args, "--ro")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "GOFER_TEST_MAIN=1")
	cmd.ExtraFiles = []*os.File{childSock}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if direct {
		cmd.Args = append(cmd.Args, "--mntns")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	childSock.Close()
	fd, err := unix.Dup(int(sentryEnd.Fd()))
	sentryEnd.Close()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.NewFD(fd)
	if err != nil {
		t.Fatal(err)
	}
	mc := &mainChild{cmd: cmd, c: c, stderr: &stderr, pid: cmd.Process.Pid}
	t.Cleanup(func() {
		mc.c.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("gofer did not exit; stderr:\n%s", stderr.String())
		}
	})
	// The first request proves the gofer is set up and serving.
	if _, _, err := mc.c.Root(); err != nil {
		t.Fatalf("Root: %v; stderr:\n%s", err, stderr.String())
	}
	if !direct {
		// Any thread of the parent may have forked the child.
		var kids []string
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", mc.pid))
		for _, task := range tasks {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", mc.pid, task.Name()))
			kids = append(kids, strings.Fields(string(b))...)
		}
		if len(kids) != 1 {
			t.Fatalf("re-executed gofer: children %q", kids)
		}
		mc.pid, _ = strconv.Atoi(kids[0])
	}
	return mc
}

func TestMainConfined(t *testing.T) {
	needRoot(t)
	for _, direct := range []bool{true, false} {
		t.Run(fmt.Sprintf("direct=%v", direct), func(t *testing.T) {
			tmp := t.TempDir()
			rootDir := tmp + "/root"
			writeFile(t, rootDir+"/marker", "marker")
			writeFile(t, tmp+"/outside", "outside")
			os.Symlink("/etc/passwd", rootDir+"/passwd")
			os.Symlink("../outside", rootDir+"/out")
			mc := startMain(t, rootDir, false, direct)
			r := root(t, mc.c)

			// Operations work and donated fds are the host's files.
			f, st := walk1(t, r, "marker")
			fd, err := f.Open(unix.O_RDONLY)
			if err != nil {
				t.Fatal(err)
			}
			hs := lstat(t, rootDir+"/marker")
			if fs := fstat(t, fd); fs.Ino != hs.Ino || fs.Dev != hs.Dev || st.Ino != hs.Ino {
				t.Errorf("donated fd is not root/marker")
			}
			if readFD(t, fd) != "marker" {
				t.Error("bad content")
			}
			unix.Close(fd)
			_, fd, _, err = r.Create("new", unix.O_RDWR|unix.O_EXCL, 0o640, 5, 6)
			if err != nil {
				t.Fatal(err)
			}
			unix.Close(fd)
			if hs := lstat(t, rootDir+"/new"); hs.Mode != unix.S_IFREG|0o640 || hs.Uid != 5 {
				t.Errorf("created file on host: %+v", hs)
			}
			for _, name := range []string{"passwd", "out"} {
				l, _ := walk1(t, r, name)
				_, err := l.Open(unix.O_RDONLY)
				wantErr(t, name, err, unix.ELOOP)
			}
			_, _, err = mc.c.Attach("..")
			wantErr(t, "attach ..", err, unix.EINVAL)

			// The process itself sees only the root.
			proot := fmt.Sprintf("/proc/%d/root", mc.pid)
			if _, err := os.Lstat(proot + "/marker"); err != nil {
				t.Errorf("gofer root lacks marker: %v", err)
			}
			for _, p := range []string{"/etc/passwd", "/proc/self", "/outside", "/usr"} {
				if _, err := os.Lstat(proot + p); err == nil {
					t.Errorf("gofer can see host %s", p)
				}
			}
			myNS, _ := os.Readlink("/proc/self/ns/mnt")
			itsNS, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", mc.pid))
			if myNS == itsNS || itsNS == "" {
				t.Errorf("gofer mount namespace %q, ours %q", itsNS, myNS)
			}
			mi, _ := os.ReadFile("/proc/self/mountinfo")
			if strings.Contains(string(mi), " "+rootDir+" ") {
				t.Errorf("the gofer's bind mount leaked into our namespace")
			}
			status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", mc.pid))
			if !strings.Contains(string(status), "NoNewPrivs:\t1") {
				t.Errorf("NoNewPrivs not set")
			}
			if cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", mc.pid)); cwd != "/" {
				t.Errorf("gofer cwd %q", cwd)
			}
		})
	}
}

func TestMainReadOnly(t *testing.T) {
	needRoot(t)
	rootDir := t.TempDir()
	writeFile(t, rootDir+"/f", "f")
	mc := startMain(t, rootDir, true, true)
	r := root(t, mc.c)
	_, _, _, err := r.Create("new", unix.O_RDWR, 0o644, 0, 0)
	wantErr(t, "create", err, unix.EROFS)
	f, _ := walk1(t, r, "f")
	_, err = f.Open(unix.O_RDWR)
	wantErr(t, "open rw", err, unix.EROFS)
	fd, err := f.Open(unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	// The mount itself is read-only in the gofer's namespace.
	mi, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", mc.pid))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, line := range strings.Split(string(mi), "\n") {
		fs := strings.Fields(line)
		if len(fs) > 5 && fs[4] == "/" {
			found = true
			if !strings.HasPrefix(fs[5], "ro") {
				t.Errorf("root mount not read-only: %s", line)
			}
		}
	}
	if !found {
		t.Errorf("no root mount in gofer mountinfo:\n%s", mi)
	}
}

// TestMainParentDeath kills the waiting parent of a re-executed gofer and
// expects the gofer to die with it (PR_SET_PDEATHSIG).
func TestMainParentDeath(t *testing.T) {
	needRoot(t)
	mc := startMain(t, t.TempDir(), false, false)
	pid := mc.pid
	mc.cmd.Process.Kill()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return // gone
		}
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && len(b) > i+2 && b[i+2] == 'Z' {
			return // dead, not yet reaped
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("gofer %d survived its parent", pid)
}

func TestMainUsage(t *testing.T) {
	if got := gofer.Main([]string{"--root", "/nonexistent"}); got != 2 {
		t.Errorf("missing --sock-fd: %d", got)
	}
	if got := gofer.Main([]string{"--bogus"}); got != 2 {
		t.Errorf("bad flag: %d", got)
	}
	// Not the tail of os.Args: cannot re-execute.
	if got := gofer.Main([]string{"--root", "/nonexistent", "--sock-fd", "3"}); got != 2 {
		t.Errorf("args not tail of os.Args: %d", got)
	}
}
