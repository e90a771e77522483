// Package config holds the settings of the runsc-cri daemon and of the
// `runsc-cri images` tool.
//
// Settings come from three places, later ones winning: the defaults below,
// a TOML file (default /etc/runsc-cri/config.toml; a missing file is not an
// error, so no file is needed at all), and command-line flags. The TOML keys
// are the snake_case names of the fields:
//
//	socket              = "/run/runsc-cri/runsc-cri.sock"
//	root                = "/var/lib/runsc-cri"
//	registry_config_dir = "/etc/runsc-cri/certs.d"   # containerd's certs.d layout
//	platform            = "ptrace"                   # or "kvm"
//	log_level           = "info"                     # debug, info, warn, error
//	cni_conf_dir        = "/etc/cni/net.d"           # first network config is used
//	cni_bin_dir         = "/usr/lib/cni"             # CNI plugins (":"-separated list)
//
// Unknown keys are an error, so that a typo does not silently fall back to a
// default.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Default values.
const (
	DefaultConfigPath        = "/etc/runsc-cri/config.toml"
	DefaultSocket            = "/run/runsc-cri/runsc-cri.sock"
	DefaultRoot              = "/var/lib/runsc-cri"
	DefaultRegistryConfigDir = "/etc/runsc-cri/certs.d"
	DefaultPlatform          = "ptrace"
	DefaultLogLevel          = "info"
	DefaultCNIConfDir        = "/etc/cni/net.d"
	DefaultCNIBinDir         = "/usr/lib/cni"
)

// Config is the daemon configuration.
type Config struct {
	// Socket is the path of the CRI gRPC unix socket.
	Socket string `toml:"socket"`
	// Root holds all durable state: images, snapshots, pods, containers.
	Root string `toml:"root"`
	// RegistryConfigDir holds one directory per registry host with a
	// hosts.toml (containerd's certs.d layout): mirrors, plain-HTTP
	// servers, CA files and skip_verify.
	RegistryConfigDir string `toml:"registry_config_dir"`
	// Platform is the sentry platform used by the default handler.
	Platform string `toml:"platform"`
	// LogLevel is one of debug, info, warn, error.
	LogLevel string `toml:"log_level"`
	// CNIConfDir holds the CNI network configurations; the first one
	// (in lexical order) gives every pod its network. No configuration:
	// pods have loopback only and NetworkReady is false.
	CNIConfDir string `toml:"cni_conf_dir"`
	// CNIBinDir is where CNI plugins are looked for (a ":"-separated
	// list of directories).
	CNIBinDir string `toml:"cni_bin_dir"`
}

// Default returns the built-in defaults.
func Default() Config {
	return Config{
		Socket:            DefaultSocket,
		Root:              DefaultRoot,
		RegistryConfigDir: DefaultRegistryConfigDir,
		Platform:          DefaultPlatform,
		LogLevel:          DefaultLogLevel,
		CNIConfDir:        DefaultCNIConfDir,
		CNIBinDir:         DefaultCNIBinDir,
	}
}

// Load reads path over the defaults. A missing file yields the defaults.
func Load(path string) (Config, error) {
	c := Default()
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	if err := Parse(b, &c); err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes TOML b over c (fields absent from b keep their values).
func Parse(b []byte, c *Config) error {
	d := toml.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(c); err != nil {
		var sm *toml.StrictMissingError
		if errors.As(err, &sm) {
			return fmt.Errorf("unknown setting: %s", strings.TrimSpace(sm.String()))
		}
		return err
	}
	return c.Validate()
}

// Validate checks the values and makes paths absolute.
func (c *Config) Validate() error {
	for _, p := range []*string{&c.Socket, &c.Root, &c.RegistryConfigDir} {
		if *p == "" {
			return errors.New("socket, root and registry_config_dir must not be empty")
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
	}
	switch c.Platform {
	case "ptrace", "kvm":
	default:
		return fmt.Errorf("platform %q: want ptrace or kvm", c.Platform)
	}
	if _, err := ParseLevel(c.LogLevel); err != nil {
		return err
	}
	// Configs written before the CNI settings existed leave them empty
	// (a Config built in code, not loaded): the defaults apply.
	if c.CNIConfDir == "" {
		c.CNIConfDir = DefaultCNIConfDir
	}
	if c.CNIBinDir == "" {
		c.CNIBinDir = DefaultCNIBinDir
	}
	abs, err := filepath.Abs(c.CNIConfDir)
	if err != nil {
		return err
	}
	c.CNIConfDir = abs
	return nil
}

// CNIBinDirs splits CNIBinDir into directories.
func (c *Config) CNIBinDirs() []string {
	var out []string
	for _, d := range filepath.SplitList(c.CNIBinDir) {
		if d != "" {
			out = append(out, d)
		}
	}
	return out
}

// ParseLevel turns a log_level value into a slog level.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log_level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// Flags binds the daemon flags to fs. After fs.Parse, call the returned
// function: it loads the config file named by --config and applies the
// flags that were set on the command line over it.
func Flags(fs *flag.FlagSet) func() (Config, error) {
	path := fs.String("config", DefaultConfigPath, "TOML config `file` (missing file: defaults)")
	d := Default()
	socket := fs.String("socket", d.Socket, "CRI gRPC unix socket `path`")
	root := fs.String("root", d.Root, "state `dir`: images, snapshots, pods")
	regDir := fs.String("registry-config-dir", d.RegistryConfigDir, "registry hosts.toml `dir` (containerd certs.d layout)")
	platform := fs.String("platform", d.Platform, "sentry platform: ptrace or kvm")
	level := fs.String("log-level", d.LogLevel, "log level: debug, info, warn, error")
	cniConf := fs.String("cni-conf-dir", d.CNIConfDir, "CNI network configuration `dir`")
	cniBin := fs.String("cni-bin-dir", d.CNIBinDir, "CNI plugin `dirs` (:-separated)")
	return func() (Config, error) {
		c, err := Load(*path)
		if err != nil {
			return c, err
		}
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "socket":
				c.Socket = *socket
			case "root":
				c.Root = *root
			case "registry-config-dir":
				c.RegistryConfigDir = *regDir
			case "platform":
				c.Platform = *platform
			case "log-level":
				c.LogLevel = *level
			case "cni-conf-dir":
				c.CNIConfDir = *cniConf
			case "cni-bin-dir":
				c.CNIBinDir = *cniBin
			}
		})
		return c, c.Validate()
	}
}
