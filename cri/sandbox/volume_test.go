package sandbox

import (
	"os"
	"path/filepath"
	"testing"
)

// TestBindVolume: a directory bind is returned as a Volume whose path is
// the mount point inside the root with the image's symlinks resolved
// (where the gofer finds it and the sentry mounts it); a file bind as the
// directory holding it and its name, except in the root directory itself;
// only a recursively read-only directory bind, or a read-only file bind,
// is served read-only.
func TestBindVolume(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("bind mounts need root")
	}
	base := t.TempDir()
	// The root through a symlink, as a daemon root may be.
	os.Mkdir(filepath.Join(base, "real"), 0o755)
	os.Symlink("real", filepath.Join(base, "root"))
	root := filepath.Join(base, "root")
	os.MkdirAll(filepath.Join(root, "var", "run"), 0o755)
	os.Symlink("/var/run", filepath.Join(root, "run"))
	os.Symlink("var", filepath.Join(root, "v"))
	src := t.TempDir()
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o644)
	defer func() {
		mounts, _ := MountsBelow(filepath.Join(base, "real"))
		Unmount(mounts)
	}()
	for _, tc := range []struct {
		dest, want string
		o          BindOptions
		ro         bool
	}{
		{"/data", "/data", BindOptions{}, false},
		{"/run/secrets/token", "/var/run/secrets/token", BindOptions{ReadOnly: true}, false},
		{"/v/lib/x/", "/var/lib/x", BindOptions{ReadOnly: true, RecursiveReadOnly: true}, true},
		{"/../../data2", "/data2", BindOptions{HostToContainer: true}, false},
	} {
		v, err := BindVolume(root, tc.dest, src, tc.o)
		if err != nil {
			t.Errorf("%s: %v", tc.dest, err)
			continue
		}
		if v == nil || v.Path != tc.want || v.ReadOnly != tc.ro {
			t.Errorf("%s: volume %+v, want path %s read-only %v", tc.dest, v, tc.want, tc.ro)
		}
	}
	v, err := BindVolume(root, "/run/secrets/f", file, BindOptions{ReadOnly: true})
	if err != nil || v == nil || *v != (Volume{Path: "/var/run/secrets", File: "f", ReadOnly: true}) || v.Destination() != "/var/run/secrets/f" {
		t.Errorf("file bind: %+v, %v", v, err)
	}
	if v, err := BindVolume(root, "/f", file, BindOptions{}); err != nil || v != nil {
		t.Errorf("file bind in the root directory: %+v, %v; want no volume", v, err)
	}
}
