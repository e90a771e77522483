package vfs_test

import (
	"math/rand"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/fsimpl/tmpfs"

	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// TestMountRandomOps runs random mount operations on a few paths, from a
// few contexts (one unshared, one chrooted), and checks after each that the
// sentry neither panics nor hangs: /proc/self/mountinfo is generated,
// every path still resolves or fails, and the mount ids stay unique.
func TestMountRandomOps(t *testing.T) {
	for seed := int64(1); seed <= 6; seed++ {
		randomMountOps(t, seed)
	}
}

func randomMountOps(t *testing.T, seed int64) {
	e := newEnv(t)
	e.mkdirs("/a", "/b", "/a/x", "/b/y", "/c")
	e.write("/a/f", "f")
	paths := []string{"/", "/a", "/b", "/a/x", "/b/y", "/c", "/a/x/y", "/b/y/x", ".", ".."}
	ctxs := []*vfs.FSContext{e.fsc, e.fsc.Fork(), e.fsc.Fork()}
	e.must("unshare", ctxs[1].UnshareMountNamespace())
	e.chdir(ctxs[2], "/a")
	rng := rand.New(rand.NewSource(seed))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 300; i++ {
			c := ctxs[rng.Intn(len(ctxs))]
			pick := func() *vfs.PathOperation { return c.PathOp(vfs.VirtualDentry{}, paths[rng.Intn(len(paths))], true) }
			a, b := pick(), pick()
			switch rng.Intn(9) {
			case 0, 1:
				e.v.BindMount(root, a, b, rng.Intn(2) == 0)
			case 2:
				e.v.MountAt(root, a, tmpfs.New(e.v, e.mf, tmpfs.Options{}), "t", vfs.MountFlags{})
			case 3, 4:
				e.v.UmountAt(root, a, []int{0, unix.MNT_DETACH, unix.MNT_EXPIRE}[rng.Intn(3)])
			case 5:
				e.v.MoveMount(root, a, b)
			case 6:
				e.v.PivotRoot(root, c, a, b)
			case 7:
				e.v.SetPropagation(root, a, vfs.Propagation(rng.Intn(4)), rng.Intn(2) == 0)
			case 8:
				e.v.Remount(root, a, vfs.RemountOptions{Flags: vfs.MountFlags{ReadOnly: rng.Intn(2) == 0}, Bind: true})
			}
			a.Release()
			b.Release()
			for _, c := range ctxs {
				r := c.Root()
				e.v.GenerateProcMountInfo(r)
				r.DecRef()
				p := c.PathOp(vfs.VirtualDentry{}, "/a/x/../../b/y/..", true)
				e.v.StatAt(root, p)
				p.Release()
			}
			seen := map[int]bool{}
			for _, m := range e.v.Mounts() {
				if seen[m.ID()] {
					t.Errorf("mount id %d twice", m.ID())
					return
				}
				seen[m.ID()] = true
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("random mount operations hang")
	}
	t.Logf("seed %d: %d mounts at the end", seed, len(e.v.Mounts()))
}
