package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// UpdatePodSandboxResources implements CRI UpdatePodSandboxResources: it changes a pod's resources.
// Not built yet: it answers Unimplemented.
func (s *Server) UpdatePodSandboxResources(ctx context.Context, r *runtimeapi.UpdatePodSandboxResourcesRequest) (*runtimeapi.UpdatePodSandboxResourcesResponse, error) {
	return s.updatePodSandboxResources(ctx, r)
}

func (s *Server) updatePodSandboxResources(context.Context, *runtimeapi.UpdatePodSandboxResourcesRequest) (*runtimeapi.UpdatePodSandboxResourcesResponse, error) {
	return nil, fmt.Errorf("UpdatePodSandboxResources: pod resource updates are not supported: %w", ErrUnimplemented)
}
