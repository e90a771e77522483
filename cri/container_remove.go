package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// RemoveContainer implements CRI RemoveContainer: it removes a container.
// Not built yet: it answers Unimplemented.
func (s *Server) RemoveContainer(ctx context.Context, r *runtimeapi.RemoveContainerRequest) (*runtimeapi.RemoveContainerResponse, error) {
	return s.removeContainer(ctx, r)
}

func (s *Server) removeContainer(context.Context, *runtimeapi.RemoveContainerRequest) (*runtimeapi.RemoveContainerResponse, error) {
	return nil, fmt.Errorf("RemoveContainer: the sandbox integration is not built yet: %w", ErrUnimplemented)
}
