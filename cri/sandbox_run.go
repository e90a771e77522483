package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// RunPodSandbox implements CRI RunPodSandbox: it creates and starts a pod sandbox (its sentry and gofer).
// Not built yet: it answers Unimplemented.
func (s *Server) RunPodSandbox(ctx context.Context, r *runtimeapi.RunPodSandboxRequest) (*runtimeapi.RunPodSandboxResponse, error) {
	return s.runPodSandbox(ctx, r)
}

func (s *Server) runPodSandbox(context.Context, *runtimeapi.RunPodSandboxRequest) (*runtimeapi.RunPodSandboxResponse, error) {
	return nil, fmt.Errorf("RunPodSandbox: the sandbox integration is not built yet: %w", ErrUnimplemented)
}
