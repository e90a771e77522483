package fuzz

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRegressions runs each testdata/regress/NAME.c in the sandbox and
// compares its stdout with NAME.want, which is what the program prints on
// Linux. Each program is a reduced sentry bug the fuzzer found.
func TestRegressions(t *testing.T) {
	setup(t)
	srcs, err := filepath.Glob("testdata/regress/*.c")
	if err != nil || len(srcs) == 0 {
		t.Fatalf("no regression programs: %v", err)
	}
	for _, src := range srcs {
		name := strings.TrimSuffix(filepath.Base(src), ".c")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			want, err := os.ReadFile(strings.TrimSuffix(src, ".c") + ".want")
			if err != nil {
				t.Fatal(err)
			}
			abs, _ := filepath.Abs(src)
			s := newSandboxDir(t, abs)
			r := runSandbox(t, s, 60*time.Second, "", "/"+name)
			checkNoPanic(t, r)
			if r.timedOut || r.err != nil || string(r.stdout) != string(want) {
				t.Errorf("want exit 0 and stdout\n%s\ngot %v", want, r)
			}
			s.checkOutside(t)
		})
	}
	t.Cleanup(func() { checkLeftovers(t) })
}
