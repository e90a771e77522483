package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ListPodSandbox implements CRI ListPodSandbox: it lists pod sandboxes.
// Not built yet: it answers Unimplemented.
func (s *Server) ListPodSandbox(ctx context.Context, r *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	return s.listPodSandbox(ctx, r)
}

func (s *Server) listPodSandbox(context.Context, *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	return nil, fmt.Errorf("ListPodSandbox: the sandbox integration is not built yet: %w", ErrUnimplemented)
}
