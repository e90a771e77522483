package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// PodSandboxStatus implements CRI PodSandboxStatus: it reports a pod sandbox's state.
// Not built yet: it answers Unimplemented.
func (s *Server) PodSandboxStatus(ctx context.Context, r *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	return s.podSandboxStatus(ctx, r)
}

func (s *Server) podSandboxStatus(context.Context, *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	return nil, fmt.Errorf("PodSandboxStatus: the sandbox integration is not built yet: %w", ErrUnimplemented)
}
