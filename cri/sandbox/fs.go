package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// BindInRoot bind-mounts the host path src (recursively; created as a
// directory if it does not exist, as containerd does) on dest inside the
// directory tree root, read-only if ro: the bind itself, not the mounts
// below src, which keep their own flags (Kubernetes' plain readOnly). The
// mount point is created if missing, every component resolved inside root
// (RESOLVE_IN_ROOT), so a symlink in the tree cannot place the mount
// outside it. The bind is recursively private. It returns the host path
// of the mount point, for Unmount.
func BindInRoot(root, dest, src string, ro bool) (string, error) {
	return Bind(root, dest, src, BindOptions{ReadOnly: ro})
}

// BindInRootRecursiveRO is BindInRoot with every mount below src
// read-only too (Kubernetes' recursiveReadOnly).
func BindInRootRecursiveRO(root, dest, src string) (string, error) {
	return Bind(root, dest, src, BindOptions{ReadOnly: true, RecursiveReadOnly: true})
}

// BindOptions are the flags of a Bind.
type BindOptions struct {
	// ReadOnly makes the bind itself read-only.
	ReadOnly bool
	// RecursiveReadOnly (with ReadOnly) makes every mount below it
	// read-only too.
	RecursiveReadOnly bool
	// HostToContainer makes the bind and every mount below it a slave of
	// src's peer group (CRI PROPAGATION_HOST_TO_CONTAINER, "rslave"):
	// mounts and unmounts the host makes below src later reach the bind
	// (when src is a shared mount; below a private one there is nothing
	// to receive, as with runc). Otherwise the bind is recursively private
	// (PROPAGATION_PRIVATE): it never changes after it is made.
	HostToContainer bool
}

// Bind is BindInRoot with options. The propagation type is set on the
// detached copy of src before it is attached, so no event reaches the
// bind between the two.
func Bind(root, dest, src string, o BindOptions) (string, error) {
	hostPath, _, err := bind(root, dest, src, o)
	return hostPath, err
}

// Volume is a volume bound inside a rootfs, which the gofer serves on a
// connection of its own (Runner.StartGofer) and the sentry mounts in its
// shared, revalidating mode (control.Mount with a GoferFD): host-side
// changes to it (files, ConfigMap symlink swaps, mounts propagated below
// a HOST_TO_CONTAINER bind) are seen at the next lookup.
//
// A file volume is served as the directory holding its mount point, of
// which the sentry binds only that file (control.Mount Source File): the
// directory is the container's own rootfs (or one of its volumes), so the
// connection reaches nothing the container does not have, and the file is
// bound from a mount of its own, so it is seen even below the sentry's own
// file systems (/dev/termination-log).
type Volume struct {
	// Path is the mount point inside the root (for a file, the
	// directory holding it), absolute with the root as "/", every
	// symlink resolved as the bind resolved it: where the gofer finds it
	// and where the sentry mounts it.
	Path string
	// File is the mount point's name in Path for a file volume, "" for
	// a directory.
	File string
	// ReadOnly serves it read-only: a recursively read-only directory or
	// a read-only file; not a plain read-only directory, below which the
	// host's own mounts keep their flags (the bind itself refuses writes
	// with EROFS).
	ReadOnly bool
}

// Destination is the volume's mount point inside the root.
func (v *Volume) Destination() string {
	if v.File == "" {
		return v.Path
	}
	return path.Join(v.Path, v.File)
}

// BindVolume is Bind, and also returns the bind as a Volume: nil for a
// file whose mount point is in the root directory itself (it stays in the
// rootfs's connection).
func BindVolume(root, dest, src string, o BindOptions) (*Volume, error) {
	hostPath, isDir, err := bind(root, dest, src, o)
	if err != nil {
		return nil, err
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(realRoot, hostPath)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
		return nil, fmt.Errorf("mount point %s: %s is not below the root %s: %w", dest, hostPath, realRoot, unix.EXDEV)
	}
	if isDir {
		return &Volume{Path: "/" + rel, ReadOnly: o.ReadOnly && o.RecursiveReadOnly}, nil
	}
	dir, file := path.Split("/" + rel)
	if dir == "/" {
		return nil, nil
	}
	return &Volume{Path: path.Clean(dir), File: file, ReadOnly: o.ReadOnly}, nil
}

// bind is Bind; it also says whether src is a directory.
func bind(root, dest, src string, o BindOptions) (string, bool, error) {
	st, err := os.Stat(src)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(src, 0o755); err != nil {
			return "", false, fmt.Errorf("mount source %s: %w", src, err)
		}
		st, err = os.Stat(src)
	}
	if err != nil {
		return "", false, fmt.Errorf("mount source %s: %w", src, err)
	}
	target, err := mountPoint(root, dest, st.IsDir())
	if err != nil {
		return "", false, fmt.Errorf("mount point %s: %w", dest, err)
	}
	defer unix.Close(target)
	hostPath, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(target))
	if err != nil {
		return "", false, err
	}
	tree, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return "", false, fmt.Errorf("bind %s: %w", src, err)
	}
	defer unix.Close(tree)
	prop := uint64(unix.MS_PRIVATE)
	if o.HostToContainer {
		prop = unix.MS_SLAVE
	}
	attr := unix.MountAttr{Propagation: prop}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
		return "", false, fmt.Errorf("bind %s: propagation: %w", src, err)
	}
	if o.ReadOnly {
		attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
		flags := uint(unix.AT_EMPTY_PATH)
		if o.RecursiveReadOnly {
			flags |= unix.AT_RECURSIVE
		}
		if err := unix.MountSetattr(tree, "", flags, &attr); err != nil {
			return "", false, fmt.Errorf("bind %s read-only: %w", src, err)
		}
	}
	if err := unix.MoveMount(tree, "", target, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return "", false, fmt.Errorf("bind %s on %s: %w", src, dest, err)
	}
	return hostPath, st.IsDir(), nil
}

