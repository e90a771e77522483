package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// UpdateContainerResources implements CRI UpdateContainerResources: it changes a container's resource limits.
// Not built yet: it answers Unimplemented.
func (s *Server) UpdateContainerResources(ctx context.Context, r *runtimeapi.UpdateContainerResourcesRequest) (*runtimeapi.UpdateContainerResourcesResponse, error) {
	return s.updateContainerResources(ctx, r)
}

func (s *Server) updateContainerResources(context.Context, *runtimeapi.UpdateContainerResourcesRequest) (*runtimeapi.UpdateContainerResourcesResponse, error) {
	return nil, fmt.Errorf("UpdateContainerResources: the sandbox integration is not built yet: %w", ErrUnimplemented)
}
