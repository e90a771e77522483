package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ExecSync implements CRI ExecSync: it runs a command in a container and returns its output.
// Not built yet: it answers Unimplemented.
func (s *Server) ExecSync(ctx context.Context, r *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	return s.execSync(ctx, r)
}

func (s *Server) execSync(context.Context, *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	return nil, fmt.Errorf("ExecSync: the sandbox integration is not built yet: %w", ErrUnimplemented)
}
