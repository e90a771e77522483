// Command bench compares the sandbox with native Linux, from one run, and
// prints a Markdown table for the README (`make bench`):
//
//	go run ./test/bench [-runsc out/runsc-cri] [-scale 1] [-o FILE]
//
// The per-operation figures come from testdata/bench.c, a static program compiled
// with gcc into a busybox rootfs assembled in a temp dir; it runs N
// iterations and times the loop itself, so sandbox start-up does not
// pollute them. The native side runs the same program through chroot into
// the same rootfs (so fork+exec runs the same static busybox true); the
// sandbox side runs it with `runsc-cri do --rootfs`. The file read goes
// through the gofer in the sandbox. Start-up times `do /bin/true` against
// a native fork+exec of chroot+true. Needs root (chroot) and gcc.
//
// The same run measures the floor of the ptrace design in C (bench.c's
// sysemu modes: a bare PTRACE_SYSEMU stop/resume loop, and one that also
// reads and writes the registers), and checks the speed targets
// against it. The machine is shared and noisy: every figure is the best of
// -runs runs (each run is a whole process), for native, sandbox and floor
// alike.
package main

import (
	"bytes"
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/test/rootfs"
)

//go:embed testdata/bench.c
var benchC []byte

// A case is one row of the table: the mode of bench.c and its iteration
// counts natively and in the sandbox (the sandbox is slower, so it runs
// fewer to stay within seconds).
type benchCase struct {
	name           string
	mode           string
	native, sandbx int
	file           bool
}

// floorCases are native-only runs of bench.c's PTRACE_SYSEMU loops.
var floorCases = []benchCase{
	{name: "bare PTRACE_SYSEMU stop/resume loop (C)", mode: "sysemu", native: 50000},
	{name: "… plus PTRACE_GETREGS + PTRACE_SETREGS per stop (C)", mode: "sysemu-regs", native: 50000},
}

// Targets of the issue (Speed).
const (
	targetSyscallOverFloor = 1.15 // getpid round trip / bare loop
	targetStartup          = 20 * time.Millisecond
	targetForkExec         = 2 * time.Millisecond
)

var cases = []benchCase{
	{name: "getpid round trip", mode: "getpid", native: 2000000, sandbx: 20000},
	{name: "clock_gettime(CLOCK_MONOTONIC) (vDSO)", mode: "clock", native: 5000000, sandbx: 2000000},
	{name: "read 1 byte from /dev/zero", mode: "read1", native: 1000000, sandbx: 20000},
	{name: "fork+exec+wait of static true", mode: "forkexec", native: 500, sandbx: 50},
	{name: "mmap+touch+munmap 64 MiB", mode: "mmap", native: 20, sandbx: 3},
	{name: "read a 256 MiB file", mode: "readfile", native: 5, sandbx: 2, file: true},
}

const bigFile = "/data/big256"

type figure struct {
	ns  float64 // per op
	err error
}

func (f figure) String() string {
	if f.err != nil {
		return "failed"
	}
	return human(f.ns)
}

