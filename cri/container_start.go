package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StartContainer implements CRI StartContainer: it starts a created container.
// Not built yet: it answers Unimplemented.
func (s *Server) StartContainer(ctx context.Context, r *runtimeapi.StartContainerRequest) (*runtimeapi.StartContainerResponse, error) {
	return s.startContainer(ctx, r)
}

func (s *Server) startContainer(context.Context, *runtimeapi.StartContainerRequest) (*runtimeapi.StartContainerResponse, error) {
	return nil, fmt.Errorf("StartContainer: the sandbox integration is not built yet: %w", ErrUnimplemented)
}
