package integration

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The escape tests try to reach host files from inside the sandbox over
// the busybox rootfs. The host holds a secret file outside the rootfs; the
// rootfs gets, under /escape, symlinks aimed at it and at the host's
// /etc/shadow, absolute and relative. Whatever a case does, the secret,
// the host's shadow entry and the rootfs's host path must never show.

var escapeEnv struct {
	once       sync.Once
	err        error
	secret     string // the token in the host file
	secretPath string // host path of the secret file
	shadow     string // a line of the host's /etc/shadow ("" if none)
	hostOnly   []string
}

func setupEscape(t *testing.T) {
	t.Helper()
	requireSandbox(t, false)
	escapeEnv.once.Do(func() { escapeEnv.err = buildEscape() })
	if escapeEnv.err != nil {
		t.Fatalf("setting up the escape rootfs: %v", escapeEnv.err)
	}
}

func buildEscape() error {
	buf := make([]byte, 16)
	rand.Read(buf)
	escapeEnv.secret = "runsc-secret-" + hex.EncodeToString(buf)
	dir, err := os.MkdirTemp(env.tmp, "host-secret-")
	if err != nil {
		return err
	}
	escapeEnv.secretPath = filepath.Join(dir, "secret")
	if err := os.WriteFile(escapeEnv.secretPath, []byte(escapeEnv.secret+"\n"), 0o644); err != nil {
		return err
	}
	if data, err := os.ReadFile("/etc/shadow"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "root:") {
				escapeEnv.shadow = line
			}
		}
	}
	up := strings.Repeat("../", 20)
	links := map[string]string{
		"shadow-abs": "/etc/shadow",
		"shadow-rel": up + "etc/shadow",
		"secret-abs": escapeEnv.secretPath,
		"secret-rel": up + strings.TrimPrefix(escapeEnv.secretPath, "/"),
		"hostdir":    up + strings.TrimPrefix(dir, "/"),
		"root-up":    up,
		"loop":       "loop",
	}
	esc := filepath.Join(env.rootfs, "escape")
	if err := os.MkdirAll(esc, 0o755); err != nil {
		return err
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(esc, name)); err != nil && !os.IsExist(err) {
			return err
		}
	}
	// Names at the host's / that the rootfs does not have.
	hostNames, err := os.ReadDir("/")
	if err != nil {
		return err
	}
	for _, e := range hostNames {
		if _, err := os.Lstat(filepath.Join(env.rootfs, e.Name())); os.IsNotExist(err) {
			escapeEnv.hostOnly = append(escapeEnv.hostOnly, e.Name())
		}
	}
	return nil
}

// checkNoHostContent fails t if r shows anything of the host.
func checkNoHostContent(t *testing.T, r result) {
	t.Helper()
	both := append(append([]byte(nil), r.stdout...), r.stderr...)
	if bytes.Contains(both, []byte(escapeEnv.secret)) {
		t.Errorf("ESCAPE: the host's secret file was read from inside the sandbox: %s", r.describe())
	}
	if escapeEnv.shadow != "" && bytes.Contains(both, []byte(escapeEnv.shadow)) {
		t.Errorf("ESCAPE: the host's /etc/shadow was read from inside the sandbox: %s", r.describe())
	}
	if bytes.Contains(r.stdout, []byte(env.tmp)) {
		t.Errorf("the sandbox shows the host path of its rootfs (%s): %s", env.tmp, r.describe())
	}
}

// checkListing fails t if a line "LABEL: names..." of r lists a name only
// the host's / has.
func checkListing(t *testing.T, r result, label string) {
	t.Helper()
	found := false
	for _, line := range strings.Split(string(r.stdout), "\n") {
		rest, ok := strings.CutPrefix(line, label+": ")
		if !ok {
			continue
		}
		found = true
		names := map[string]bool{}
		for _, n := range strings.Fields(rest) {
			names[n] = true
		}
		for _, h := range escapeEnv.hostOnly {
			if names[h] {
				t.Errorf("ESCAPE: %s lists %q, which only the host's / has: %q", label, h, line)
			}
		}
		if !names["bin"] || !names["escape"] {
			t.Errorf("%s does not look like the sandbox's root: %q", label, line)
		}
	}
	if !found {
		t.Errorf("no %q line in the output: %s", label, r.describe())
	}
}

