package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ContainerStatus implements CRI ContainerStatus: it reports a container's state.
// Not built yet: it answers Unimplemented.
func (s *Server) ContainerStatus(ctx context.Context, r *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	return s.containerStatus(ctx, r)
}

func (s *Server) containerStatus(context.Context, *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	return nil, fmt.Errorf("ContainerStatus: the sandbox integration is not built yet: %w", ErrUnimplemented)
}
