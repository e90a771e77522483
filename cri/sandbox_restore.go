package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// RestorePod implements CRI RestorePod: it restores a pod from a checkpoint.
// Not built yet: it answers Unimplemented.
func (s *Server) RestorePod(ctx context.Context, r *runtimeapi.RestorePodRequest) (*runtimeapi.RestorePodResponse, error) {
	return s.restorePod(ctx, r)
}

func (s *Server) restorePod(context.Context, *runtimeapi.RestorePodRequest) (*runtimeapi.RestorePodResponse, error) {
	return nil, fmt.Errorf("RestorePod: checkpointing is not supported: %w", ErrUnimplemented)
}
