package cri

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// RemoveImage implements CRI RemoveImage: by ID, tag or repo@digest, the
// image goes with all its names, and its content and snapshots are
// garbage-collected unless shared. As the spec asks, removing an image
// that is not there succeeds.
func (s *Server) RemoveImage(ctx context.Context, r *runtimeapi.RemoveImageRequest) (*runtimeapi.RemoveImageResponse, error) {
	return s.removeImage(ctx, r)
}

func (s *Server) removeImage(ctx context.Context, r *runtimeapi.RemoveImageRequest) (*runtimeapi.RemoveImageResponse, error) {
	ref := r.GetImage().GetImage()
	if ref == "" {
		return nil, fmt.Errorf("RemoveImage: no image given: %w", ErrInvalidArgument)
	}
	if err := s.images.Remove(ctx, ref); err != nil && !errdefs.IsNotFound(err) {
		return nil, err
	}
	return &runtimeapi.RemoveImageResponse{}, nil
}
