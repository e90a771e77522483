package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ContainerStats implements CRI ContainerStats: it reports one container's resource usage.
// Not built yet: it answers Unimplemented.
func (s *Server) ContainerStats(ctx context.Context, r *runtimeapi.ContainerStatsRequest) (*runtimeapi.ContainerStatsResponse, error) {
	return s.containerStats(ctx, r)
}

func (s *Server) containerStats(context.Context, *runtimeapi.ContainerStatsRequest) (*runtimeapi.ContainerStatsResponse, error) {
	return nil, fmt.Errorf("ContainerStats: the sandbox integration is not built yet: %w", ErrUnimplemented)
}
