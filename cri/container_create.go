package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// CreateContainer implements CRI CreateContainer: it creates a container in a pod sandbox.
// Not built yet: it answers Unimplemented.
func (s *Server) CreateContainer(ctx context.Context, r *runtimeapi.CreateContainerRequest) (*runtimeapi.CreateContainerResponse, error) {
	return s.createContainer(ctx, r)
}

func (s *Server) createContainer(context.Context, *runtimeapi.CreateContainerRequest) (*runtimeapi.CreateContainerResponse, error) {
	return nil, fmt.Errorf("CreateContainer: the sandbox integration is not built yet: %w", ErrUnimplemented)
}
