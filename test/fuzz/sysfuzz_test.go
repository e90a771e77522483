package fuzz

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ciSeeds are the seed bases CI runs: fixed, so a failure reproduces.
var ciSeeds = []int64{1, 5000, 777777}

// fuzzConfig is what the RUNSC_FUZZ_* variables select.
type fuzzConfig struct {
	seeds                 []int64
	children, calls, jobs int
	runTimeout            time.Duration
}

func loadConfig(t *testing.T) fuzzConfig {
	t.Helper()
	c := fuzzConfig{seeds: ciSeeds, children: 40, calls: 2000, jobs: 2, runTimeout: 3 * time.Minute}
	atoi := func(name string, v *int) {
		if s := os.Getenv(name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				t.Fatalf("%s=%q: want a positive integer", name, s)
			}
			*v = n
		}
	}
	atoi("RUNSC_FUZZ_CHILDREN", &c.children)
	atoi("RUNSC_FUZZ_CALLS", &c.calls)
	atoi("RUNSC_FUZZ_JOBS", &c.jobs)
	if s := os.Getenv("RUNSC_FUZZ_RUN_TIMEOUT"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("RUNSC_FUZZ_RUN_TIMEOUT: %v", err)
		}
		c.runTimeout = d
	}
	if s := os.Getenv("RUNSC_FUZZ_SEEDS"); s != "" {
		c.seeds = nil
		if n, ok := strings.CutPrefix(s, "random:"); ok {
			k, err := strconv.Atoi(n)
			if err != nil || k < 1 {
				t.Fatalf("RUNSC_FUZZ_SEEDS=%q: want random:N", s)
			}
			for i := 0; i < k; i++ {
				c.seeds = append(c.seeds, rand.Int63n(1<<40))
			}
		} else {
			for _, f := range strings.Split(s, ",") {
				v, err := strconv.ParseInt(strings.TrimSpace(f), 0, 64)
				if err != nil {
					t.Fatalf("RUNSC_FUZZ_SEEDS=%q: %v", s, err)
				}
				c.seeds = append(c.seeds, v)
			}
		}
	}
	return c
}

// childTimeout is how long the fuzzer lets one child run before SIGKILL.
const childTimeout = 5

var summaryRE = regexp.MustCompile(`(?m)^fuzz: seeds .* status=0$`)

// TestSyscallFuzz runs the random syscall fuzzer in the sandbox, one
// sandbox per seed base (see the package comment for what must hold).
func TestSyscallFuzz(t *testing.T) {
	setup(t)
	c := loadConfig(t)
	src, err := filepath.Abs("testdata/sysfuzz.c")
	if err != nil {
		t.Fatal(err)
	}
	for _, seed := range c.seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			s := newSandboxDir(t, src)
			argv := []string{"/sysfuzz", strconv.FormatInt(seed, 10), strconv.Itoa(c.children),
				strconv.Itoa(c.calls), strconv.Itoa(c.jobs), strconv.Itoa(childTimeout), "1"}
			r := runSandbox(t, s, c.runTimeout, "fuzz: idle", argv...)
			t.Logf("seed base %d: %d children x %d calls in %v; sentry host fds at start/end %v, sandbox host processes %v",
				seed, c.children, c.calls, r.took.Round(time.Millisecond), r.fds, r.stubs)
			ok := checkNoPanic(t, r)
			switch {
			case r.timedOut:
				t.Errorf("the sandbox did not finish within %v", c.runTimeout)
				ok = false
			case r.err != nil || !summaryRE.Match(r.stdout):
				t.Errorf("the fuzzer did not end normally (exit 0 with its summary): %v", r.err)
				ok = false
			}
			bad, timeouts := badLines(r.stdout)
			if bad != "" {
				// A child killed by SIGSYS is what the sentry does to a
				// process whose syscall panicked; one that SIGKILL does
				// not end is stuck in the sentry.
				t.Errorf("the fuzzer reported:\n%s", bad)
				ok = false
			}
			if timeouts != "" {
				// Children can block for good legitimately; SIGKILL
				// ended these. Worth a look when a call repeats.
				t.Logf("children killed after %ds:\n%s", childTimeout, timeouts)
			}
			if len(r.fds) == 2 && r.fds[1] > r.fds[0]+4 {
				t.Errorf("the sentry holds %d host fds after the run, %d before it: a leak", r.fds[1], r.fds[0])
				ok = false
			}
			if len(r.stubs) == 2 && r.stubs[1] > r.stubs[0] {
				t.Errorf("%d host processes under the sentry after the run, %d before it: stubs leak", r.stubs[1], r.stubs[0])
				ok = false
			}
			checkLeftovers(t)
			s.checkOutside(t)
			if !ok || t.Failed() {
				t.Logf("reproduce: cp the rootfs, gcc -static test/fuzz/testdata/sysfuzz.c into it, then\n"+
					"  runsc-cri do --rootfs ROOTFS -- /sysfuzz %d %d %d %d %d\n"+
					"(one child: /sysfuzz SEED 1 %d; add --debug to log every call)\n%s",
					seed, c.children, c.calls, c.jobs, childTimeout, c.calls, r)
			}
		})
	}
}

// badLines picks the fuzzer's complaints from its output: failures, and
// children that were SIGKILLed after the time limit.
func badLines(out []byte) (bad, timeouts string) {
	var b, to strings.Builder
	for _, l := range strings.Split(string(out), "\n") {
		switch {
		case !strings.HasPrefix(l, "fuzz: seed "):
		case strings.Contains(l, ": timed out"):
			to.WriteString(l + "\n")
		default:
			b.WriteString(l + "\n")
		}
	}
	return b.String(), to.String()
}
