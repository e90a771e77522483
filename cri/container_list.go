package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ListContainers implements CRI ListContainers: it lists containers.
// Not built yet: it answers Unimplemented.
func (s *Server) ListContainers(ctx context.Context, r *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	return s.listContainers(ctx, r)
}

func (s *Server) listContainers(context.Context, *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	return nil, fmt.Errorf("ListContainers: the sandbox integration is not built yet: %w", ErrUnimplemented)
}
