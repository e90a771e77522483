package ptrace

import (
	"testing"
	"time"

	"github.com/runsc-cri/runsc-cri/platform"
)

func TestPhases(t *testing.T) {
	e := newEnv(t)
	var d [6]time.Duration
	const N = 200
	locked(func() {
		c, _ := e.p.NewContext()
		defer c.Release()
		for i := 0; i < N; i++ {
			t0 := time.Now()
			as, _ := e.p.NewAddressSpace()
			t1 := time.Now()
			as.MapFile(codeAddr, e.code, pageSize, platform.AnyAccess)
			t2 := time.Now()
			c.(*context).threadFor(as.(*addressSpace))
			t3 := time.Now()
			r := regsAt(offSyscall2)
			mustSwitch(t, c, as, &r, platform.EventSyscall)
			t4 := time.Now()
			c.Forget(as)
			t5 := time.Now()
			as.Release()
			t6 := time.Now()
			d[0] += t1.Sub(t0)
			d[1] += t2.Sub(t1)
			d[2] += t3.Sub(t2)
			d[3] += t4.Sub(t3)
			d[4] += t5.Sub(t4)
			d[5] += t6.Sub(t5)
		}
	})
	for i, n := range []string{"newAS", "mapfile", "thread", "switch", "forget", "release"} {
		t.Logf("%s: %v", n, d[i]/N)
	}
}
