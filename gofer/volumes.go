package gofer

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Volume connections (--volume FD:MODE:PATH, repeatable).
//
// One gofer process serves a container's rootfs on --sock-fd and, on one
// more socket each, the directory trees of its volumes: PATH is the
// volume's mount point inside the root (a bind the daemon made there before
// starting the gofer, copied into the gofer's mount namespace). Each volume
// connection is confined to its tree: the directory is opened once, right
// after pivot_root and before any connection is served (so before the
// container can change anything in the rootfs), with RESOLVE_BENEATH and
// no symlink allowed on the way; every later lookup on that connection is
// RESOLVE_BENEATH a handle descending from it, so neither ".." nor a
// symlink reaches the rootfs or another volume (mounts below the volume,
// made by the host or nested volumes, are part of its tree). MODE is "ro"
// (EROFS for every change, as --ro for the root) or "rw".
//
// The sentry mounts a volume connection in its shared (revalidating) mode,
// so host-side changes (ConfigMap updates, mounts the host propagates below
// a HOST_TO_CONTAINER volume) are seen at the next lookup, while the rootfs
// connection keeps the cached mode. The process ends when every connection
// has been closed by the sentry.

// volume is one --volume flag.
type volume struct {
	fd   int
	ro   bool
	path string
}

// volumeFlags is the repeatable --volume flag.
type volumeFlags []volume

func (v *volumeFlags) String() string {
	var parts []string
	for _, x := range *v {
		parts = append(parts, x.format())
	}
	return strings.Join(parts, " ")
}

func (x volume) format() string {
	mode := "rw"
	if x.ro {
		mode = "ro"
	}
	return strconv.Itoa(x.fd) + ":" + mode + ":" + x.path
}

// Set parses FD:MODE:PATH.
func (v *volumeFlags) Set(s string) error {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) != 3 {
		return fmt.Errorf("--volume %q: want FD:ro|rw:PATH", s)
	}
	fd, err := strconv.Atoi(parts[0])
	if err != nil || fd < 0 {
		return fmt.Errorf("--volume %q: bad fd", s)
	}
	var ro bool
	switch parts[1] {
	case "ro":
		ro = true
	case "rw":
	default:
		return fmt.Errorf("--volume %q: mode must be ro or rw", s)
	}
	if _, err := volumeRel(parts[2]); err != nil {
		return fmt.Errorf("--volume %q: %w", s, err)
	}
	*v = append(*v, volume{fd: fd, ro: ro, path: parts[2]})
	return nil
}

// volumeRel checks a volume path (absolute, inside the root, not the root
// itself, no "." or ".." component) and returns it relative to the root.
func volumeRel(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("path %q is not absolute: %w", p, unix.EINVAL)
	}
	var parts []string
	for _, c := range strings.Split(p, "/") {
		switch c {
		case "":
		case ".", "..":
			return "", fmt.Errorf("path %q has a %q component: %w", p, c, unix.EINVAL)
		default:
			parts = append(parts, c)
		}
	}
	if len(parts) == 0 {
		return "", fmt.Errorf("path %q is the root: %w", p, unix.EINVAL)
	}
	return strings.Join(parts, "/"), nil
}

// openVolume opens the directory of v below rootFD: RESOLVE_BENEATH, no
// symlink followed anywhere on the way.
func openVolume(rootFD int, v volume) (int, error) {
	rel, err := volumeRel(v.path)
	if err != nil {
		return -1, err
	}
	fd, err := openat2(rootFD, rel, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("volume %s: %w", v.path, err)
	}
	return fd, nil
}

// serveAll serves root's connection and one connection per volume, each
// in its goroutine, until all have ended; it returns the first error.
// Volume directories are opened before anything is served. The gofer's
// root is "/" (after pivot_root); conn and the volumes' sockets are
// closed on return.
func serveAll(conn *net.UnixConn, vols []volume, opts Options) error {
	conns := make([]*net.UnixConn, len(vols))
	closeAll := func() {
		conn.Close()
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}
	for i, v := range vols {
		c, err := socketConn(v.fd)
		if err != nil {
			closeAll()
			return fmt.Errorf("volume %s: %w", v.path, err)
		}
		conns[i] = c
	}
	rootFD, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		closeAll()
		return fmt.Errorf("open root: %w", err)
	}
	defer unix.Close(rootFD)
	fds := make([]int, len(vols))
	for i, v := range vols {
		if fds[i], err = openVolume(rootFD, v); err != nil {
			for _, fd := range fds[:i] {
				unix.Close(fd)
			}
			closeAll()
			return err
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(vols)+1)
	for i, v := range vols {
		o := opts
		o.ReadOnly = opts.ReadOnly || v.ro
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer unix.Close(fds[i])
			if err := ServeFD(conns[i], fds[i], o); err != nil {
				errs[i+1] = fmt.Errorf("volume %s: %w", v.path, err)
			}
		}()
	}
	errs[0] = ServeFD(conn, rootFD, opts)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
