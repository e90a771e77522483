package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// PodSandboxStats implements CRI PodSandboxStats: it reports one pod's resource usage.
// Not built yet: it answers Unimplemented.
func (s *Server) PodSandboxStats(ctx context.Context, r *runtimeapi.PodSandboxStatsRequest) (*runtimeapi.PodSandboxStatsResponse, error) {
	return s.podSandboxStats(ctx, r)
}

func (s *Server) podSandboxStats(context.Context, *runtimeapi.PodSandboxStatsRequest) (*runtimeapi.PodSandboxStatsResponse, error) {
	return nil, fmt.Errorf("PodSandboxStats: the sandbox integration is not built yet: %w", ErrUnimplemented)
}
