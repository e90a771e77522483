package integration

import (
	"testing"
	"time"
)

// TestProcStatFaults: /proc/self/stat's minflt (field 10) counts the page
// faults of touching fresh memory, as on Linux, and getrusage's ru_minflt
// moves with it.
func TestProcStatFaults(t *testing.T) {
	requireSandbox(t, true)
	o := sandboxOpts{timeout: 60 * time.Second}
	argv := py(`
import mmap, resource
def minflt():
    with open("/proc/self/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[7])
before = minflt()
rbefore = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
m = mmap.mmap(-1, 4 << 20)
for i in range(0, 4 << 20, 4096):
    m[i] = 1
after = minflt()
rafter = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
print("faults counted:", after - before >= 1000, "and not absurd:", after - before < 100000)
print("getrusage counts them:", rafter - rbefore >= 1000, rafter - rbefore < 100000)
`)
	native := runNativeHost(t, o, argv...)
	sandbox := runSandbox(t, o, argv...)
	checkNoCrash(t, sandbox)
	compare(t, native, sandbox)
}
