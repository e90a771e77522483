// Package rootfs assembles the small busybox root filesystem that the demo,
// the integration tests and the benchmarks run in the sandbox.
//
// The tree is built from Debian's static busybox (package busybox-static):
//
//	/bin/busybox                 the binary, copied
//	/bin/<applet>                a relative symlink to busybox for every applet
//	/sbin, /usr/bin, /usr/sbin   symlinks at the places `busybox --list-full`
//	                             names (so #!/usr/bin/env and friends work)
//	/etc/passwd, /etc/group      root and nobody
//	/tmp (1777), /proc, /dev, /sys, /root (0700)   empty
//
// Symlinks are relative, so the tree can also be inspected from the host
// without any link pointing out of it. Build writes into a fresh sibling
// directory and renames it into place, so a half-built tree is never seen
// and running it twice gives the same result.
package rootfs

import (
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// DefaultBusybox is where Debian's busybox-static installs the binary.
const DefaultBusybox = "/bin/busybox"

// Passwd and Group are the contents of /etc/passwd and /etc/group.
const (
	Passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	Group  = "root:x:0:\nnobody:x:65534:\n"
)

// FindBusybox returns the path of a statically linked busybox, or an error
// that says how to get one.
func FindBusybox() (string, error) {
	for _, p := range []string{DefaultBusybox, "/usr/bin/busybox"} {
		if ok, _ := isStatic(p); ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("no static busybox at %s: install Debian's busybox-static (make deps)", DefaultBusybox)
}

// isStatic reports whether the ELF file at path has no PT_INTERP, i.e. is
// statically linked.
func isStatic(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}

// Applets lists busybox's applets with the directory `busybox --list-full`
// puts each in ("bin", "sbin", "usr/bin" or "usr/sbin").
func Applets(busybox string) (map[string]string, error) {
	out, err := exec.Command(busybox, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list-full: %w", busybox, err)
	}
	applets := make(map[string]string)
	for _, line := range strings.Fields(string(out)) {
		dir, name := filepath.Split(line)
		if name == "" || name == "busybox" {
			continue
		}
		applets[name] = strings.TrimSuffix(dir, "/")
	}
	if len(applets) < 50 {
		return nil, fmt.Errorf("%s --list-full listed only %d applets", busybox, len(applets))
	}
	return applets, nil
}

// Build assembles the rootfs at dst from the busybox binary at busybox
// (FindBusybox if empty), replacing whatever was at dst.
func Build(dst, busybox string) error {
	if busybox == "" {
		var err error
		if busybox, err = FindBusybox(); err != nil {
			return err
		}
	}
	dst = filepath.Clean(dst)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".new-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := populate(tmp, busybox); err != nil {
		return err
	}
	old := dst + ".old"
	os.RemoveAll(old)
	if err := os.Rename(dst, old); err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	return os.RemoveAll(old)
}

func populate(root, busybox string) error {
	if err := os.Chmod(root, 0o755); err != nil {
		return err
	}
	dirs := []struct {
		path string
		mode os.FileMode
	}{
		{"bin", 0o755}, {"sbin", 0o755}, {"usr/bin", 0o755}, {"usr/sbin", 0o755},
		{"etc", 0o755}, {"proc", 0o555}, {"dev", 0o755}, {"sys", 0o555},
		{"root", 0o700}, {"tmp", os.ModeSticky | 0o777}, {"var/tmp", os.ModeSticky | 0o777},
	}
	for _, d := range dirs {
		p := filepath.Join(root, d.path)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
		if err := os.Chmod(p, d.mode); err != nil {
			return err
		}
	}
	if err := copyFile(filepath.Join(root, "bin/busybox"), busybox, 0o755); err != nil {
		return err
	}
	applets, err := Applets(busybox)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(applets))
	for name := range applets {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		// Every applet in /bin, and at its canonical place too.
		for _, dir := range uniq("bin", applets[name]) {
			link := filepath.Join(root, dir, name)
			target, err := filepath.Rel(filepath.Join(root, dir), filepath.Join(root, "bin/busybox"))
			if err != nil {
				return err
			}
			if err := os.Symlink(target, link); err != nil && !os.IsExist(err) {
				return err
			}
		}
	}
	for name, content := range map[string]string{"etc/passwd": Passwd, "etc/group": Group} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func uniq(a, b string) []string {
	if a == b || b == "" {
		return []string{a}
	}
	return []string{a, b}
}

func copyFile(dst, src string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, mode)
}
