package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ListPodSandboxMetrics implements CRI ListPodSandboxMetrics: it reports pod metrics.
// Not built yet: it answers Unimplemented.
func (s *Server) ListPodSandboxMetrics(ctx context.Context, r *runtimeapi.ListPodSandboxMetricsRequest) (*runtimeapi.ListPodSandboxMetricsResponse, error) {
	return s.listPodSandboxMetrics(ctx, r)
}

func (s *Server) listPodSandboxMetrics(context.Context, *runtimeapi.ListPodSandboxMetricsRequest) (*runtimeapi.ListPodSandboxMetricsResponse, error) {
	return nil, fmt.Errorf("ListPodSandboxMetrics: pod metrics are not built yet: %w", ErrUnimplemented)
}
