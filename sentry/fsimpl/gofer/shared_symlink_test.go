package gofer

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// TestSharedSymlinkSwapReusedInode: the kubelet updates a ConfigMap
// volume by writing a new timestamped directory and renaming a new
// "..data" symlink over the old one. On ext4 the new symlink often gets
// the inode number of one freed by an earlier update, so a "..data" we
// cached (its handle released under a tight budget, so nothing holds the
// old inode) and see again with the same device, inode number and type
// must not be believed: its target is another. Reads after every second
// update must show the current value. The host's own inode numbers are
// recorded to show whether a reuse happened (the test is only meaningful
// on a file system that reuses them; it passes trivially elsewhere).
func TestSharedSymlinkSwapReusedInode(t *testing.T) {
	dir := t.TempDir()
	e, _ := newCountedEnv(t, dir, Options{Shared: true, MaxHandles: 2})
	version := 0
	seen := map[uint64]int{}
	reused := false
	update := func() {
		t.Helper()
		version++
		d := fmt.Sprintf("..ts%02d", version)
		must(t, os.Mkdir(filepath.Join(dir, d), 0o755))
		must(t, os.WriteFile(filepath.Join(dir, d, "key"), []byte(fmt.Sprint("v", version)), 0o644))
		old, _ := os.Readlink(filepath.Join(dir, "..data"))
		must(t, os.Symlink(d, filepath.Join(dir, "..data_tmp")))
		must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
		if old == "" {
			must(t, os.Symlink("..data/key", filepath.Join(dir, "key")))
		} else {
			must(t, os.RemoveAll(filepath.Join(dir, old)))
		}
		fi, err := os.Lstat(filepath.Join(dir, "..data"))
		must(t, err)
		ino := fi.Sys().(*syscall.Stat_t).Ino
		if _, ok := seen[ino]; ok {
			reused = true
		}
		seen[ino] = version
	}
	read := func() {
		t.Helper()
		expire()
		fd, err := e.v.OpenAt(rootCtx, e.pop("key"), vfs.OpenOptions{Flags: unix.O_RDONLY})
		if err != nil {
			t.Fatalf("after update %d: open key: %v", version, err)
		}
		got := readAll(t, fd)
		fd.DecRef(rootCtx)
		if want := fmt.Sprint("v", version); got != want {
			t.Fatalf("after update %d: key reads %q, want %q", version, got, want)
		}
		// Other lookups push the handles of key and ..data out of
		// the budget.
		for i := range 4 {
			name := fmt.Sprintf("other%d", i)
			if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
				must(t, os.WriteFile(filepath.Join(dir, name), nil, 0o644))
			}
			e.mustStat(name)
		}
	}
	update()
	read()
	for range 12 {
		update()
		update()
		read()
	}
	t.Logf("host reused an inode number of ..data: %v", reused)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
