package boot

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/control"
	"github.com/runsc-cri/runsc-cri/test/rootfs"
)

// createReq creates and starts a container from a full request (its root
// gofer and log are added as fds 0 and 1); prep, if not nil, may change
// the rootfs (at root on the host) first.
func (p *testPod) createReq(req control.CreateContainerRequest, prep func(root string)) {
	p.t.Helper()
	root := filepath.Join(p.dir, "rootfs-"+req.ID)
	if err := rootfs.Build(root, ""); err != nil {
		p.t.Fatal(err)
	}
	if prep != nil {
		prep(root)
	}
	g := p.goferFor(root)
	defer g.Close()
	logF, err := os.OpenFile(filepath.Join(p.dir, req.ID+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	defer logF.Close()
	if req.Process.Env == nil {
		req.Process.Env = []string{"PATH=/bin:/sbin:/usr/bin"}
	}
	req.RootGoferFD, req.LogFD = 0, 1
	p.mustCall(control.MethodCreateContainer, req, []*os.File{g, logF}, nil)
	p.mustCall(control.MethodStartContainer, control.ContainerRequest{ID: req.ID}, nil, nil)
}

// execOut runs proc in container id and returns its exit code and its
// stdout and stderr together.
func (p *testPod) execOut(id string, proc control.Process) (int, string) {
	p.t.Helper()
	outR, outW, err := os.Pipe()
	if err != nil {
		p.t.Fatal(err)
	}
	defer outR.Close()
	if proc.Env == nil {
		proc.Env = []string{"PATH=/bin:/sbin:/usr/bin"}
	}
	proc.Stdin, proc.Stdout, proc.Stderr = -1, 0, 0
	var er control.ExecResult
	err = p.call(control.MethodExec, control.ExecRequest{ID: id, Process: proc}, []*os.File{outW}, &er)
	outW.Close()
	if err != nil {
		p.t.Fatalf("exec %q: %v", proc.Args, err)
	}
	out, _ := io.ReadAll(outR)
	var wr control.WaitResult
	p.mustCall(control.MethodWaitPID, control.WaitPIDRequest{ID: id, PID: er.PID}, nil, &wr)
	return wr.ExitCode, string(out)
}

const capSysAdmin = 1 << 21

// TestPodSecurity: capability sets reach the processes (/proc/self/status
// and sethostname's CAP_SYS_ADMIN check), masked paths read empty and do
// not execute, read-only paths refuse writes while the rest stays
// writable, and the pod's sysctls are read back from /proc/sys.
func TestPodSecurity(t *testing.T) {
	p := startPodSpec(t, PodSpec{MemoryLimit: 1 << 30, Hostname: "secpod",
		Sysctls: map[string]string{"kernel.shm_rmid_forced": "1", "fs/mqueue/msg_max": "100"}})
	sleep := func(caps *control.Capabilities) control.Process {
		return control.Process{Args: []string{"sleep", "1000"}, Stdin: -1, Stdout: -1, Stderr: -1, Capabilities: caps}
	}
	admin := &control.Capabilities{Bounding: capSysAdmin, Effective: capSysAdmin, Permitted: capSysAdmin}
	p.createReq(control.CreateContainerRequest{ID: "admin", Process: sleep(admin)}, nil)
	// /bin/tool is a copy of busybox (the applets are symlinks to it:
	// masking one masks busybox itself, as in runc).
	p.createReq(control.CreateContainerRequest{ID: "plain", Process: sleep(nil),
		MaskedPaths:   []string{"/bin/tool", "/root", "/does/not/exist"},
		ReadonlyPaths: []string{"/tmp", "/nope"},
	}, func(root string) {
		b, err := os.ReadFile(filepath.Join(root, "bin/busybox"))
		if err == nil {
			err = os.WriteFile(filepath.Join(root, "bin/tool"), b, 0o755)
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(root, "root/secret"), []byte("x"), 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
	})

	// Capabilities.
	none := &control.Capabilities{}
	code, out := p.execOut("plain", control.Process{Args: []string{"cat", "/proc/self/status"}, Capabilities: none})
	if code != 0 || !regexp.MustCompile(`CapBnd:\s0000000000000000\n`).MatchString(out) ||
		!regexp.MustCompile(`CapEff:\s0000000000000000\n`).MatchString(out) {
		t.Errorf("no capabilities: exit %d, status:\n%s", code, out)
	}
	code, out = p.execOut("admin", control.Process{Args: []string{"cat", "/proc/self/status"}, Capabilities: admin})
	if code != 0 || !strings.Contains(out, "CapEff:\t0000000000200000\n") {
		t.Errorf("CAP_SYS_ADMIN only: exit %d, status:\n%s", code, out)
	}
	if code, out := p.execOut("plain", control.Process{Args: []string{"hostname", "other"}}); code == 0 {
		t.Errorf("sethostname without CAP_SYS_ADMIN succeeded: %q", out)
	}
	if code, out := p.execOut("admin", control.Process{Args: []string{"hostname", "renamed"}, Capabilities: admin}); code != 0 {
		t.Errorf("sethostname with CAP_SYS_ADMIN: exit %d: %q", code, out)
	}
	if _, out := p.execOut("plain", control.Process{Args: []string{"hostname"}}); out != "renamed\n" {
		t.Errorf("hostname after the change: %q (the pod shares one UTS name)", out)
	}

	// Masked paths.
	if code, out := p.execOut("plain", control.Process{Args: []string{"/bin/sh", "-c", "tool"}}); code == 0 || !strings.Contains(out, "Permission denied") {
		t.Errorf("running a masked file: exit %d, %q", code, out)
	}
	if code, out := p.execOut("plain", control.Process{Args: []string{"cat", "/bin/tool"}}); code != 0 || out != "" {
		t.Errorf("reading a masked file: exit %d, %q", code, out)
	}
	if code, out := p.execOut("plain", control.Process{Args: []string{"sh", "-c", "echo /root/*; touch /root/x"}}); code == 0 || !strings.HasPrefix(out, "/root/*\n") {
		t.Errorf("masked directory: exit %d, %q", code, out)
	}

	// Read-only paths.
	if code, out := p.execOut("plain", control.Process{Args: []string{"touch", "/tmp/x"}}); code == 0 || !strings.Contains(out, "Read-only file system") {
		t.Errorf("writing a read-only path: exit %d, %q", code, out)
	}
	if code, out := p.execOut("plain", control.Process{Args: []string{"touch", "/x"}}); code != 0 {
		t.Errorf("writing elsewhere: exit %d, %q", code, out)
	}

	// Sysctls, in both containers.
	for _, id := range []string{"plain", "admin"} {
		_, out := p.execOut(id, control.Process{Args: []string{"cat", "/proc/sys/kernel/shm_rmid_forced", "/proc/sys/fs/mqueue/msg_max", "/proc/sys/net/ipv4/ip_unprivileged_port_start"}})
		if out != "1\n100\n1024\n" {
			t.Errorf("%s: sysctls %q", id, out)
		}
	}
	if code, _ := p.execOut("plain", control.Process{Args: []string{"sh", "-c", "echo 2 > /proc/sys/kernel/shm_rmid_forced"}}); code == 0 {
		t.Error("a sysctl write without CAP_SYS_ADMIN succeeded")
	}
	if code, out := p.execOut("admin", control.Process{Args: []string{"sh", "-c", "echo 0 > /proc/sys/kernel/shm_rmid_forced && cat /proc/sys/kernel/shm_rmid_forced"}, Capabilities: admin}); code != 0 || out != "0\n" {
		t.Errorf("a sysctl write with CAP_SYS_ADMIN: exit %d, %q", code, out)
	}
}

// TestPodSetuid: a set-user-ID root program run by a user has effective
// uid 0, unless the process has no_new_privs (then also /proc shows it).
func TestPodSetuid(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("needs gcc to build a static set-user-ID test program")
	}
	src := filepath.Join(t.TempDir(), "euid.c")
	os.WriteFile(src, []byte("#include <stdio.h>\n#include <unistd.h>\nint main(void){printf(\"euid %d uid %d\\n\",(int)geteuid(),(int)getuid());return 0;}\n"), 0o644)
	bin := filepath.Join(t.TempDir(), "euid")
	if out, err := exec.Command(gcc, "-static", "-O2", "-o", bin, src).CombinedOutput(); err != nil {
		t.Skipf("gcc -static: %v: %s", err, out)
	}
	p := startPod(t)
	p.createReq(control.CreateContainerRequest{ID: "c", Process: control.Process{
		Args: []string{"sleep", "1000"}, UID: 1000, GID: 1000, Stdin: -1, Stdout: -1, Stderr: -1}},
		func(root string) {
			b, err := os.ReadFile(bin)
			if err == nil {
				err = os.WriteFile(filepath.Join(root, "bin/euid"), b, 0o755)
			}
			if err == nil {
				err = unix.Chmod(filepath.Join(root, "bin/euid"), 0o4755) // os.Chmod drops the bit
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	if _, out := p.execOut("c", control.Process{Args: []string{"euid"}, UID: 1000, GID: 1000}); out != "euid 0 uid 1000\n" {
		t.Errorf("set-user-ID root program: %q", out)
	}
	if _, out := p.execOut("c", control.Process{Args: []string{"euid"}, UID: 1000, GID: 1000, NoNewPrivileges: true}); out != "euid 1000 uid 1000\n" {
		t.Errorf("under no_new_privs: %q", out)
	}
	if _, out := p.execOut("c", control.Process{Args: []string{"grep", "NoNewPrivs", "/proc/self/status"}, NoNewPrivileges: true}); out != "NoNewPrivs:\t1\n" {
		t.Errorf("status: %q", out)
	}
}
