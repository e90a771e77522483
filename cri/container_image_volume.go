package cri

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/runsc-cri/runsc-cri/cri/images"
	"github.com/runsc-cri/runsc-cri/cri/sandbox"
	"github.com/runsc-cri/runsc-cri/cri/store"
)

// Image volumes (Kubernetes' ImageVolume): a mount whose source is an
// image. Each one is a read-only view of the image's unpacked layers
// (images.PrepareRootfs with ReadOnly, snapshot key <container>-iv<N>,
// recorded in Container.VolumeKeys), mounted on the host at
// containers/<id>/volumes/<N> and bound from there (or from its
// image_sub_path, resolved inside the image) into the container's rootfs,
// read-only, so the gofer serves it with the rest of the tree; the mount
// at volumes/<N> is detached at once (the bind holds the file system) and
// the bind once the gofer has its copy (Runner.StartGofer). A writable
// image volume is refused (the CRI says the runtime should), as is a
// sub-path that leaves the image or does not exist.

// resolveImageVolumes checks the config's image volumes and fills in each
// one's image_ref with the resolved image ID (ContainerStatus reports it).
func (s *Server) resolveImageVolumes(ctx context.Context, cfg *runtimeapi.ContainerConfig) error {
	for _, m := range cfg.GetMounts() {
		if m.GetImage() == nil {
			continue
		}
		if !m.GetReadonly() {
			return fmt.Errorf("image volume %q: image volumes are read-only (readonly must be set): %w", m.GetContainerPath(), ErrInvalidArgument)
		}
		if m.GetHostPath() != "" {
			return fmt.Errorf("image volume %q: both an image and host_path %q: %w", m.GetContainerPath(), m.GetHostPath(), ErrInvalidArgument)
		}
		img, err := s.images.Get(ctx, m.GetImage().GetImage())
		if err != nil {
			return fmt.Errorf("image volume %q: %w", m.GetContainerPath(), err)
		}
		m.Image.ImageRef = img.ID
	}
	return nil
}

// mountImageVolume prepares image volume m of container c (the n-th) and
// binds it into the rootfs, recording what it made in c (HostMounts for
// the image's mount, VolumeKeys) for the removal, or for the caller's
// rollback.
func (s *Server) mountImageVolume(ctx context.Context, c *store.Container, n int, m *runtimeapi.Mount) error {
	key := c.ID + "-iv" + strconv.Itoa(n)
	rootfs, _, err := s.images.PrepareRootfs(ctx, m.GetImage().GetImageRef(), key, images.ReadOnly(),
		images.Labels(map[string]string{"runsc-cri/pod": c.PodID, "runsc-cri/container": c.ID}))
	if err != nil {
		return fmt.Errorf("image volume %q: %w", m.GetContainerPath(), err)
	}
	c.VolumeKeys = append(c.VolumeKeys, key)
	dir := filepath.Join(s.containerDir(c.ID), "volumes", strconv.Itoa(n))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := rootfs.Mount(dir); err != nil {
		return fmt.Errorf("image volume %q: mounting the image: %w", m.GetContainerPath(), err)
	}
	c.HostMounts = append(c.HostMounts, dir)
	src := dir
	if sub := m.GetImageSubPath(); sub != "" {
		fd, err := unix.Openat2(unix.AT_FDCWD, dir, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC | unix.O_DIRECTORY})
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		subFD, err := unix.Openat2(fd, strings.TrimPrefix(filepath.Clean("/"+sub), "/"), &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
		})
		if errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("image volume %q: sub-path %q does not exist in image %s: %w", m.GetContainerPath(), sub, m.GetImage().GetImage(), ErrInvalidArgument)
		}
		if err != nil {
			return fmt.Errorf("image volume %q: sub-path %q: %w", m.GetContainerPath(), sub, err)
		}
		defer unix.Close(subFD)
		// The magic link names the place resolved inside the image.
		src = "/proc/self/fd/" + strconv.Itoa(subFD)
	}
	// The bind goes with the rootfs mount (see mountVolumes): not recorded.
	if _, err := sandbox.BindInRoot(c.RootfsDir, m.GetContainerPath(), src, true); err != nil {
		return fmt.Errorf("image volume %q: %w", m.GetContainerPath(), err)
	}
	// The bind holds the image's file system now; the mount it was made
	// from is not needed on the host.
	if err := sandbox.Unmount([]string{dir}); err != nil {
		return fmt.Errorf("image volume %q: %w", m.GetContainerPath(), err)
	}
	return nil
}

// removeImageVolumes releases the snapshots of c's image volumes (after
// their mounts are gone).
func (s *Server) removeImageVolumes(ctx context.Context, c *store.Container) error {
	for _, key := range c.VolumeKeys {
		if err := s.images.RemoveRootfs(ctx, key); err != nil {
			return err
		}
	}
	return nil
}
