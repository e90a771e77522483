package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Exec implements CRI Exec: it prepares a streaming exec in a container.
// Not built yet: it answers Unimplemented.
func (s *Server) Exec(ctx context.Context, r *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	return s.execStream(ctx, r)
}

func (s *Server) execStream(context.Context, *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	return nil, fmt.Errorf("Exec: the streaming server is not built yet: %w", ErrUnimplemented)
}
