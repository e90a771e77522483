package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ListContainerStats implements CRI ListContainerStats: it reports containers' resource usage.
// Not built yet: it answers Unimplemented.
func (s *Server) ListContainerStats(ctx context.Context, r *runtimeapi.ListContainerStatsRequest) (*runtimeapi.ListContainerStatsResponse, error) {
	return s.listContainerStats(ctx, r)
}

func (s *Server) listContainerStats(context.Context, *runtimeapi.ListContainerStatsRequest) (*runtimeapi.ListContainerStatsResponse, error) {
	return nil, fmt.Errorf("ListContainerStats: the sandbox integration is not built yet: %w", ErrUnimplemented)
}
