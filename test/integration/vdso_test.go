package integration

// vDSO cases: programs read the clocks through the host vDSO that the
// ptrace platform keeps (AT_SYSINFO_EHDR), without a system call, and get
// the same clocks the sentry's own clock_gettime answers from.

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func init() {
	cSources["vdso"] = `
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>

static long long ns(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

int main(void) {
	const long n = 1000000;
	struct timespec a, b, t;
	long long prev = 0;
	int backwards = 0;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (ns(t) < prev) backwards++;
		prev = ns(t);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("monotonic never went backwards: %d\n", backwards == 0);

	/* The libc call (vDSO) lies between two real system calls. */
	int consistent = 1;
	for (int i = 0; i < 5; i++) {
		struct timespec s1, v, s2;
		syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &s1);
		clock_gettime(CLOCK_MONOTONIC, &v);
		syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &s2);
		if (ns(v) < ns(s1) || ns(v) > ns(s2)) consistent = 0;
		syscall(SYS_clock_gettime, CLOCK_REALTIME, &s1);
		clock_gettime(CLOCK_REALTIME, &v);
		syscall(SYS_clock_gettime, CLOCK_REALTIME, &s2);
		if (ns(v) < ns(s1) || ns(v) > ns(s2)) consistent = 0;
	}
	printf("vDSO and syscall clocks agree: %d\n", consistent);
	struct timespec rt;
	struct timeval tv;
	syscall(SYS_clock_gettime, CLOCK_REALTIME, &rt);
	gettimeofday(&tv, 0);
	time_t now = time(0);
	printf("gettimeofday and time agree: %d\n", tv.tv_sec - rt.tv_sec <= 1 && now - rt.tv_sec <= 1 && tv.tv_sec >= rt.tv_sec);

	unsigned long ehdr = getauxval(AT_SYSINFO_EHDR);
	int mapped = 0, at = 0;
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	while (f && fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		if (strstr(line, "[vdso]") && sscanf(line, "%lx-%lx", &lo, &hi) == 2) {
			mapped = 1;
			at = ehdr == lo && memcmp((void *)ehdr, "\177ELF", 4) == 0;
		}
	}
	printf("[vdso] in /proc/self/maps: %d\nAT_SYSINFO_EHDR is its ELF image: %d\n", mapped, at);
	printf("ns per clock_gettime: %lld\n", (ns(b) - ns(a)) / n);
	return 0;
}
`
}

// nsPerCall finds the figure the vdso program prints.
var nsPerCall = regexp.MustCompile(`ns per clock_gettime: (\d+)`)

// syscallCount counts the system calls named name in a --debug log.
func syscallCount(log []byte, name string) int {
	return strings.Count(string(log), " name="+name+" ")
}

// TestCVDSOClock: a static glibc program calls clock_gettime a million
// times; in the sandbox that takes no system call (the --debug log shows
// only the program's explicit ones), costs well under a microsecond, and
// agrees with the sentry's clock_gettime answers.
func TestCVDSOClock(t *testing.T) {
	prog := cProgram(t, "vdso")
	requireSandbox(t, false)
	o := sandboxOpts{rootfs: env.rootfs}
	native := runNativeRootfs(t, env.rootfs, o, prog)
	o.extra = []string{"--debug"}
	sandbox := runSandbox(t, o, prog)
	checkNoCrash(t, sandbox)
	if n := syscallCount(sandbox.stderr, "clock_gettime"); n > 100 {
		t.Errorf("%d clock_gettime system calls reached the sentry for 1e6 calls (no vDSO?)", n)
	}
	if m := nsPerCall.FindSubmatch(sandbox.stdout); m == nil {
		t.Errorf("no timing in the output: %s", sandbox.describe())
	} else if v, _ := strconv.Atoi(string(m[1])); v > 2000 {
		t.Errorf("clock_gettime takes %d ns in the sandbox (a system call costs ~15 µs; the vDSO ~30 ns)", v)
	} else {
		t.Logf("clock_gettime: %s ns per call in the sandbox", m[1])
	}
	native.stderr, sandbox.stderr = nil, nil
	compare(t, native, sandbox, re(`ns per clock_gettime: \d+`, "ns per clock_gettime: <N>"))
}

// TestGoVDSOClock: a static Go program (the runtime finds the vDSO through
// AT_SYSINFO_EHDR itself) reads the clocks without system calls.
func TestGoVDSOClock(t *testing.T) {
	requireSandbox(t, false)
	gobin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		if gobin, err = exec.LookPath("go"); err != nil {
			t.Skip("go not found")
		}
	}
	dir := t.TempDir()
	src := `package main

import (
	"fmt"
	"os"
	"strings"
	"time"
)

func main() {
	start := time.Now()
	last := start
	ok := true
	for i := 0; i < 200000; i++ {
		now := time.Now()
		ok = ok && !now.Before(last)
		last = now
	}
	maps, _ := os.ReadFile("/proc/self/maps")
	fmt.Println("monotonic:", ok, "year ok:", last.Year() >= 2024, "vdso mapped:", strings.Contains(string(maps), "[vdso]"))
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module vdsoclock\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(env.rootfs, "cbin", "goclock")
	cmd := exec.Command(gobin, "build", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	defer os.Remove(bin)
	o := sandboxOpts{rootfs: env.rootfs}
	native := runNativeRootfs(t, env.rootfs, o, "/cbin/goclock")
	o.extra = []string{"--debug"}
	sandbox := runSandbox(t, o, "/cbin/goclock")
	checkNoCrash(t, sandbox)
	if n := syscallCount(sandbox.stderr, "clock_gettime"); n > 100 {
		t.Errorf("%d clock_gettime system calls for 200000 time.Now (no vDSO?)", n)
	}
	if !strings.Contains(string(sandbox.stdout), "monotonic: true year ok: true vdso mapped: true") {
		t.Errorf("unexpected output: %s", sandbox.describe())
	}
	native.stderr, sandbox.stderr = nil, nil
	compare(t, native, sandbox)
}

// TestPythonVDSOClock: the host's dynamic python3 (glibc through ld.so)
// reads time.time() and time.monotonic() through the vDSO.
func TestPythonVDSOClock(t *testing.T) {
	if _, err := os.Stat(python); err != nil {
		t.Skip(python + " not found")
	}
	requireSandbox(t, true)
	argv := py(`
import time
t0 = time.time(); m0 = time.monotonic()
for _ in range(100000):
    t = time.time(); m = time.monotonic()
print("time sane:", 0 <= t - t0 < 60, t > 1.7e9, "monotonic:", m >= m0)
print("vdso mapped:", "[vdso]" in open("/proc/self/maps").read())
`)
	native := runNativeHost(t, sandboxOpts{}, argv...)
	sandbox := runSandbox(t, sandboxOpts{extra: []string{"--debug"}}, argv...)
	checkNoCrash(t, sandbox)
	if n := syscallCount(sandbox.stderr, "clock_gettime"); n > 1000 {
		t.Errorf("%d clock_gettime system calls for 200000 clock reads (no vDSO?)", n)
	}
	native.stderr, sandbox.stderr = nil, nil
	compare(t, native, sandbox)
}
