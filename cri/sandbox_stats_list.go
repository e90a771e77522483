package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ListPodSandboxStats implements CRI ListPodSandboxStats: it reports pods' resource usage.
// Not built yet: it answers Unimplemented.
func (s *Server) ListPodSandboxStats(ctx context.Context, r *runtimeapi.ListPodSandboxStatsRequest) (*runtimeapi.ListPodSandboxStatsResponse, error) {
	return s.listPodSandboxStats(ctx, r)
}

func (s *Server) listPodSandboxStats(context.Context, *runtimeapi.ListPodSandboxStatsRequest) (*runtimeapi.ListPodSandboxStatsResponse, error) {
	return nil, fmt.Errorf("ListPodSandboxStats: the sandbox integration is not built yet: %w", ErrUnimplemented)
}
