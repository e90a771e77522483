package network

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Network namespaces are files: a bind mount of /proc/thread-self/ns/net
// of a thread that unshared its network namespace. The mount keeps the
// namespace alive without any process in it, across daemon restarts.
//
// Every function that enters a namespace does it on a goroutine locked to
// its OS thread that never unlocks: Go ends such a thread when the
// goroutine returns, so no other goroutine ever runs in a pod's
// namespace by accident.

// onFreshThread runs fn on a new goroutine locked to its thread, which is
// thrown away afterwards (fn may change the thread's namespaces).
func onFreshThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the thread ends with the goroutine.
		errc <- fn()
	}()
	return <-errc
}

// createNetNS makes a new network namespace and bind-mounts it on path
// (created; it must not exist). On failure nothing is left.
func createNetNS(path string) (retErr error) {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o400)
	if err != nil {
		return fmt.Errorf("network namespace file: %w", err)
	}
	f.Close()
	defer func() {
		if retErr != nil {
			os.Remove(path)
		}
	}()
	return onFreshThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
		}
		if err := unix.Mount("/proc/thread-self/ns/net", path, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("mounting the network namespace on %s: %w", path, err)
		}
		return nil
	})
}

// removeNetNS unmounts and removes a namespace file; a missing one is
// not an error.
func removeNetNS(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmounting %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// isNetNS reports whether path is a mounted network namespace.
func isNetNS(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}

// inNetNS runs fn on a thread inside the namespace mounted at path.
func inNetNS(path string, fn func() error) error {
	ns, err := os.Open(path)
	if err != nil {
		return err
	}
	defer ns.Close()
	if !isNetNS(path) {
		return fmt.Errorf("%s is not a network namespace", path)
	}
	return onFreshThread(func() error {
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("entering %s: %w", path, err)
		}
		return fn()
	})
}

// InNewNetNS runs fn on a thread inside a new, empty network namespace
// that nothing else refers to: a process fn starts is born in it, and the
// namespace goes with the last such process. Loopback-only pods' sentries
// run in one, so no sentry ever shares the host's network namespace.
func InNewNetNS(fn func() error) error {
	return onFreshThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
		}
		return fn()
	})
}
