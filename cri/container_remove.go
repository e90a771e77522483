package cri

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/sandbox"
	"github.com/runsc-cri/runsc-cri/sentry/control"
)

// RemoveContainer implements CRI RemoveContainer: it kills the container
// if it still runs, removes it from its sentry, unmounts and deletes its
// rootfs and forgets it. The log file stays (the kubelet owns it). As the
// CRI spec asks, removing a removed (or unknown) container succeeds.
func (s *Server) RemoveContainer(ctx context.Context, r *runtimeapi.RemoveContainerRequest) (*runtimeapi.RemoveContainerResponse, error) {
	if err := s.removeContainer(ctx, r.GetContainerId()); err != nil {
		return nil, err
	}
	return &runtimeapi.RemoveContainerResponse{}, nil
}

func (s *Server) removeContainer(ctx context.Context, ref string) error {
	id, err := s.store.ResolveContainer(ref)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.removeContainerLocked(ctx, id)
}

// removeContainerLocked takes the container's lock (the caller may hold
// its pod's).
func (s *Server) removeContainerLocked(ctx context.Context, id string) error {
	unlock := s.ctrLocks.lock(id)
	defer unlock()
	c, err := s.store.Container(id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := s.stopContainerLocked(ctx, id, 0); err != nil {
		return err
	}
	if p, err := s.store.Pod(c.PodID); err == nil && p.SentryPID != 0 {
		err := control.Call(p.ControlSocket, control.MethodRemoveContainer, control.ContainerRequest{ID: id}, nil, nil, 10*time.Second)
		if err != nil && !errors.Is(err, unix.ENOENT) && sandbox.Alive(p.ControlSocket) == nil {
			return fmt.Errorf("RemoveContainer %s: %w", id, sentryErr(err))
		}
	}
	// The gofer ends when the sentry drops its connection; make sure, and
	// let it go (its mount namespace, which alone holds the container's
	// volume binds, goes with it) before the snapshot is removed.
	sandbox.KillGofer(c.GoferPID, c.RootfsDir)
	wctx, cancel := context.WithTimeout(bg(ctx), 2*time.Second)
	sandbox.WaitExit(wctx, c.GoferPID, c.RootfsDir)
	cancel()
	// Mounts below the rootfs (recorded by older daemons) go with it:
	// their paths are not resolved on the host again, where the container
	// may have replaced a directory on the way by a symlink.
	var mounts []string
	for _, m := range c.HostMounts {
		if !strings.HasPrefix(m, c.RootfsDir+"/") {
			mounts = append(mounts, m)
		}
	}
	if err := sandbox.Unmount(mounts); err != nil {
		return fmt.Errorf("RemoveContainer %s: %w", id, err)
	}
	if err := s.images.RemoveRootfs(bg(ctx), c.RootfsKey); err != nil {
		return fmt.Errorf("RemoveContainer %s: %w", id, err)
	}
	if err := s.removeImageVolumes(bg(ctx), &c); err != nil {
		return fmt.Errorf("RemoveContainer %s: %w", id, err)
	}
	if err := removeContainerDir(s.containerDir(id)); err != nil {
		return fmt.Errorf("RemoveContainer %s: %w", id, err)
	}
	if err := s.store.DeleteContainer(id); err != nil {
		return err
	}
	s.emit(runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT, &c)
	return nil
}

// removeContainerDir removes a container's directory without recursing
// into anything (a mount left behind is never walked into: an error).
func removeContainerDir(dir string) error {
	vols, _ := os.ReadDir(filepath.Join(dir, "volumes"))
	names := []string{"rootfs", "gofer.log"}
	for _, v := range vols {
		names = append(names, filepath.Join("volumes", v.Name()))
	}
	names = append(names, "volumes", "")
	for _, name := range names {
		err := os.Remove(filepath.Join(dir, name))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}
