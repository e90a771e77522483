package syscalls_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestFileSyscallsMatchLinux runs testdata/fscheck.py (a probe of errno
// semantics: path walk, links, renames, permissions, pipes, locks, FIFOs,
// sendfile...) natively and inside a sandbox and compares the outputs. It
// needs root (for the sandbox and the setuid part), python3, and a built
// runsc-cri binary named by $RUNSC_CRI_BIN (go build -o /tmp/rsc ./cmd/runsc-cri).
func TestFileSyscallsMatchLinux(t *testing.T) {
	bin := os.Getenv("RUNSC_CRI_BIN")
	if bin == "" {
		t.Skip("set RUNSC_CRI_BIN to a runsc-cri binary to run the sandbox comparison")
	}
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("needs python3")
	}
	script, err := filepath.Abs("testdata/fscheck.py")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	native, err := exec.Command(py, script, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("native run: %v\n%s", err, native)
	}
	sandboxed, err := exec.Command(bin, "do", "--", "/bin/sh", "-c",
		"mkdir -p /tmp/fscheck && exec "+py+" "+script+" /tmp/fscheck").CombinedOutput()
	if err != nil {
		t.Fatalf("sandbox run: %v\n%s", err, sandboxed)
	}
	if !bytes.Equal(native, sandboxed) {
		nl, sl := bytes.Split(native, []byte("\n")), bytes.Split(sandboxed, []byte("\n"))
		for i := 0; i < len(nl) || i < len(sl); i++ {
			var n, s []byte
			if i < len(nl) {
				n = nl[i]
			}
			if i < len(sl) {
				s = sl[i]
			}
			if !bytes.Equal(n, s) {
				t.Errorf("line %d: native %q, sandbox %q", i+1, n, s)
			}
		}
	}
}
