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
	want := Config{Socket: "/tmp/b.sock", Root: "/srv/r", RegistryConfigDir: DefaultRegistryConfigDir, Platform: "kvm", LogLevel: "debug"}
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
