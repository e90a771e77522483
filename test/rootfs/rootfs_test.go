package rootfs

import (
	"os"
	"path/filepath"
	"testing"
)

func TestBuild(t *testing.T) {
	bb, err := FindBusybox()
	if err != nil {
		t.Skip(err)
	}
	dst := filepath.Join(t.TempDir(), "rootfs")
	for i := 0; i < 2; i++ { // twice: Build replaces what is there
		if err := Build(dst, bb); err != nil {
			t.Fatal(err)
		}
	}
	for link, want := range map[string]string{"bin/sh": "busybox", "usr/bin/awk": "../../bin/busybox", "bin/awk": "busybox"} {
		if got, err := os.Readlink(filepath.Join(dst, link)); err != nil || got != want {
			t.Errorf("%s -> %q (%v), want %q", link, got, err, want)
		}
	}
	if data, err := os.ReadFile(filepath.Join(dst, "etc/passwd")); err != nil || string(data) != Passwd {
		t.Errorf("etc/passwd = %q, %v", data, err)
	}
	st, err := os.Stat(filepath.Join(dst, "tmp"))
	if err != nil || st.Mode()&os.ModeSticky == 0 || st.Mode().Perm() != 0o777 {
		t.Errorf("tmp mode %v, %v; want sticky 0777", st.Mode(), err)
	}
	for _, d := range []string{"proc", "dev", "sys", "root"} {
		if st, err := os.Stat(filepath.Join(dst, d)); err != nil || !st.IsDir() {
			t.Errorf("%s: not a directory (%v)", d, err)
		}
	}
	if matches, _ := filepath.Glob(dst + ".*"); len(matches) != 0 {
		t.Errorf("leftovers next to the rootfs: %v", matches)
	}
}
