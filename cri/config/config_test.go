package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMissingFileIsDefaults(t *testing.T) {
	c, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if c != Default() {
		t.Fatalf("got %+v, want defaults", c)
	}
}

func TestFileAndFlags(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	os.WriteFile(path, []byte("root = \"/srv/r\"\nlog_level = \"debug\"\nsocket = \"/tmp/a.sock\"\n"), 0o644)
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	get := Flags(fs)
	if err := fs.Parse([]string{"--config", path, "--socket", "/tmp/b.sock", "--platform", "kvm"}); err != nil {
		t.Fatal(err)
	}
	c, err := get()
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Socket: "/tmp/b.sock", Root: "/srv/r", RegistryConfigDir: DefaultRegistryConfigDir, Platform: "kvm", LogLevel: "debug",
		CNIConfDir: DefaultCNIConfDir, CNIBinDir: DefaultCNIBinDir}
	if c != want {
		t.Fatalf("got %+v, want %+v", c, want)
	}
}

func TestBadConfig(t *testing.T) {
	for _, in := range []string{"sockt = \"/x\"", "platform = \"vmx\"", "log_level = \"loud\"", "root = ["} {
		c := Default()
		if err := Parse([]byte(in), &c); err == nil {
			t.Errorf("%q: no error", in)
		} else if strings.Contains(in, "sockt") && !strings.Contains(err.Error(), "sockt") {
			t.Errorf("%q: error %v does not name the key", in, err)
		}
	}
}

// TestCNISettings: cni_conf_dir and cni_bin_dir from the file and from
// flags; a Config built before they existed (empty) gets the defaults.
func TestCNISettings(t *testing.T) {
	c := Default()
	if err := Parse([]byte("cni_conf_dir = \"/x/net.d\"\ncni_bin_dir = \"/opt/cni/bin:/usr/lib/cni\"\n"), &c); err != nil {
		t.Fatal(err)
	}
	if c.CNIConfDir != "/x/net.d" || len(c.CNIBinDirs()) != 2 || c.CNIBinDirs()[0] != "/opt/cni/bin" {
		t.Errorf("got %+v (%q)", c, c.CNIBinDirs())
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	get := Flags(fs)
	if err := fs.Parse([]string{"--config", "/nonexistent", "--cni-conf-dir", "/y", "--cni-bin-dir", "/z"}); err != nil {
		t.Fatal(err)
	}
	if c, err := get(); err != nil || c.CNIConfDir != "/y" || c.CNIBinDir != "/z" {
		t.Errorf("flags: %+v %v", c, err)
	}
	old := Config{Socket: "/s", Root: "/r", RegistryConfigDir: "/d", Platform: "ptrace", LogLevel: "info"}
	if err := old.Validate(); err != nil || old.CNIConfDir != DefaultCNIConfDir || old.CNIBinDir != DefaultCNIBinDir {
		t.Errorf("old config: %+v %v", old, err)
	}
}