// mountPoint opens (creating as needed) dest inside root, a directory or
// an empty file, and returns an O_PATH fd of it.
func mountPoint(root, dest string, dir bool) (int, error) {
	rootFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	defer unix.Close(rootFD)
	clean := strings.TrimPrefix(path.Clean("/"+dest), "/")
	if clean == "" {
		return -1, fmt.Errorf("cannot mount on the root: %w", unix.EINVAL)
	}
	how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	parts := strings.Split(clean, "/")
	cur, err := unix.Dup(rootFD)
	if err != nil {
		return -1, err
	}
	for i, name := range parts {
		last := i == len(parts)-1
		prefix := strings.Join(parts[:i+1], "/")
		fd, err := unix.Openat2(rootFD, prefix, how)
		if errors.Is(err, unix.ENOENT) {
			switch {
			case !last || dir:
				err = unix.Mkdirat(cur, name, 0o755)
			default:
				var f int
				f, err = unix.Openat(cur, name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
				if err == nil {
					unix.Close(f)
				}
			}
			if err != nil && !errors.Is(err, unix.EEXIST) {
				unix.Close(cur)
				return -1, err
			}
			fd, err = unix.Openat2(rootFD, prefix, how)
		}
		unix.Close(cur)
		if err != nil {
			return -1, err
		}
		cur = fd
	}
	return cur, nil
}

// RemountReadOnly makes the mount at target (not its submounts)
// read-only.
func RemountReadOnly(target string) error {
	fd, err := unix.OpenTree(unix.AT_FDCWD, target, unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		return fmt.Errorf("read-only rootfs: %w", err)
	}
	return nil
}

// Unmount detaches the mounts at paths (and everything below them), last
// first; a path that is not mounted (any more) is skipped, and a symlink
// in the last component is not followed.
func Unmount(paths []string) error {
	var first error
	for i := len(paths) - 1; i >= 0; i-- {
		err := unix.Unmount(paths[i], unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW)
		if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) && first == nil {
			first = fmt.Errorf("unmount %s: %w", paths[i], err)
		}
	}
	return first
}

// MakePrivate makes the mount at target (not its submounts) private, so
// that mounting and unmounting below it never propagates to its peers
// (nor to copies of it in mount namespaces cloned later).
func MakePrivate(target string) error {
	if err := unix.Mount("", target, "", unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make %s private: %w", target, err)
	}
	return nil
}

// DetachBelow detaches (umount2 MNT_DETACH) every mount strictly below
// dir in the calling process's mount namespace, deepest first; mounts
// that went away meanwhile are skipped.
func DetachBelow(dir string) error {
	mounts, err := MountsBelow(dir)
	if err != nil {
		return err
	}
	return Unmount(mounts)
}

// MountsBelow lists the mount points strictly below dir in the calling
// process's mount namespace, in /proc/self/mountinfo order (parents
// before their children).
func MountsBelow(dir string) ([]string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	prefix := strings.TrimSuffix(path.Clean(dir), "/") + "/"
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 5 {
			continue
		}
		if mp := unescapeMountinfo(fields[4]); strings.HasPrefix(mp, prefix) {
			out = append(out, mp)
		}
	}
	return out, nil
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space,
// and so on).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				sb.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		sb.WriteByte(s[i])
	}
	return sb.String()
}

// EtcFiles are the per-pod files bind-mounted into each container.
var EtcFiles = []string{"hostname", "hosts", "resolv.conf"}

// WriteEtcFiles writes dir/hostname, dir/hosts and dir/resolv.conf for a
// pod: the hostname, a hosts file naming it, and resolv.conf from the
// pod's DNS config (the host's own resolv.conf when there is none).
func WriteEtcFiles(dir, hostname string, dns *runtimeapi.DNSConfig) error {
	hosts := "127.0.0.1\tlocalhost\n" +
		"::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\n" +
		"fe00::0\tip6-mcastprefix\n" +
		"fe00::1\tip6-allnodes\n" +
		"fe00::2\tip6-allrouters\n" +
		"127.0.1.1\t" + hostname + "\n"
	var resolv []byte
	if dns == nil {
		b, err := os.ReadFile("/etc/resolv.conf")
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		resolv = b
	} else {
		var sb strings.Builder
		if len(dns.Searches) > 0 {
			sb.WriteString("search " + strings.Join(dns.Searches, " ") + "\n")
		}
		for _, s := range dns.Servers {
			sb.WriteString("nameserver " + s + "\n")
		}
		if len(dns.Options) > 0 {
			sb.WriteString("options " + strings.Join(dns.Options, " ") + "\n")
		}
		resolv = []byte(sb.String())
	}
	files := map[string][]byte{
		"hostname":    []byte(hostname + "\n"),
		"hosts":       []byte(hosts),
		"resolv.conf": resolv,
	}
	for name, b := range files {
		if err := os.WriteFile(path.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
