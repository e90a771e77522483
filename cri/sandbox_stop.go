package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StopPodSandbox implements CRI StopPodSandbox: it stops a pod sandbox and its containers.
// Not built yet: it answers Unimplemented.
func (s *Server) StopPodSandbox(ctx context.Context, r *runtimeapi.StopPodSandboxRequest) (*runtimeapi.StopPodSandboxResponse, error) {
	return s.stopPodSandbox(ctx, r)
}

func (s *Server) stopPodSandbox(context.Context, *runtimeapi.StopPodSandboxRequest) (*runtimeapi.StopPodSandboxResponse, error) {
	return nil, fmt.Errorf("StopPodSandbox: the sandbox integration is not built yet: %w", ErrUnimplemented)
}
