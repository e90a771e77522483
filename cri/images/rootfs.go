package images

import (
	"context"
	"fmt"

	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
)

// Rootfs is a container's writable (or read-only) root file system,
// prepared from an image's unpacked layers as snapshot Key.
type Rootfs struct {
	Key string
	// Mounts mount the rootfs (an overlay mount, or one bind mount of a
	// directory with the native snapshotter).
	Mounts []mount.Mount
	// Dir is the rootfs directory itself when it exists without mounting
	// (native snapshotter); "" when Mounts must be mounted (overlay).
	Dir string
}

// Mount mounts the rootfs at target (an existing directory).
func (r *Rootfs) Mount(target string) error {
	return mount.All(r.Mounts, target)
}

// Unmount undoes Mount.
func Unmount(target string) error {
	return mount.UnmountAll(target, 0)
}

func leaseID(key string) string { return "rootfs/" + key }

// RootfsOpt changes PrepareRootfs.
type RootfsOpt func(*rootfsOpts)

type rootfsOpts struct {
	readOnly bool
	labels   map[string]string
}

// ReadOnly prepares a read-only view instead of a writable snapshot.
func ReadOnly() RootfsOpt { return func(o *rootfsOpts) { o.readOnly = true } }

// Labels sets snapshot labels (e.g. the owning pod and container).
func Labels(l map[string]string) RootfsOpt { return func(o *rootfsOpts) { o.labels = l } }

// PrepareRootfs prepares a rootfs for a container from imageRef's
// unpacked layers, under snapshot key (unique per container; the
// container ID is a good key). The snapshot is held by a lease named after
// key, so image removal and GC leave it alone until cleanup (or
// RemoveRootfs after a daemon restart) releases it. A taken key is an
// errdefs.ErrAlreadyExists, an unknown image an errdefs.ErrNotFound.
func (s *Store) PrepareRootfs(ctx context.Context, imageRef, key string, opts ...RootfsOpt) (_ *Rootfs, cleanup func(context.Context) error, retErr error) {
	var o rootfsOpts
	for _, f := range opts {
		f(&o)
	}
	if key == "" {
		return nil, nil, fmt.Errorf("rootfs: empty key: %w", errdefs.ErrInvalidArgument)
	}
	img, err := s.Get(ctx, imageRef)
	if err != nil {
		return nil, nil, err
	}
	ctx = s.ctx(ctx)
	l, err := s.lm.Create(ctx, leases.WithID(leaseID(key)))
	if err != nil {
		return nil, nil, fmt.Errorf("rootfs %s: %w", key, err)
	}
	defer func() {
		if retErr != nil {
			s.lm.Delete(context.WithoutCancel(ctx), l)
		}
	}()
	lctx := leases.WithLease(ctx, l.ID)
	var sopts []snapshots.Opt
	if o.labels != nil {
		sopts = append(sopts, snapshots.WithLabels(o.labels))
	}
	parent := img.ChainID.String()
	var mounts []mount.Mount
	if o.readOnly {
		mounts, err = s.sn.View(lctx, key, parent, sopts...)
	} else {
		mounts, err = s.sn.Prepare(lctx, key, parent, sopts...)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("rootfs %s from image %s: %w", key, imageRef, err)
	}
	r := &Rootfs{Key: key, Mounts: mounts}
	if len(mounts) == 1 && mounts[0].Type == "bind" {
		r.Dir = mounts[0].Source
	}
	return r, func(ctx context.Context) error { return s.RemoveRootfs(ctx, key) }, nil
}

// RootfsMounts returns the mounts of an existing rootfs (after a daemon
// restart). An unknown key is an errdefs.ErrNotFound.
func (s *Store) RootfsMounts(ctx context.Context, key string) (*Rootfs, error) {
	mounts, err := s.sn.Mounts(s.ctx(ctx), key)
	if err != nil {
		return nil, fmt.Errorf("rootfs %s: %w", key, err)
	}
	r := &Rootfs{Key: key, Mounts: mounts}
	if len(mounts) == 1 && mounts[0].Type == "bind" {
		r.Dir = mounts[0].Source
	}
	return r, nil
}

// RemoveRootfs deletes the rootfs snapshot key and its lease. Removing a
// removed rootfs succeeds. The caller must have unmounted it.
func (s *Store) RemoveRootfs(ctx context.Context, key string) error {
	ctx = s.ctx(ctx)
	if err := s.sn.Remove(ctx, key); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("rootfs %s: %w", key, err)
	}
	if err := s.lm.Delete(ctx, leases.Lease{ID: leaseID(key)}); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("rootfs %s lease: %w", key, err)
	}
	return nil
}

// RootfsUsage is the disk usage of a rootfs's own writable layer (for
// container stats).
func (s *Store) RootfsUsage(ctx context.Context, key string) (snapshots.Usage, error) {
	u, err := s.sn.Usage(s.ctx(ctx), key)
	if err != nil {
		return u, fmt.Errorf("rootfs %s: %w", key, err)
	}
	return u, nil
}
