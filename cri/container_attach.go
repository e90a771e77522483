package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Attach implements CRI Attach: it prepares a streaming attach to a container.
// Not built yet: it answers Unimplemented.
func (s *Server) Attach(ctx context.Context, r *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	return s.attach(ctx, r)
}

func (s *Server) attach(context.Context, *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	return nil, fmt.Errorf("Attach: the streaming server is not built yet: %w", ErrUnimplemented)
}
