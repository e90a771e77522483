package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ReopenContainerLog implements CRI ReopenContainerLog: it reopens a container's log file.
// Not built yet: it answers Unimplemented.
func (s *Server) ReopenContainerLog(ctx context.Context, r *runtimeapi.ReopenContainerLogRequest) (*runtimeapi.ReopenContainerLogResponse, error) {
	return s.reopenContainerLog(ctx, r)
}

func (s *Server) reopenContainerLog(context.Context, *runtimeapi.ReopenContainerLogRequest) (*runtimeapi.ReopenContainerLogResponse, error) {
	return nil, fmt.Errorf("ReopenContainerLog: the sandbox integration is not built yet: %w", ErrUnimplemented)
}
