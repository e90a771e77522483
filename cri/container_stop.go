package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StopContainer implements CRI StopContainer: it stops a running container (stop signal, timeout, SIGKILL).
// Not built yet: it answers Unimplemented.
func (s *Server) StopContainer(ctx context.Context, r *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	return s.stopContainer(ctx, r)
}

func (s *Server) stopContainer(context.Context, *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	return nil, fmt.Errorf("StopContainer: the sandbox integration is not built yet: %w", ErrUnimplemented)
}