// escapeScript runs script in the sandbox and checks it ran to its end
// (printing "END") without showing host content.
func escapeScript(t *testing.T, script string) result {
	t.Helper()
	setupEscape(t)
	r := runSandbox(t, sandboxOpts{rootfs: env.rootfs}, "/bin/sh", "-c", script+"\necho END\n")
	checkNoCrash(t, r)
	if r.timedOut || r.err != nil {
		t.Fatalf("sandbox run failed: %s", r.describe())
	}
	checkNoHostContent(t, r)
	if !bytes.HasSuffix(r.stdout, []byte("END\n")) {
		t.Errorf("the script did not run to its end: %s", r.describe())
	}
	return r
}

func TestEscape(t *testing.T) {
	t.Run("symlink-absolute", func(t *testing.T) {
		escapeScript(t, `cat /escape/shadow-abs; cat /escape/secret-abs; cat /escape/loop`)
	})
	t.Run("symlink-relative", func(t *testing.T) {
		escapeScript(t, `cat /escape/shadow-rel; cat /escape/secret-rel; cd /escape && cat shadow-rel secret-rel`)
	})
	t.Run("symlink-dir", func(t *testing.T) {
		r := escapeScript(t, `
ls /escape/hostdir/; cat /escape/hostdir/secret
echo "UP: $(ls /escape/root-up/ | tr '\n' ' ')"
cd /escape/root-up && echo "CD: $(ls | tr '\n' ' ')"
cat /escape/root-up/etc/shadow`)
		checkListing(t, r, "UP")
		checkListing(t, r, "CD")
	})
	t.Run("dotdot", func(t *testing.T) {
		up := strings.Repeat("../", 20)
		r := escapeScript(t, fmt.Sprintf(`
cat /%[1]s%[2]s; cat /%[1]setc/shadow
cd / && cd %[1]s && pwd && echo "LS: $(ls | tr '\n' ' ')"
cd /tmp && cat %[1]s%[2]s
cd /escape && cat ../%[1]s%[2]s`, up, strings.TrimPrefix(escapeEnv.secretPath, "/")))
		if !strings.Contains(string(r.stdout), "\n/\n") && !strings.HasPrefix(string(r.stdout), "/\n") {
			t.Errorf("cd above / did not stay at /: %s", r.describe())
		}
		checkListing(t, r, "LS")
	})
	t.Run("proc-self-root", func(t *testing.T) {
		r := escapeScript(t, fmt.Sprintf(`
echo "ROOT: $(readlink /proc/self/root)"
echo "PROCROOT: $(ls /proc/self/root/ | tr '\n' ' ')"
cat /proc/self/root/%[1]s%[2]s
cat /proc/1/root/%[1]s%[2]s
cd /proc/self/root/%[1]s && echo "CD: $(ls | tr '\n' ' ')"
ls /proc/self/cwd/%[1]s >/dev/null
cat /proc/self/mountinfo /proc/mounts >/dev/null; grep -c . /proc/self/mountinfo >/dev/null
cat /proc/self/mountinfo`, strings.Repeat("../", 20), strings.TrimPrefix(escapeEnv.secretPath, "/")))
		if !strings.Contains(string(r.stdout), "ROOT: /\n") {
			t.Errorf("readlink /proc/self/root is not /: %s", r.describe())
		}
		checkListing(t, r, "PROCROOT")
		checkListing(t, r, "CD")
	})
	t.Run("proc-1-is-sandbox-init", func(t *testing.T) {
		hostInit, _ := os.ReadFile("/proc/1/cmdline")
		r := escapeScript(t, `
echo "CMDLINE: $(tr '\0' ' ' < /proc/1/cmdline | head -c 10)"
echo "PIDS: $(ls /proc | grep -cE '^[0-9]+$')"
cat /proc/1/environ | tr '\0' '\n' | grep -c RUNSC_TEST`)
		out := string(r.stdout)
		if !strings.Contains(out, "CMDLINE: /bin/sh -c") {
			t.Errorf("/proc/1/cmdline is not the sandbox's init (/bin/sh -c ...): %s", r.describe())
		}
		if h := strings.ReplaceAll(string(hostInit), "\x00", " "); len(h) > 12 && strings.Contains(out, h[:12]) {
			t.Errorf("ESCAPE: /proc/1 shows the host's init %q: %s", h, r.describe())
		}
		if m := regexp.MustCompile(`PIDS: (\d+)`).FindStringSubmatch(out); m == nil || len(m[1]) > 1 {
			t.Errorf("want fewer than 10 processes in the sandbox's /proc: %s", r.describe())
		}
	})
	t.Run("ptrace-attach-host-pid", func(t *testing.T) {
		prog := cProgram(t, "ptrace_attach")
		setupEscape(t)
		victim := exec.Command("sleep", "120")
		if err := victim.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { victim.Process.Kill(); victim.Wait() }()
		pid := victim.Process.Pid
		r := runSandbox(t, sandboxOpts{rootfs: env.rootfs, timeout: 30 * time.Second}, prog, fmt.Sprint(pid))
		checkNoCrash(t, r)
		status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if m := regexp.MustCompile(`TracerPid:\s+(\d+)`).FindSubmatch(status); m != nil && string(m[1]) != "0" {
			t.Errorf("ESCAPE: host process %d is traced by %s after the sandbox's ptrace", pid, m[1])
		}
		if r.timedOut || r.err != nil {
			t.Fatalf("sandbox run failed: %s", r.describe())
		}
		for _, op := range []string{"attach", "seize"} {
			if !regexp.MustCompile(fmt.Sprintf(`ptrace %s %d: -1 (ESRCH|EPERM)\n`, op, pid)).Match(r.stdout) {
				t.Errorf("want ptrace %s of host pid %d to fail with ESRCH or EPERM: %s", op, pid, r.describe())
			}
		}
	})
	t.Run("privileged-calls", func(t *testing.T) {
		prog := cProgram(t, "privileged")
		setupEscape(t)
		r := runSandbox(t, sandboxOpts{rootfs: env.rootfs, timeout: 30 * time.Second}, prog)
		checkNoCrash(t, r)
		if mi, _ := os.ReadFile("/proc/self/mountinfo"); bytes.Contains(mi, []byte(filepath.Join(env.rootfs, "cbin"))) {
			exec.Command("umount", "-l", filepath.Join(env.rootfs, "cbin")).Run()
			t.Errorf("ESCAPE: the sandbox's mount reached the host's mount table")
		}
		if r.timedOut || r.err != nil {
			t.Fatalf("sandbox run failed: %s", r.describe())
		}
		for _, call := range []string{"mount", "kexec_load", "reboot", "init_module"} {
			if !regexp.MustCompile(call + `: -1 (EPERM|ENOSYS)\n`).Match(r.stdout) {
				t.Errorf("want %s to fail with EPERM or ENOSYS: %s", call, r.describe())
			}
		}
	})
	t.Run("raw-fds", func(t *testing.T) {
		prog := cProgram(t, "rawfds")
		setupEscape(t)
		r := runSandbox(t, sandboxOpts{rootfs: env.rootfs, timeout: 30 * time.Second}, prog)
		checkNoCrash(t, r)
		if want := "open descriptors beyond stdio: 0\n"; string(r.stdout) != want || r.code != 0 {
			t.Errorf("want only %q (every descriptor beyond stdio EBADF), got: %s", want, r.describe())
		}
	})
}
