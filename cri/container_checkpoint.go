package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// CheckpointContainer implements CRI CheckpointContainer: it checkpoints a container.
// Not built yet: it answers Unimplemented.
func (s *Server) CheckpointContainer(ctx context.Context, r *runtimeapi.CheckpointContainerRequest) (*runtimeapi.CheckpointContainerResponse, error) {
	return s.checkpointContainer(ctx, r)
}

func (s *Server) checkpointContainer(context.Context, *runtimeapi.CheckpointContainerRequest) (*runtimeapi.CheckpointContainerResponse, error) {
	return nil, fmt.Errorf("CheckpointContainer: checkpointing is not supported: %w", ErrUnimplemented)
}
