package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// RemovePodSandbox implements CRI RemovePodSandbox: it removes a stopped pod sandbox.
// Not built yet: it answers Unimplemented.
func (s *Server) RemovePodSandbox(ctx context.Context, r *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error) {
	return s.removePodSandbox(ctx, r)
}

func (s *Server) removePodSandbox(context.Context, *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error) {
	return nil, fmt.Errorf("RemovePodSandbox: the sandbox integration is not built yet: %w", ErrUnimplemented)
}