func human(ns float64) string {
	switch {
	case ns >= 1e9:
		return fmt.Sprintf("%.2f s", ns/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.2f µs", ns/1e3)
	default:
		return fmt.Sprintf("%.0f ns", ns)
	}
}

func main() {
	runsc := flag.String("runsc", "out/runsc-cri", "runsc-cri binary")
	scale := flag.Float64("scale", 1, "multiply every iteration count")
	outFile := flag.String("o", "", "also write the table to this file")
	timeout := flag.Duration("timeout", 3*time.Minute, "limit per sandbox run")
	runs := flag.Int("runs", 3, "runs of every measurement; the best one counts")
	flag.Parse()
	if err := benchMain(*runsc, *scale, *outFile, *timeout, max(1, *runs)); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

func benchMain(runsc string, scale float64, outFile string, timeout time.Duration, runs int) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (the native side runs through chroot)")
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return fmt.Errorf("needs gcc (make test-deps): %v", err)
	}
	if runsc, err = filepath.Abs(runsc); err != nil {
		return err
	}
	if _, err := os.Stat(runsc); err != nil {
		return fmt.Errorf("no runsc-cri binary (make build): %v", err)
	}
	tmp, err := os.MkdirTemp("", "runsc-cri-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	root := filepath.Join(tmp, "rootfs")
	if err := rootfs.Build(root, ""); err != nil {
		return err
	}
	for _, d := range []string{"cbin", "data"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	src := filepath.Join(tmp, "bench.c")
	if err := os.WriteFile(src, benchC, 0o644); err != nil {
		return err
	}
	if out, err := exec.Command(gcc, "-static", "-O2", "-o", filepath.Join(root, "cbin/bench"), src).CombinedOutput(); err != nil {
		return fmt.Errorf("gcc: %v\n%s", err, out)
	}
	// The native side runs in a plain chroot: give it the devices it reads.
	for name, dev := range map[string]int{"dev/null": 3, "dev/zero": 5} {
		if err := syscall.Mknod(filepath.Join(root, name), syscall.S_IFCHR|0o666, int(unix.Mkdev(1, uint32(dev)))); err != nil {
			return fmt.Errorf("mknod %s: %v", name, err)
		}
	}
	if err := makeFile(filepath.Join(root, bigFile), 256<<20); err != nil {
		return err
	}

	fmt.Fprintf(os.Stderr, "bench: rootfs and programs in %s\n", root)
	args := func(c benchCase, n int) []string {
		a := []string{"/cbin/bench", c.mode, strconv.Itoa(max(1, int(float64(n)*scale)))}
		if c.file {
			a = append(a, bigFile)
		}
		return a
	}
	var rows []tableRow
	var problems []string
	for _, c := range cases {
		// A first untimed pass warms the page cache for the file read.
		if c.file {
			runPerOp(append([]string{"chroot", root}, args(c, 1)...), timeout)
		}
		nat := best(runs, func() figure { return runPerOp(append([]string{"chroot", root}, args(c, c.native)...), timeout) })
		sbx := best(runs, func() figure { return runPerOp(sandboxArgv(runsc, root, args(c, c.sandbx)...), timeout) })
		rows = append(rows, tableRow{c.name, nat, sbx})
		problems = appendProblems(problems, c.name, nat, sbx)
		fmt.Fprintf(os.Stderr, "bench: %s: native %v, sandbox %v\n", c.name, nat, sbx)
	}
	// Start-up: whole `do /bin/true` runs against native chroot+true.
	nStart := max(1, int(5*scale))
	nat := best(runs, func() figure { return timeRuns([]string{"chroot", root, "/bin/true"}, nStart*10, timeout) })
	sbx := best(runs, func() figure { return timeRuns(sandboxArgv(runsc, root, "/bin/true"), nStart, timeout) })
	rows = append(rows, tableRow{"start-up: `do /bin/true` (native: chroot+exec)", nat, sbx})
	problems = appendProblems(problems, "start-up", nat, sbx)
	fmt.Fprintf(os.Stderr, "bench: start-up: native %v, sandbox %v\n", nat, sbx)

	var floors []figure
	for _, c := range floorCases {
		f := best(runs, func() figure { return runPerOp(append([]string{"chroot", root}, args(c, c.native)...), timeout) })
		floors = append(floors, f)
		problems = appendProblems(problems, c.name, f)
		fmt.Fprintf(os.Stderr, "bench: %s: %v\n", c.name, f)
	}

	var b bytes.Buffer
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "Measured %s on %s (%s, %d CPUs), ptrace platform, one run of `make bench` (best of %d runs each).\n\n",
		time.Now().UTC().Format("2006-01-02"), host, cpuModel(), runtime.NumCPU(), runs)
	fmt.Fprintf(&b, "| benchmark | native | sandbox | sandbox / native |\n|---|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %v | %v | %s |\n", r.name, r.nat, r.sbx, r.ratio())
	}
	// sandboxOf returns the sandbox figure of the case with mode.
	sandboxOf := func(mode string) figure {
		for i, c := range cases {
			if c.mode == mode {
				return rows[i].sbx
			}
		}
		return figure{err: fmt.Errorf("no %s case", mode)}
	}
	getpid := sandboxOf("getpid")
	fmt.Fprintf(&b, "\nThe floor of the ptrace design, measured natively in the same run (tracer and traced child on one CPU):\n\n")
	fmt.Fprintf(&b, "| loop | per system call | sandbox getpid / loop |\n|---|---:|---:|\n")
	for i, c := range floorCases {
		fmt.Fprintf(&b, "| %s | %v | %s |\n", c.name, floors[i], ratio(getpid, floors[i]))
	}
	fmt.Fprintf(&b, "\nTargets (issue 2, Speed):\n\n")
	fmt.Fprintf(&b, "- getpid round trip within %.0f %% of the bare loop: %s\n", (targetSyscallOverFloor-1)*100,
		verdict(getpid, floors[0], getpid.err == nil && floors[0].err == nil && getpid.ns <= targetSyscallOverFloor*floors[0].ns, ratio(getpid, floors[0])+" of the bare loop"))
	fmt.Fprintf(&b, "- `do /bin/true` under %v: %s\n", targetStartup, verdict(sbx, sbx, sbx.err == nil && sbx.ns < float64(targetStartup), sbx.String()))
	fe := sandboxOf("forkexec")
	fmt.Fprintf(&b, "- fork+exec+wait under %v: %s\n", targetForkExec, verdict(fe, fe, fe.err == nil && fe.ns < float64(targetForkExec), fe.String()))
	os.Stdout.Write(b.Bytes())
	if outFile != "" {
		if err := os.WriteFile(outFile, b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	if len(problems) > 0 {
		fmt.Fprintf(os.Stderr, "\nbench: some measurements failed:\n%s\n", strings.Join(problems, "\n"))
		return fmt.Errorf("%d measurements failed", len(problems))
	}
	return nil
}

// best runs measure n times and keeps the fastest figure (the least
// disturbed by other load); it fails if any run fails.
func best(n int, measure func() figure) figure {
	var b figure
	for i := 0; i < n; i++ {
		f := measure()
		if f.err != nil {
			return f
		}
		if i == 0 || f.ns < b.ns {
			b = f
		}
	}
	return b
}

func ratio(a, b figure) string {
	if a.err != nil || b.err != nil || b.ns == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a.ns/b.ns)
}

func verdict(a, b figure, met bool, detail string) string {
	switch {
	case a.err != nil || b.err != nil:
		return "not measured"
	case met:
		return "met (" + detail + ")"
	default:
		return "not met (" + detail + ")"
	}
}

type tableRow struct {
	name     string
	nat, sbx figure
}

func (r tableRow) ratio() string {
	if r.nat.err != nil || r.sbx.err != nil || r.nat.ns == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f×", r.sbx.ns/r.nat.ns)
}

func appendProblems(p []string, name string, figs ...figure) []string {
	for i, f := range figs {
		if f.err != nil {
			side := [...]string{"native", "sandbox"}[i]
			p = append(p, fmt.Sprintf("  %s (%s): %v", name, side, f.err))
		}
	}
	return p
}

func sandboxArgv(runsc, root string, argv ...string) []string {
	return append([]string{runsc, "do", "--rootfs", root, "--"}, argv...)
}

// runPerOp runs argv and parses bench.c's "ns/op" line.
func runPerOp(argv []string, timeout time.Duration) figure {
	out, err := runCmd(argv, timeout)
	if err != nil {
		return figure{err: err}
	}
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "ns/op "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return figure{err: err}
			}
			return figure{ns: f}
		}
	}
	return figure{err: fmt.Errorf("no ns/op line in %q", out)}
}

// timeRuns runs argv n times and returns the mean wall time.
func timeRuns(argv []string, n int, timeout time.Duration) figure {
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := runCmd(argv, timeout); err != nil {
			return figure{err: err}
		}
	}
	return figure{ns: float64(time.Since(start).Nanoseconds()) / float64(n)}
}

// runCmd runs argv with a clean environment in its own process group,
// killed on timeout.
func runCmd(argv []string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return stdout.String(), fmt.Errorf("%s: timed out after %v", strings.Join(argv, " "), timeout)
	}
	if err != nil {
		return stdout.String(), fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, lastLines(stderr.String(), 5))
	}
	return stdout.String(), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}

// makeFile writes size bytes of a non-zero pattern.
func makeFile(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	chunk := bytes.Repeat([]byte("runsc-cri bench data\n"), 1<<15)
	for written := int64(0); written < size; {
		n := min(int64(len(chunk)), size-written)
		if _, err := f.Write(chunk[:n]); err != nil {
			f.Close()
			return err
		}
		written += n
	}
	return f.Close()
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	data, _ := io.ReadAll(io.LimitReader(f, 1<<16))
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return "unknown CPU"
}
